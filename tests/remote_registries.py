"""Real registries on 127.0.0.1 for Cargohold to talk to as a client (replication remotes,
mirror upstreams): distribution 2.8.2 (Debian's `docker-registry`) with htpasswd, which can
be stopped and started again on the same port and storage, and a Cargohold with token auth
(the Docker token flow), with one person, a workspace and packages made before it starts."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cargohold.config import Settings
from cargohold.services.accounts import directory, tokens
from cargohold.services.context import open_context
from cargohold.services.registry import packages
from tests.backends import free_port, run, stop_process

READY_TIMEOUT = 90.0  # a busy machine starts a Python server slowly


def bcrypt(password: str) -> str:
    """A bcrypt hash for htpasswd, from the system's libcrypt (distribution takes only
    bcrypt)."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt"))
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt.restype = ctypes.c_char_p
    salt = lib.crypt_gensalt(b"$2b$", 5, None, 0)
    hashed: bytes = lib.crypt(password.encode(), salt)
    return hashed.decode()


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, status: int = 401) -> None:
    """Until `url`/v2/ answers `status` (401: a server that wants a login)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/v2/", timeout=2).status_code == status:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


@dataclass
class Distribution:
    """distribution 2.8.2 with htpasswd (one user) on 127.0.0.1; `stop` and `start` keep its
    port and what it stores."""

    workdir: Path
    username: str = "replica"
    password: str = "replica-password-1"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    def start(self) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry (distribution) is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        htpasswd = self.workdir / "htpasswd"
        htpasswd.write_text(f"{self.username}:{bcrypt(self.password)}\n")
        config = self.workdir / "config.yml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "version": 0.1,
                    "log": {"level": "info"},
                    "storage": {
                        "filesystem": {"rootdirectory": str(self.workdir / "data")},
                        "delete": {"enabled": True},
                    },
                    "auth": {"htpasswd": {"realm": "replica", "path": str(htpasswd)}},
                    "http": {"addr": f"127.0.0.1:{self.port}"},
                }
            )
        )
        log = self.workdir / "registry.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_ready(self.process, self.url, log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@contextmanager
def distribution(workdir: Path) -> Iterator[Distribution]:
    server = Distribution(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class TokenCargohold:
    """A live `cargohold serve --auth token` on 127.0.0.1: `username` (an owner of
    `workspace`) logs in with `password`, an API token with admin:package."""

    url: str
    workspace: str
    username: str
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password


async def _seed(settings: Settings, workspace: str, names: Sequence[str]) -> str:
    ctx = open_context(settings)
    try:
        now = ctx.now()
        async with ctx.db.transaction() as tx:
            user = await directory.create_user(tx, email="replica@example.com", now=now)
            await directory.create_workspace(tx, slug=workspace, owner=user, now=now)
            await directory.create_project(tx, workspace=workspace, key="COPIES", now=now)
            made: dict[str, directory.Repository] = {}
            for name in names:
                repository = "/".join(name.split("/")[:2])
                if repository not in made:
                    made[repository] = await directory.create_repository(
                        tx, full_name=repository, project_key="COPIES", now=now
                    )
                await packages.create_package(tx, name=name, repository=made[repository], now=now)
            _, secret = await tokens.create_token(
                tx,
                kind="personal",
                name="replication",
                scopes=["admin:package"],
                expires_at=now + 86400,
                now=now,
                user_id=user.id,
            )
        return secret
    finally:
        await ctx.close()


@contextmanager
def token_cargohold(
    workdir: Path, workspace: str, names: Sequence[str]
) -> Iterator[TokenCargohold]:
    """A Cargohold with token auth whose `workspace` holds the packages `names` (made
    first: Cargohold takes pushes to packages that exist)."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    settings = Settings(data_dir=data_dir, auth="token")
    secret = run(_seed(settings, workspace, names))  # in a thread: a test may hold a loop
    port = free_port()
    log = workdir / "server.log"
    cmd = [
        sys.executable, "-m", "cargohold", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), "--auth", "token",
    ]  # fmt: skip
    # Its own settings only: none of the test run's (a scale-out backend, for one).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGOHOLD_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url, log)
        yield TokenCargohold(url, workspace, "replica@example.com", secret)
    finally:
        stop_process(process)


def remote_get(url: str, path: str, auth: tuple[str, str], accept: str = "") -> httpx.Response:
    """A plain HTTP GET at a registry, answering its Basic or Bearer challenge."""
    headers = {"Accept": accept} if accept else {}
    with httpx.Client(base_url=url, timeout=30) as client:
        response = client.get(path, headers=headers, auth=auth)
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code == 401 and challenge.lower().startswith("bearer"):
            pairs = (part.split("=", 1) for part in challenge[len("Bearer ") :].split(","))
            params = {key.strip(): value.strip('"') for key, value in pairs}
            token = client.get(
                params["realm"],
                params={"service": params.get("service", ""), "scope": params.get("scope", "")},
                auth=auth,
            ).json()["token"]
            response = client.get(path, headers={**headers, "Authorization": f"Bearer {token}"})
        return response
