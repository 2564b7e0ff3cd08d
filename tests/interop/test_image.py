"""The official image (Dockerfile, `make image`) on a real Docker engine.

The base is Debian bookworm made here with debootstrap (python3 and python3-venv included,
the apt caches, docs and locales left out) and imported into the session's private dockerd;
`make image BASE_IMAGE=...` builds cargohold:dev on it. The container runs as the image says
(a volume on /data, auth on), only with host networking and a free port, since this dockerd
has no bridge. The first admin is made by running the commands of the first-start hint as it
prints them (`docker exec` into the container), then docker logs in, pushes and pulls, the
container is restarted, and the same image is pulled again from the same volume.

The same image then runs on PostgreSQL and S3 (the suite's PostgreSQL and SeaweedFS), set
with `docker run --env-file` as docs/deploy.md does, migrated with the image's own
`cargohold db upgrade`. The image is built once per run: on the suite's second pass
(CARGOHOLD_TEST_BACKEND=postgres-s3) this module is skipped.

debootstrap takes minutes, so the base tarball is kept between runs in
$CARGOHOLD_TEST_CACHE (default ~/.cache/cargohold-tests), named by what went into it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backends import PostgresServer, SeaweedFS, free_port
from tests.backends import test_backend as backend_in_use

from ._support import Docker, make_tar, run, tool

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        backend_in_use() == "postgres-s3",
        reason="built and run once per run, on both backends, in the default pass",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
CACHE_ENV = "CARGOHOLD_TEST_CACHE"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv")
# What Debian's slim images leave out too: nothing at run time reads these.
SLIM = (
    "var/cache/apt/archives",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)
BASE = "cargohold-test-base:bookworm"
IMAGE = "cargohold:dev"
UID = 10001
EMAIL = "you@example.com"  # as the hint writes it
READY_TIMEOUT = 60.0
# Bounds that catch a regression (the figures measured are in docs/deploy.md).
MAX_IMAGE_BYTES = 600 * 10**6
MAX_IDLE_MEMORY = 300 * 2**20


def _cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cargohold-tests"


def base_tarball() -> Path:
    """A Debian bookworm root with python3, as a tar, made once and then reused."""
    recipe = json.dumps({"suite": SUITE, "variant": "minbase", "packages": PACKAGES, "slim": SLIM})
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    cache = _cache_dir()
    tarball = cache / f"debootstrap-{SUITE}-{key}.tar"
    if tarball.is_file():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="debootstrap-") as work:
        root = Path(work) / "root"
        made = run(
            [tool("debootstrap"), "--variant=minbase", f"--include={','.join(PACKAGES)}",
             SUITE, root],
            timeout=900, check=False,
        )  # fmt: skip
        assert made.returncode == 0, f"debootstrap failed:\n{made.describe()}"
        for path in SLIM:
            target = root / path
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            elif target.exists():
                target.unlink()
        partial = Path(work) / "base.tar"
        run([tool("tar"), "-C", root, "-cf", partial, "."], timeout=300)
        os.replace(partial, tarball)  # whole or not at all, also with two runs at once
    return tarball


@dataclass(frozen=True)
class Built:
    image: str
    size: int


@pytest.fixture(scope="module")
def built(docker: Docker) -> Iterator[Built]:
    """cargohold:dev, built by `make image` on the debootstrapped base."""
    tarball = base_tarball()
    with tarball.open("rb") as source:
        imported = subprocess.run(
            [tool("docker"), "import", "-", BASE], stdin=source, env=docker.env,
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
    assert imported.returncode == 0, imported.stderr.decode(errors="replace")
    try:
        make = run(
            [tool("make"), "image", f"BASE_IMAGE={BASE}"],
            cwd=ROOT, env=docker.env, timeout=1500, check=False,
        )  # fmt: skip
        assert make.returncode == 0, f"make image failed:\n{make.describe()}"
        size = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE).out.strip())
        yield Built(IMAGE, size)
    finally:
        docker("rmi", "--force", IMAGE, BASE, check=False)
        docker("image", "prune", "--force", check=False)  # the build stage's layers


def test_the_image_runs_unprivileged_with_data_in_a_volume(docker: Docker, built: Built) -> None:
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", IMAGE).out)
    assert config["User"] == "cargohold"
    assert list(config["Volumes"]) == ["/data"]
    assert "5000/tcp" in config["ExposedPorts"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["CARGOHOLD_DATA_DIR"] == "/data"
    assert env["CARGOHOLD_HOST"] == "0.0.0.0"
    assert env["CARGOHOLD_AUTH"] == "token"
    assert config["Entrypoint"] == ["cargohold"] and config["Cmd"] == ["serve"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    shown = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", IMAGE, "-c",
        "id -u; stat -c %a:%u /data; python3 -V;"
        " python3 -c 'import asyncpg, aiobotocore, granian, argon2' && echo drivers;"
        " test ! -e /opt/cargohold/bin/pip && echo no-pip",
    ).out.split()  # fmt: skip
    assert shown[:2] == [str(UID), f"700:{UID}"], shown
    assert shown[2:4] == ["Python", shown[3]] and shown[3].startswith("3.11."), shown
    assert shown[-2:] == ["drivers", "no-pip"], shown
    assert built.size < MAX_IMAGE_BYTES, f"image is {built.size / 1e6:.0f} MB"


def _wait_healthy(docker: Docker, name: str, port: int) -> None:
    """The image's own HEALTHCHECK says healthy, and /v2/ asks for a login."""
    deadline = time.monotonic() + READY_TIMEOUT
    state: dict[str, object] = {}
    while time.monotonic() < deadline:
        state = json.loads(docker("inspect", "--format", "{{json .State}}", name).out)
        if not state.get("Running"):
            break
        health = state.get("Health") or {}
        if isinstance(health, dict) and health.get("Status") == "healthy":
            challenge = httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=5.0)
            assert challenge.status_code == 401, challenge.text
            return
        time.sleep(0.5)
    logs = docker("logs", name, check=False)
    pytest.fail(
        f"container {name} not healthy after {READY_TIMEOUT} s: {json.dumps(state)[:2000]}\n"
        f"--- docker logs ---\n{logs.out}{logs.err}",
        pytrace=False,
    )


def _logs(docker: Docker, name: str) -> str:
    logs = docker("logs", name)
    return re.sub(r"\x1b\[[0-9;]*m", "", logs.out + logs.err)


def _hint(docker: Docker, name: str) -> list[str]:
    """The first-start hint: its first line, then its commands."""
    lines = _logs(docker, name).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("No users yet."))
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        commands.append(line.strip())
    return [lines[start], *commands]


def _follow_the_hint(docker: Docker, client: Docker, name: str, port: int) -> None:
    """Run the hint's commands as printed: the first admin, a package and a token made with
    `docker exec`, then `docker login` (with the client's own config)."""
    container = docker("inspect", "--format", "{{.Id}}", name).out.strip()
    hint = _hint(docker, name)
    assert "docker exec" in hint[0], hint
    assert f"docker exec -i {container[:12]} cargohold user create" in hint[1], hint
    assert all(f"docker exec {container[:12]} cargohold " in line for line in hint[2:-1]), hint
    assert hint[-1].endswith(f"--password-stdin localhost:{port}"), hint
    script = "set -euo pipefail\n" + "\n".join(hint[1:]) + "\n"
    done = run(["bash", "-c", script], env=client.env, timeout=180, check=False)
    assert done.returncode == 0, f"the first-start hint failed:\n{done.describe()}"
    assert "Login Succeeded" in done.out, done.describe()


def _push(client: Docker, ref: str) -> bytes:
    text = f"pushed to the image {secrets.token_hex(4)}\n".encode()
    tar = make_tar({"etc/motd": text})
    client("import", "--change", 'CMD ["/bin/true"]', "-", ref, input=tar)
    client("push", ref, timeout=180)
    return text


def _pulled_motd(docker: Docker, ref: str) -> bytes:
    """Pull `ref` afresh and read /etc/motd out of it."""
    docker("rmi", "--force", ref, check=False)
    docker("pull", ref, timeout=180)
    box = docker("create", ref).out.strip()
    try:
        archive = subprocess.run(
            [tool("docker"), "cp", f"{box}:/etc/motd", "-"], env=docker.env,
            capture_output=True, timeout=60, check=True,
        ).stdout  # fmt: skip
    finally:
        docker("rm", "--force", box, check=False)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile("motd")
        assert member is not None
        return member.read()


def _memory(docker: Docker, name: str) -> int:
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).out.split("/")[0]
    found = re.fullmatch(r"\s*([\d.]+)\s*([KMG]?i?B)\s*", usage)
    assert found is not None, usage
    scale = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 10**3, "MB": 10**6}
    return int(float(found.group(1)) * scale[found.group(2)])


@pytest.fixture
def client(docker: Docker, tmp_path: Path) -> Docker:
    """The engine with a client config (logins) of this test's own."""
    return docker.with_config(tmp_path / "docker-config")


@pytest.fixture
def container_name(docker: Docker) -> Iterator[str]:
    """A name for this test's container; it and its volume are removed afterwards."""
    name = f"cargohold-image-{secrets.token_hex(4)}"
    yield name
    docker("rm", "--force", "--volumes", name, check=False)
    docker("volume", "rm", "--force", f"{name}-data", check=False)


def test_docker_run_with_a_volume_is_a_registry_that_keeps_its_data(
    docker: Docker, client: Docker, built: Built, container_name: str,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    name, port = container_name, free_port()
    ref = f"localhost:{port}/acme/web:v1"
    docker(
        "run", "--detach", "--name", name, "--network", "host", "--health-interval", "1s",
        "--volume", f"{name}-data:/data", "--env", f"CARGOHOLD_PORT={port}", built.image,
    )  # fmt: skip
    _wait_healthy(docker, name, port)
    _follow_the_hint(docker, client, name, port)
    assert docker("exec", name, "id", "-u").out.strip() == str(UID)

    text = _push(client, ref)
    assert _pulled_motd(client, ref) == text

    time.sleep(2)  # idle
    memory = _memory(docker, name)
    request.node.user_properties += [
        ("image_mb", round(built.size / 1e6)),
        ("idle_memory_mib", round(memory / 2**20, 1)),
    ]
    print(f"image {built.size / 1e6:.0f} MB, idle memory {memory / 2**20:.1f} MiB")
    assert memory < MAX_IDLE_MEMORY, f"idle memory {memory / 2**20:.1f} MiB"

    started = time.monotonic()
    docker("restart", "-t", "30", name, timeout=90)
    assert time.monotonic() - started < 15, "the server did not stop promptly on SIGTERM"
    _wait_healthy(docker, name, port)
    assert _pulled_motd(client, ref) == text  # the same login, image and data
    assert _logs(docker, name).count("No users yet.") == 1  # the admin was kept


def test_the_image_on_postgresql_and_s3_set_by_an_env_file(
    docker: Docker, client: Docker, built: Built, container_name: str,
    postgres_server: PostgresServer, seaweedfs_server: SeaweedFS, tmp_path: Path,
) -> None:  # fmt: skip
    name, port = container_name, free_port()
    settings = {
        "CARGOHOLD_DATABASE_URL": postgres_server.create_database(f"image_{secrets.token_hex(3)}"),
        **seaweedfs_server.environment(prefix=f"image-{secrets.token_hex(4)}/"),
        "CARGOHOLD_PORT": str(port),
    }
    env_file = tmp_path / "cargohold.env"
    env_file.write_text(
        "# the settings of docs/deploy.md, for this test's database and store\n"
        + "".join(f"{key}={value}\n" for key, value in settings.items())
    )
    docker(
        "run", "--rm", "--network", "host", "--env-file", str(env_file), built.image,
        "db", "upgrade",
    )  # fmt: skip
    docker(
        "run", "--detach", "--name", name, "--network", "host", "--health-interval", "1s",
        "--volume", f"{name}-data:/data", "--env-file", str(env_file), built.image,
    )  # fmt: skip
    _wait_healthy(docker, name, port)
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10.0)
    assert ready.status_code == 200, ready.text
    _follow_the_hint(docker, client, name, port)

    ref = f"localhost:{port}/acme/web:v1"
    text = _push(client, ref)
    assert _pulled_motd(client, ref) == text
    # The rows are in PostgreSQL and the blobs in the store: no database, no blob in /data.
    kept = docker("exec", name, "find", "/data", "-type", "f").out.split()
    assert not [path for path in kept if path.startswith("/data/storage/")], kept
    assert not [path for path in kept if ".db" in path], kept
