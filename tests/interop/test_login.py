"""Logging in with an API token: docker, podman, skopeo, oras, and the raw HTTP sequence.

Accounts and tokens are made with the CLI while the server runs, exactly as a person would:
`cargohold user create`, `workspace create`, `token create` (which prints only the token).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import oras.client
import pytest

from ._support import (
    Docker,
    OciLayout,
    Proc,
    Skopeo,
    StorageTool,
    TokenServer,
    describe_response,
    get_manifest,
    layout_ref,
    make_tar,
    push_small_image,
)

pytestmark = pytest.mark.interop

EMAIL = "dev@example.com"
PRIVATE = "dev/app"
PUBLIC = "dev/site"


@dataclass(frozen=True)
class Account:
    token: str  # admin:package
    reader: str  # read:package
    expired: str
    revoked: str


def _token_id(token: str) -> str:
    return token.split("_")[1]


@pytest.fixture(scope="module")
def account(token_server: TokenServer) -> Account:
    cli = token_server.cli
    cli("user", "create", EMAIL)
    cli("workspace", "create", "dev", "--owner", EMAIL)
    cli("project", "create", "dev", "APP")
    cli("repo", "create", PRIVATE, "--project", "APP")
    cli("repo", "create", PUBLIC, "--project", "APP", "--public")
    cli("package", "create", PRIVATE, "--repo", "app")
    cli("package", "create", PUBLIC, "--repo", "site")

    def token(*scopes: str, expires: str = "1d") -> str:
        args = [arg for scope in scopes for arg in ("--scope", scope)]
        made = cli("token", "create", EMAIL, "--name", "interop", *args, "--expires", expires)
        return made.out.strip()

    expiring = token("admin:package", expires="1s")
    expired_by = time.time() + 1  # it was made before this moment
    admin = token("admin:package")
    reader = token("read:package")
    revoked = token("admin:package")
    cli("token", "revoke", _token_id(revoked))
    time.sleep(max(0.0, expired_by - time.time()))
    return Account(admin, reader, expiring, revoked)


@pytest.fixture
def docker_user(docker: Docker, tmp_path: Path) -> Docker:
    """The session's docker engine with a client config of this test's own."""
    return docker.with_config(tmp_path / "docker")


def _login(docker: Docker, host: str, secret: str, username: str = EMAIL) -> Proc:
    return docker(
        "login", "--username", username, "--password-stdin", host,
        input=f"{secret}\n".encode(), check=False, timeout=60,
    )  # fmt: skip


def _image(docker: Docker, ref: str, text: str) -> None:
    tar = make_tar({"etc/motd": text.encode()})
    docker("import", "--change", 'CMD ["/bin/true"]', "-", ref, input=tar)


def test_docker_login_push_pull(
    docker_user: Docker, token_server: TokenServer, account: Account
) -> None:
    host = token_server.registry.host
    ref = f"{host}/{PRIVATE}:docker"
    login = _login(docker_user, host, account.token)
    assert login.returncode == 0, login.describe()
    assert "Login Succeeded" in login.out, login.describe()

    _image(docker_user, ref, "pushed by docker\n")
    docker_user("push", ref)
    docker_user("rmi", ref)
    docker_user("pull", ref)

    docker_user("logout", host)
    docker_user("rmi", ref)
    refused = docker_user("pull", ref, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "you may not access it; log in" in refused.err, refused.describe()


REFUSED = "unauthorized: wrong email or token, or the token has expired or been revoked"


@pytest.mark.parametrize("secret", ["wrong", "expired", "revoked", "someone-elses-email"])
def test_docker_login_refuses_a_bad_token_readably(
    docker_user: Docker, token_server: TokenServer, account: Account, secret: str
) -> None:
    username = EMAIL
    match secret:
        case "wrong":
            text = account.token[:-6] + "abcdef"
        case "expired":
            text = account.expired
        case "revoked":
            text = account.revoked
        case _:
            text, username = account.token, "read@example.com"
    login = _login(docker_user, token_server.registry.host, text, username)
    assert login.returncode != 0, login.describe()
    assert REFUSED in login.err, f"docker login's message is not readable:\n{login.describe()}"
    assert "Login Succeeded" not in login.out


def test_anyone_pulls_a_public_package_and_nobody_pushes_unknown_ones(
    docker_user: Docker, token_server: TokenServer, account: Account, tmp_path: Path
) -> None:
    host = token_server.registry.host
    public = f"{host}/{PUBLIC}:v1"
    assert _login(docker_user, host, account.token).returncode == 0
    _image(docker_user, public, "public\n")
    docker_user("push", public)

    unknown = f"{host}/dev/nothing-here:v1"
    docker_user("tag", public, unknown)
    refused = docker_user("push", unknown, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "cargohold package create dev/nothing-here --repo" in refused.err, refused.describe()
    docker_user("logout", host)
    docker_user("rmi", public, unknown)

    stranger = docker_user.with_config(tmp_path / "stranger")
    stranger("pull", public)  # a plain docker pull, never logged in
    pushed = stranger("push", public, check=False)
    assert pushed.returncode != 0, pushed.describe()
    assert "denied: your read access to 'dev/site' does not allow this" in pushed.err


def test_raw_http_login_sequence(token_server: TokenServer, account: Account) -> None:
    """GET /v2/ → 401 challenge → GET <realm> with Basic credentials → bearer → 200."""
    with httpx.Client(base_url=token_server.registry.url, timeout=30) as client:
        first = client.get("/v2/")
        assert first.status_code == 401, describe_response(first)
        header = first.headers["www-authenticate"]
        assert header.startswith("Bearer "), header
        params = dict(part.split("=", 1) for part in header.removeprefix("Bearer ").split(","))
        realm, service = params["realm"].strip('"'), params["service"].strip('"')
        assert realm == f"{token_server.registry.url}/token"

        scope = f"repository:{PRIVATE}:pull,push"
        answer = client.get(
            realm, params={"service": service, "scope": scope}, auth=(EMAIL, account.token)
        )
        assert answer.status_code == 200, describe_response(answer)
        token = answer.json()["token"]

        client.headers["Authorization"] = f"Bearer {token}"
        assert client.get("/v2/").status_code == 200
        manifest, digest = push_small_image(client, PRIVATE, "http", {"raw.txt": b"raw http\n"})
        assert get_manifest(client, PRIVATE, "http").content == manifest

        # the same token may not delete: it was not asked for
        refused = client.delete(f"/v2/{PRIVATE}/manifests/{digest}")
        assert refused.status_code == 401, describe_response(refused)
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]

        # and a wrong token fails at /token
        del client.headers["Authorization"]
        wrong = client.get(realm, params={"service": service}, auth=(EMAIL, "chp_nope"))
        assert wrong.status_code == 401, describe_response(wrong)


def test_podman_login_push_pull(
    storage_tool: Callable[[str], StorageTool],
    token_server: TokenServer,
    account: Account,
    tmp_path: Path,
) -> None:
    host = token_server.registry.host
    pusher, puller = storage_tool("podman"), storage_tool("podman")
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(make_tar({"etc/motd": b"podman with a token\n"}))
    pusher("import", str(rootfs), "localhost/podman-src:v1")

    def login(tool: StorageTool, authfile: Path, secret: str) -> Proc:
        return tool(
            "login", "--tls-verify=false", "--authfile", str(authfile),
            "--username", EMAIL, "--password-stdin", host,
            input=f"{secret}\n".encode(), check=False,
        )  # fmt: skip

    authfile = tmp_path / "auth.json"
    logged_in = login(pusher, authfile, account.token)
    assert logged_in.returncode == 0, logged_in.describe()
    assert "Login Succeeded" in logged_in.out, logged_in.describe()
    remote = f"{host}/{PRIVATE}:podman"
    tls = ("--tls-verify=false", "--authfile")
    pusher("push", *tls, str(authfile), "localhost/podman-src:v1", remote)
    puller("pull", *tls, str(authfile), remote)

    # a valid auth file without a login in it, and a storage without the image: podman
    # reaches the registry, follows the challenge anonymously, and is refused there
    nobody = tmp_path / "nobody.json"
    nobody.write_text(json.dumps({"auths": {}}))
    anonymous = storage_tool("podman")("pull", *tls, str(nobody), remote, check=False)
    assert anonymous.returncode != 0, anonymous.describe()
    assert f"{PRIVATE}' does not exist or you may not access it; log in" in anonymous.err, (
        anonymous.describe()
    )
    refused = login(puller, tmp_path / "revoked.json", account.revoked)
    assert refused.returncode != 0, refused.describe()
    assert "invalid username/password" in refused.err, refused.describe()


def test_skopeo_login_copy_and_back(
    skopeo: Skopeo, token_server: TokenServer, account: Account, tmp_path: Path
) -> None:
    host = token_server.registry.host
    authfile = str(tmp_path / "auth.json")
    logged_in = skopeo(
        "login", "--tls-verify=false", "--authfile", authfile,
        "--username", EMAIL, "--password-stdin", host,
        input=f"{account.token}\n".encode(),
    )  # fmt: skip
    assert "Login Succeeded" in logged_in.out, logged_in.describe()

    src = OciLayout(tmp_path / "src")
    image = src.add_image([{"skopeo.txt": b"skopeo with a token\n"}])
    src.tag("v1", image.descriptor)
    remote = f"docker://{host}/{PRIVATE}:skopeo"
    to_registry = ("copy", "--dest-tls-verify=false", "--dest-authfile")
    skopeo(*to_registry, authfile, f"oci:{src.root}:v1", remote)
    from_registry = ("copy", "--src-tls-verify=false", "--src-authfile")
    skopeo(*from_registry, authfile, remote, f"oci:{tmp_path / 'dst'}:v1")
    assert layout_ref(tmp_path / "dst", "v1")["digest"] == image.digest

    # a read-only token may copy out but not in
    reader = str(tmp_path / "reader.json")
    skopeo(
        "login", "--tls-verify=false", "--authfile", reader,
        "--username", EMAIL, "--password-stdin", host, input=f"{account.reader}\n".encode(),
    )  # fmt: skip
    elsewhere = f"docker://{host}/{PRIVATE}:nope"
    refused = skopeo(*to_registry, reader, f"oci:{src.root}:v1", elsewhere, check=False)
    assert refused.returncode != 0, refused.describe()
    inspected = skopeo("inspect", "--raw", "--tls-verify=false", "--authfile", reader, remote)
    assert inspected.stdout == image.manifest


def test_oras_with_credentials(token_server: TokenServer, account: Account, tmp_path: Path) -> None:
    """oras-py pushes with Basic credentials on every request (its `basic` backend) and pulls
    through the token flow (its default `token` backend). Its token backend cannot push: after
    a 401 `insufficient_scope` it resends the pull token it has, and asks for a new one only
    after a 403."""
    host = token_server.registry.host
    artifact = tmp_path / "notes.txt"
    artifact.write_bytes(b"oras with a token\n")
    target = f"{host}/{PRIVATE}:oras"

    pusher = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
    pusher.login(
        username=EMAIL,
        password=account.token,
        hostname=host,
        config_path=str(tmp_path / "oras-config.json"),
    )
    pushed = pusher.push(
        target=target,
        files=[f"{artifact}:application/vnd.example.notes"],
        disable_path_validation=True,
    )
    assert pushed.status_code == 201, pushed.text

    puller = oras.client.OrasClient(hostname=host, insecure=True)
    puller.auth.set_basic_auth(EMAIL, account.reader)
    files = puller.pull(target=target, outdir=str(tmp_path / "out"))
    assert [Path(f).read_bytes() for f in files] == [b"oras with a token\n"]

    # (a refused token login makes oras-py's token backend retry for two minutes, so the
    # refusal is shown with the basic backend)
    stranger = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
    stranger.auth.set_basic_auth(EMAIL, account.revoked)
    with pytest.raises(ValueError, match="Unauthorized"):
        stranger.pull(target=target, outdir=str(tmp_path / "refused"))
    assert not (tmp_path / "refused" / "notes.txt").exists()
