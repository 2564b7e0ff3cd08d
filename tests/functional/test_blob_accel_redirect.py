"""Blob GETs sent by a front nginx with X-Accel-Redirect (`blob_accel_redirect`).

The first tests call the app in-process; the others run the nginx site of docs/deploy.md as
written (TLS with a throwaway certificate, the addresses and paths moved into a temporary
folder) in front of a live `cargohold serve --auth token` on the world of the auth tests
(tests/functional/auth/world.py), and pull through it with httpx and skopeo.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cargohold.config import Settings
from tests.backends import free_port
from tests.functional.auth import world as auth_world
from tests.functional.registry import Registry, digest_of, random_blob

NAME = "acme/web"
PREFIX = "/_cargohold_blobs/"
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy.md"
SITE_FIRST_LINE = "# /etc/nginx/sites-available/registry.conf: one node, nginx sends the blob files"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
BLOB_SIZE = 3 * 1024 * 1024 + 17


def _file_key(digest: str) -> str:
    algorithm, encoded = digest.split(":")
    return f"blobs/{algorithm}/{encoded[:2]}/{encoded}"


# --------------------------------------------------------------------------- in-process


@pytest.fixture
async def stored(registry: Registry) -> tuple[str, bytes]:
    """A 5,000-byte blob of acme/web on the test's registry: its digest and bytes."""
    data = random_blob(5000)
    return await registry.push_blob(NAME, data), data


@pytest.mark.settings(storage="filesystem")
async def test_with_the_setting_off_a_blob_get_sends_the_bytes_and_no_redirect(
    registry: Registry, stored: tuple[str, bytes]
) -> None:
    digest, data = stored

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response.content == data
    assert "x-accel-redirect" not in response.headers


@pytest.mark.settings(storage="filesystem", blob_accel_redirect=PREFIX)
async def test_a_blob_get_is_answered_with_the_redirect_to_its_file_and_no_body(
    registry: Registry, stored: tuple[str, bytes]
) -> None:
    digest, data = stored

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-accel-redirect"] == PREFIX + _file_key(digest)
    assert (registry.context.settings.blob_dir / _file_key(digest)).read_bytes() == data
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == "0"


@pytest.mark.settings(storage="filesystem", blob_accel_redirect=PREFIX)
async def test_a_range_get_is_redirected_to_the_whole_file(
    registry: Registry, stored: tuple[str, bytes]
) -> None:
    digest, _ = stored

    response = await registry.client.get(
        f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=10-19"}
    )

    assert response.status_code == 200
    assert response.headers["x-accel-redirect"] == PREFIX + _file_key(digest)
    assert "content-range" not in response.headers


@pytest.mark.settings(storage="filesystem", blob_accel_redirect=PREFIX)
async def test_a_range_past_the_end_is_refused_by_cargohold_itself(
    registry: Registry, stored: tuple[str, bytes]
) -> None:
    digest, _ = stored

    response = await registry.client.get(
        f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=5000-"}
    )

    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */5000"
    assert "x-accel-redirect" not in response.headers


@pytest.mark.settings(storage="filesystem", blob_accel_redirect=PREFIX)
async def test_head_is_answered_without_a_redirect(
    registry: Registry, stored: tuple[str, bytes]
) -> None:
    digest, _ = stored

    response = await registry.raw("HEAD", f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response.headers["content-length"] == "5000"
    assert response.headers["docker-content-digest"] == digest
    assert "x-accel-redirect" not in response.headers


@pytest.mark.settings(storage="filesystem", blob_accel_redirect=PREFIX)
async def test_a_blob_whose_file_is_gone_is_unknown_and_not_redirected(
    registry: Registry, stored: tuple[str, bytes]
) -> None:
    digest, _ = stored
    await registry.remove_stored(_file_key(digest))

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert "x-accel-redirect" not in response.headers


@pytest.mark.settings(storage="memory", blob_accel_redirect=PREFIX)
async def test_a_store_without_files_sends_the_bytes_itself(
    registry: Registry, stored: tuple[str, bytes]
) -> None:
    digest, data = stored

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert response.content == data
    assert "x-accel-redirect" not in response.headers


# --------------------------------------------------------------------------- through nginx


@dataclass(frozen=True)
class Front:
    """nginx (https, self-signed) in front of a live Cargohold (http) on the auth world."""

    url: str
    direct: str
    world: auth_world.World
    workdir: Path

    def client(self, who: str | None = None, scope: str = "read") -> httpx.Client:
        headers = self.world.credential(who, scope).basic if who is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, verify=False, timeout=30.0)


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    assert path is not None, f"{name!r} is not installed (scripts/install-deps installs it)"
    return path


def _documented_site() -> str:
    found = [
        body
        for lang, body in FENCE.findall(DEPLOY.read_text())
        if lang == "nginx" and body.splitlines()[0].strip() == SITE_FIRST_LINE
    ]
    assert len(found) == 1, f"docs/deploy.md: expected one nginx block {SITE_FIRST_LINE!r}"
    return found[0]


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the documented site has no single {old!r}"
    return text.replace(old, new)


def _nginx_config(workdir: Path, port: int, upstream: int, store: Path) -> Path:
    key, cert = workdir / "privkey.pem", workdir / "fullchain.pem"
    subprocess.run(
        [_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=registry.example.com",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    site = _documented_site()
    site = _replace(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    site = _replace(site, "server 127.0.0.1:5000;", f"server 127.0.0.1:{upstream};")
    site = _replace(site, "alias /var/lib/cargohold/storage/;", f"alias {store}/;")
    site = _replace(site, "/etc/ssl/registry.example.com/fullchain.pem", str(cert))
    site = _replace(site, "/etc/ssl/registry.example.com/privkey.pem", str(key))
    (workdir / "registry.conf").write_text(site)
    temp = workdir / "temp"
    temp.mkdir()
    # As root, nginx's workers would run as nobody, who may not read the store (0700);
    # docs/deploy.md runs them as Cargohold's user, which root is here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = workdir / "nginx.conf"
    main.write_text(
        f"{user}daemon off;\n"
        "worker_processes 1;\n"
        f"pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'nginx-error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    access_log off;\n"
        f"    client_body_temp_path {temp}/body;\n"
        f"    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n"
        f"    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        f"    include {workdir / 'registry.conf'};\n"
        "}\n"
    )
    return main


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def _wait(url: str, status: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no attempt"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: exited with {process.returncode}\n{_tail(log)}", pytrace=False)
        try:
            answer = httpx.get(url, verify=False, timeout=2.0)
            if answer.status_code == status:
                return
            last = f"{answer.status_code} {answer.text[:200]!r}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    pytest.fail(f"{url} not ready after {READY_TIMEOUT} s ({last})\n{_tail(log)}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    workdir = tmp_path_factory.mktemp("accel")
    data_dir = workdir / "data"
    settings = Settings(data_dir=data_dir, auth="token", storage="filesystem", database_url=None)
    world = auth_world.build(settings)
    port, nginx_port = free_port(), free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CARGOHOLD_")},
        "CARGOHOLD_BLOB_ACCEL_REDIRECT": PREFIX,
        "CARGOHOLD_WORKERS": "1",
        # The site sends X-Forwarded-Proto: the token realm is then https, as clients use.
        "CARGOHOLD_TRUST_PROXY_HEADERS": "true",
        "CARGOHOLD_TRUSTED_PROXIES": "127.0.0.1",
    }
    server_log = workdir / "server.log"
    with server_log.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "cargohold", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(data_dir), "--auth", "token"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir, env=env,
        )  # fmt: skip
    nginx: subprocess.Popen[bytes] | None = None
    try:
        _wait(f"http://127.0.0.1:{port}/v2/", 401, server, server_log)
        config = _nginx_config(workdir, nginx_port, port, settings.blob_dir)
        nginx_log = workdir / "nginx.log"
        with nginx_log.open("wb") as log:
            nginx = subprocess.Popen(
                [_tool("nginx"), "-p", str(workdir), "-e", str(workdir / "nginx-error.log"),
                 "-c", str(config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        url = f"https://127.0.0.1:{nginx_port}"
        _wait(f"{url}/v2/", 401, nginx, workdir / "nginx-error.log")
        yield Front(url, f"http://127.0.0.1:{port}", world, workdir)
    finally:
        if nginx is not None:
            _stop(nginx)
        _stop(server)


@pytest.fixture(scope="module")
def pushed(front: Front) -> tuple[str, bytes]:
    """A 3 MiB layer of acme/web, pushed through nginx: its digest and bytes."""
    data = random_blob(BLOB_SIZE)
    digest = digest_of(data)
    with front.client("admin", "write") as client:
        response = client.post(
            f"/v2/{NAME}/blobs/uploads/",
            params={"digest": digest},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
    assert response.status_code == 201, response.text
    return digest, data


def test_cargohold_hands_a_blob_get_to_nginx(front: Front, pushed: tuple[str, bytes]) -> None:
    digest, _ = pushed
    headers = front.world.credential("read", "read").basic

    response = httpx.get(f"{front.direct}/v2/{NAME}/blobs/{digest}", headers=headers)

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-accel-redirect"] == PREFIX + _file_key(digest)


def test_a_blob_pulled_through_nginx_is_the_pushed_one_with_the_specs_headers(
    front: Front, pushed: tuple[str, bytes]
) -> None:
    digest, data = pushed

    with front.client("read") as client:
        response = client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == digest.split(":")[1]
    assert response.content == data
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["etag"] == f'"{digest}"'
    assert response.headers.get_list("accept-ranges") == ["bytes"]
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    assert "x-accel-redirect" not in response.headers


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=3000000-", 3000000, BLOB_SIZE - 1),
        ("bytes=-17", BLOB_SIZE - 17, BLOB_SIZE - 1),
        ("bytes=0-99999999999", 0, BLOB_SIZE - 1),
    ],
)
def test_a_range_through_nginx_gets_206_with_its_content_range_and_bytes(
    front: Front, pushed: tuple[str, bytes], header: str, first: int, last: int
) -> None:
    digest, data = pushed

    with front.client("read") as client:
        response = client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": header})

    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.content == data[first : last + 1]
    assert response.headers["docker-content-digest"] == digest


def test_several_ranges_through_nginx_get_the_whole_blob(
    front: Front, pushed: tuple[str, bytes]
) -> None:
    digest, data = pushed

    with front.client("read") as client:
        response = client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=0-1,5-6"})

    assert response.status_code == 200
    assert response.content == data


def test_a_range_past_the_end_through_nginx_is_cargohold_s_416(
    front: Front, pushed: tuple[str, bytes]
) -> None:
    digest, data = pushed

    with front.client("read") as client:
        response = client.get(
            f"/v2/{NAME}/blobs/{digest}", headers={"Range": f"bytes={len(data)}-"}
        )

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"
    assert response.json()["errors"][0]["code"] == "SIZE_INVALID"


def test_head_through_nginx_is_unchanged(front: Front, pushed: tuple[str, bytes]) -> None:
    digest, data = pushed
    headers = front.world.credential("read", "read").basic
    direct = httpx.head(f"{front.direct}/v2/{NAME}/blobs/{digest}", headers=headers)

    with front.client("read") as client:
        response = client.head(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == direct.status_code == 200
    assert response.content == b""
    for name in ("docker-content-digest", "content-length", "content-type", "etag"):
        assert response.headers[name] == direct.headers[name], name
    assert response.headers["content-length"] == str(len(data))
    assert "x-accel-redirect" not in response.headers
    assert "x-accel-redirect" not in direct.headers


@pytest.mark.parametrize("who", [None, "read"])
def test_the_internal_prefix_asked_for_through_nginx_is_404(
    front: Front, pushed: tuple[str, bytes], who: str | None
) -> None:
    digest, data = pushed

    with front.client(who) as client:
        response = client.get(PREFIX + _file_key(digest))

    assert response.status_code == 404
    assert data[:64] not in response.content


def test_an_anonymous_blob_get_through_nginx_is_401_without_the_bytes(
    front: Front, pushed: tuple[str, bytes]
) -> None:
    digest, data = pushed

    with front.client() as client:
        response = client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert data[:64] not in response.content
    assert "x-accel-redirect" not in response.headers


def test_a_blob_get_of_someone_without_access_through_nginx_has_no_bytes(
    front: Front, pushed: tuple[str, bytes]
) -> None:
    digest, data = pushed

    with front.client("other") as client:
        response = client.get(f"/v2/{NAME}/blobs/{digest}")

    assert response.status_code in (403, 404)
    assert response.json()["errors"][0]["code"] in ("DENIED", "NAME_UNKNOWN")
    assert data[:64] not in response.content
    assert "x-accel-redirect" not in response.headers


def test_skopeo_pulls_an_image_through_nginx(front: Front, tmp_path: Path) -> None:
    content = front.world.contents[NAME]
    credential = front.world.credential("read", "read")
    host = front.url.removeprefix("https://")
    out = tmp_path / "image"

    done = subprocess.run(
        [_tool("skopeo"), "--insecure-policy", "copy", "--src-tls-verify=false",
         "--src-creds", f"{credential.username}:{credential.secret}",
         f"docker://{host}/{NAME}:v1", f"dir:{out}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    config, layer = content.blobs
    assert (out / content.config.split(":")[1]).read_bytes() == config
    assert (out / content.layer.split(":")[1]).read_bytes() == layer
