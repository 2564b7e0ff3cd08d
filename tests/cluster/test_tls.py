"""`cargohold serve` over HTTPS by itself (tls_cert, tls_key), checked by clients that trust
only a CA this test makes: skopeo and podman push and pull, curl-like clients verify."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.backends import free_port, stop_process
from tests.interop._support import (
    ContainersConfig,
    OciLayout,
    Skopeo,
    StorageTool,
    make_tar,
    run,
    tool,
)

# what Go's TLS stack says of a certificate whose CA the client does not trust
UNTRUSTED = re.compile(r"certificate signed by unknown authority|failed to verify certificate")


@dataclass(frozen=True)
class TlsServer:
    host: str
    certs: Path  # a containers cert dir: ca.crt
    ca: Path

    def ref(self, name: str, tag: str) -> str:
        return f"{self.host}/{name}:{tag}"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 and localhost signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("cargohold test CA"))
        .issuer_name(_name("cargohold test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = (
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    root = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_pki(root / "pki")
    certs = root / "certs"  # what containers tools read: a directory holding ca.crt
    certs.mkdir()
    (certs / "ca.crt").write_bytes(ca.read_bytes())
    port = free_port()
    env = {**os.environ, "CARGOHOLD_TLS_CERT": str(cert), "CARGOHOLD_TLS_KEY": str(key)}
    command = [
        sys.executable, "-m", "cargohold", "serve", "--auth", "none",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(root / "data"),
    ]  # fmt: skip
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (root / "server.log").read_text()
            try:
                if (
                    httpx.get(
                        f"https://127.0.0.1:{port}/v2/",
                        verify=ssl.create_default_context(cafile=ca),
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (root / "server.log").read_text()
                time.sleep(0.2)
        yield TlsServer(f"127.0.0.1:{port}", certs, ca)
    finally:
        stop_process(process)
        log.close()


@pytest.fixture
def containers(tmp_path: Path) -> ContainersConfig:
    """registries.conf with no insecure registry at all: TLS is verified against our CA."""
    (tmp_path / "policy.json").write_text(
        json.dumps({"default": [{"type": "insecureAcceptAnything"}]})
    )
    (tmp_path / "registries.conf").write_text(
        'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'
    )
    (tmp_path / "containers.conf").write_text(
        '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n'
        f'events_logfile_path = "{tmp_path / "events.log"}"\n'
    )
    (tmp_path / "auth.json").write_text(json.dumps({"auths": {}}))
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ)
    env.update(
        CONTAINERS_REGISTRIES_CONF=str(tmp_path / "registries.conf"),
        CONTAINERS_CONF=str(tmp_path / "containers.conf"),
        REGISTRY_AUTH_FILE=str(tmp_path / "auth.json"),
        TMPDIR=str(tmp_path / "tmp"),
    )
    return ContainersConfig(env=env, policy=tmp_path / "policy.json")


def test_https_verifies_against_the_ca_and_refuses_plain_http(tls_server: TlsServer) -> None:
    ok = httpx.get(
        f"https://{tls_server.host}/v2/", verify=ssl.create_default_context(cafile=tls_server.ca)
    )
    assert ok.status_code == 200
    assert ok.headers["docker-distribution-api-version"] == "registry/2.0"
    with pytest.raises(httpx.ConnectError):  # not our CA: refused
        httpx.get(f"https://{tls_server.host}/v2/")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{tls_server.host}/v2/", timeout=5)


def test_skopeo_pushes_and_pulls_over_https(
    tls_server: TlsServer, containers: ContainersConfig, tmp_path: Path
) -> None:
    skopeo = Skopeo(containers)
    layout = OciLayout(tmp_path / "src")
    image = layout.add_image([{"etc/motd": b"over TLS\n"}])
    layout.tag("v1", image.descriptor)
    remote = f"docker://{tls_server.ref('acme/tls', 'v1')}"

    refused = skopeo("copy", f"oci:{layout.root}:v1", remote, check=False)
    assert refused.returncode != 0 and "certificate" in refused.err  # without our CA

    skopeo("copy", "--dest-cert-dir", str(tls_server.certs), f"oci:{layout.root}:v1", remote)
    skopeo("copy", "--src-cert-dir", str(tls_server.certs), remote, f"oci:{tmp_path / 'dst'}:v1")
    pulled = json.loads((tmp_path / "dst" / "index.json").read_text())["manifests"][0]
    assert pulled["digest"] == image.digest


def test_podman_pushes_and_pulls_over_https(
    tls_server: TlsServer,
    containers: ContainersConfig,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # podman wants a short runroot: directories straight under the session's temp dir
    pusher = StorageTool("podman", tmp_path_factory.mktemp("push"), containers)
    puller = StorageTool("podman", tmp_path_factory.mktemp("pull"), containers)
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(make_tar({"srv/tls.txt": b"podman over TLS\n"}))
    pusher("import", str(rootfs), "localhost/acme/tlssrc:v1")
    remote = tls_server.ref("acme/podman-tls", "v1")

    pusher(
        "push",
        "--cert-dir",
        str(tls_server.certs),
        "localhost/acme/tlssrc:v1",
        f"docker://{remote}",
    )
    puller("pull", "--cert-dir", str(tls_server.certs), remote)
    listed = puller("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert f"{tls_server.host}/acme/podman-tls:v1" in listed.out
    # and the registry really is TLS-only: podman refuses it without the CA, for an image
    # that is there (a fresh storage, so the pull must reach the server)
    stranger = StorageTool("podman", tmp_path_factory.mktemp("nocert"), containers)
    refused = stranger("pull", remote, check=False)
    assert refused.returncode != 0, refused.describe()
    assert UNTRUSTED.search(refused.err), refused.describe()
    assert stranger("images", "--format", "{{.Repository}}:{{.Tag}}").out.strip() == ""


def test_tools_are_installed() -> None:
    for name in ("skopeo", "podman"):
        assert tool(name)
    assert run([tool("skopeo"), "--version"], timeout=30).returncode == 0
