"""Fixtures for the interop suite: the live registry, a private dockerd, client configs.

The server under test is chosen with CARGOHOLD_INTEROP_SERVER:
  cargohold     (default) `python -m cargohold serve --host 127.0.0.1 --port P --data-dir D`
  distribution  the CNCF reference registry (`docker-registry serve CONFIG`), to check the tests

`token_server` is a second server, always cargohold, with `--auth token` (one per module).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import httpx
import pytest

from cargohold.config import Settings
from tests.backends import free_port, scale_out_environment, test_backend
from tests.functional.auth import world as auth_world

from ._support import (
    ContainersConfig,
    Docker,
    Registry,
    Skopeo,
    StorageTool,
    TokenServer,
    log_tail,
    run,
    tool,
)

SERVER_ENV = "CARGOHOLD_INTEROP_SERVER"
SERVER_KINDS = ("cargohold", "distribution")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------------- the live server

REGISTRY_KEY = pytest.StashKey[Registry]()
TOKEN_SERVER_KEY = pytest.StashKey[Registry]()
LOG_OFFSET_KEY = pytest.StashKey[dict[Path, int]]()


def pytest_report_header(config: pytest.Config) -> str:
    kind = os.environ.get(SERVER_ENV, "cargohold").strip() or "cargohold"
    return (
        f"interop server under test: {kind} (set {SERVER_ENV}=cargohold|distribution),"
        f" on {test_backend()}"
    )


def _server_command(kind: str, port: int, workdir: Path) -> list[str]:
    data_dir = workdir / "data"
    data_dir.mkdir()
    if kind == "cargohold":
        return [
            sys.executable, "-m", "cargohold", "serve",
            "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
            "--auth", "none",
        ]  # fmt: skip
    config = workdir / "distribution.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "version": 0.1,
                "log": {"level": "info", "accesslog": {"disabled": False}},
                "storage": {
                    "filesystem": {"rootdirectory": str(data_dir)},
                    "delete": {"enabled": True},
                    "maintenance": {"uploadpurging": {"enabled": False}},
                },
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    binary = shutil.which("docker-registry") or tool("registry")
    return [binary, "serve", str(config)]


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@pytest.fixture(scope="session")
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    kind = os.environ.get(SERVER_ENV, "cargohold").strip() or "cargohold"
    if kind not in SERVER_KINDS:
        raise pytest.UsageError(f"{SERVER_ENV}={kind!r}; expected one of {SERVER_KINDS}")
    workdir = tmp_path_factory.mktemp(f"server-{kind}")
    log_path = workdir / "server.log"
    port = free_port()
    cmd = _server_command(kind, port, workdir)
    env = None  # CARGOHOLD_TEST_BACKEND=postgres-s3: PostgreSQL and SeaweedFS (tests/backends.py)
    if kind == "cargohold" and test_backend() == "postgres-s3":
        pg, store = (request.getfixturevalue(f) for f in ("postgres_server", "seaweedfs_server"))
        env = scale_out_environment(pg, store, "interop")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
            env=env,
        )  # fmt: skip
    reg = Registry(kind=kind, host=f"127.0.0.1:{port}", log_path=log_path, process=process)
    try:
        _wait_ready(reg, cmd)
        request.config.stash[REGISTRY_KEY] = reg
        yield reg
    finally:
        _stop(process, STOP_TIMEOUT)


def _wait_ready(reg: Registry, cmd: list[str], ready: int = 200) -> None:
    """Wait until `GET /v2/` answers `ready` (401 for a server that wants a login)."""
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no attempt"
    while time.monotonic() < deadline:
        if reg.process.poll() is not None:
            pytest.fail(
                f"{reg.kind} server exited with {reg.process.returncode} before it was ready\n"
                f"$ {' '.join(cmd)}\n--- server log ---\n{log_tail(reg.log_path)}",
                pytrace=False,
            )
        try:
            resp = httpx.get(f"{reg.url}/v2/", timeout=2.0)
            if resp.status_code == ready:
                return
            last = f"GET /v2/ -> {resp.status_code} {resp.text[:200]!r}"
        except httpx.HTTPError as exc:
            last = f"GET /v2/ -> {type(exc).__name__}: {exc}"
        time.sleep(0.2)
    pytest.fail(
        f"{reg.kind} server not ready after {READY_TIMEOUT} s ({last})\n"
        f"$ {' '.join(cmd)}\n--- server log ---\n{log_tail(reg.log_path)}",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def token_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokenServer]:
    """A cargohold with `--auth token`, one per test module, started on the fixture world of
    the functional auth tests (tests/functional/auth/world.py); tests add their own users,
    workspaces and tokens with the CLI while it runs. With CARGOHOLD_TEST_BACKEND=postgres-s3
    it gets a PostgreSQL database (migrated with `cargohold db upgrade`) and a SeaweedFS prefix
    of its own, as the `registry` server does, and the CLI runs in that environment too.

    Tests here fail logins on purpose, all from 127.0.0.1, so the login limit is raised;
    the limiter has tests of its own (tests/functional/auth/test_login_rate_limit.py)."""
    workdir = tmp_path_factory.mktemp("server-token")
    data_dir = workdir / "data"
    base_env = dict(os.environ)
    place: dict[str, str] = {}  # postgres-s3: a database and a store prefix of its own
    if test_backend() == "postgres-s3":
        pg, store = (request.getfixturevalue(f) for f in ("postgres_server", "seaweedfs_server"))
        label = f"token_{request.module.__name__.rsplit('.', 1)[-1]}"
        base_env = scale_out_environment(pg, store, label)
        fields = {f"CARGOHOLD_{name.upper()}": name for name in Settings.model_fields}
        place = {fields[key]: value for key, value in base_env.items() if key in fields}
    world = auth_world.build(Settings(data_dir=data_dir, auth="token", **place))
    env = {**base_env, "CARGOHOLD_LOGIN_MAX_FAILURES": "1000"}
    log_path = workdir / "server.log"
    port = free_port()
    cmd = [
        sys.executable, "-m", "cargohold", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
        "--auth", "token",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
            env=env,
        )  # fmt: skip
    host = f"127.0.0.1:{port}"
    reg = Registry(kind="cargohold --auth token", host=host, log_path=log_path, process=process)
    try:
        _wait_ready(reg, cmd, ready=401)
        request.config.stash[TOKEN_SERVER_KEY] = reg
        cli_env = base_env if place else None
        yield TokenServer(registry=reg, data_dir=data_dir, world=world, env=cli_env)
    finally:
        if TOKEN_SERVER_KEY in request.config.stash:
            del request.config.stash[TOKEN_SERVER_KEY]
        _stop(process, STOP_TIMEOUT)


@pytest.fixture(autouse=True)
def _server_log_mark(request: pytest.FixtureRequest, registry: Registry) -> None:
    """Remember where the server log stood when the test began (for the failure report)."""
    offsets = {}
    for reg in (registry, request.config.stash.get(TOKEN_SERVER_KEY, None)):
        if reg is not None:
            try:
                offsets[reg.log_path] = reg.log_path.stat().st_size
            except OSError:
                offsets[reg.log_path] = 0
    request.node.stash[LOG_OFFSET_KEY] = offsets


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if not report.failed:
        return report
    servers = [item.config.stash.get(REGISTRY_KEY, None)]
    if "token_server" in getattr(item, "fixturenames", ()):
        servers.append(item.config.stash.get(TOKEN_SERVER_KEY, None))
    for reg in servers:
        if reg is None:
            continue
        offset = item.stash.get(LOG_OFFSET_KEY, {}).get(reg.log_path, 0)
        status = reg.process.poll()
        state = "running" if status is None else f"EXITED with status {status}"
        during = log_tail(reg.log_path, offset)
        if during:
            title, text = "server log during this test", during
        else:  # nothing logged meanwhile (no access log): show how the log ends instead
            title, text = (
                "server log (nothing during this test; last lines)",
                log_tail(reg.log_path, lines=30),
            )
        report.sections.append(
            (f"{reg.kind} {title} ({state}; full log: {reg.log_path})", text or "(empty)")
        )
    return report


@pytest.fixture(scope="session")
def http(registry: Registry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, timeout=60.0, follow_redirects=True) as client:
        yield client


# --------------------------------------------------------------------------- docker engine


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    """A dockerd of our own (vfs, no networking changes) on a unix socket in a short dir."""
    dockerd = tool("dockerd")
    # unix socket paths are limited to ~108 bytes and containerd nests its sockets below
    # the exec root, so these live in a short directory, created at runtime.
    short = Path(tempfile.mkdtemp(prefix="ch-"))
    sock = short / "d.sock"
    assert len(str(short)) < 40, f"temp dir {short} too long for sockets; set TMPDIR shorter"
    logdir = tmp_path_factory.mktemp("dockerd")
    log_path = logdir / "dockerd.log"
    config = short / "daemon.json"
    config.write_text("{}")  # ignore any system daemon.json
    cmd = [
        dockerd,
        "--iptables=false", "--ip-masq=false", "--bridge=none", "--storage-driver=vfs",
        f"--data-root={short / 'data'}", f"--exec-root={short / 'x'}",
        f"--pidfile={short / 'pid'}", f"--config-file={config}", f"--host=unix://{sock}",
        "--containerd-namespace=cargohold-interop",
        "--containerd-plugins-namespace=cargohold-interop-plugins",
    ]  # fmt: skip
    env = dict(os.environ)
    env["DOCKER_HOST"] = f"unix://{sock}"
    env["DOCKER_CONFIG"] = str(logdir / "cli-config")  # no credential helpers, no ~/.docker
    env["DOCKER_BUILDKIT"] = "0"  # classic builder: no buildx plugin needed
    env["DOCKER_CLI_HINTS"] = "false"
    env.pop("DOCKER_CONTEXT", None)
    env.pop("DOCKER_TLS_VERIFY", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    client = Docker(env=env, log_path=log_path)
    try:
        deadline = time.monotonic() + 60.0
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"dockerd exited with {process.returncode}\n{log_tail(log_path)}",
                    pytrace=False,
                )
            probe = run([tool("docker"), "info"], timeout=20, env=env, check=False)
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"dockerd not ready after 60 s\n{probe.describe()}\n{log_tail(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.5)
        yield client
    finally:
        _stop(process, 30.0)
        _stop_process_group(process.pid)
        _stop_own_containerd(short / "x")
        _unmount_below(short)
        shutil.rmtree(short, ignore_errors=True)


def _stop_process_group(pgid: int) -> None:
    """dockerd runs in its own session; end what it leaves behind (containerd, shims)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        for _ in range(50):
            time.sleep(0.1)
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return


def _stop_own_containerd(exec_root: Path) -> None:
    """The containerd that dockerd started runs in its own session; normally dockerd stops
    it, but not when dockerd itself had to be killed. Only a process whose command line names
    our exec root is signalled."""
    try:
        pid = int((exec_root / "containerd" / "containerd.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(exec_root).encode() not in cmdline:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
            for _ in range(50):
                time.sleep(0.1)
                os.kill(pid, 0)
        except ProcessLookupError:
            return


def _unmount_below(directory: Path) -> None:
    """dockerd bind-mounts its data root onto itself; a killed dockerd leaves that behind."""
    prefix = str(directory)
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in mountinfo if len(line.split()) > 4]
    ours = [p for p in points if p == prefix or p.startswith(prefix + "/")]
    for point in sorted(ours, key=len, reverse=True):
        run([tool("umount"), point], timeout=30, check=False)


# --------------------------------------------------------------------------- containers/image tools


@pytest.fixture(scope="session")
def containers_config(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> ContainersConfig:
    base = tmp_path_factory.mktemp("containers-config")
    policy = base / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    registries = base / "registries.conf"
    registries.write_text(
        "unqualified-search-registries = []\n"
        'short-name-mode = "disabled"\n'
        "[[registry]]\n"
        f'location = "{registry.host}"\n'
        "insecure = true\n"
    )
    containers_conf = base / "containers.conf"
    containers_conf.write_text(
        '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n'
        f'events_logfile_path = "{base / "events.log"}"\n'
    )
    auth = base / "auth.json"
    auth.write_text(json.dumps({"auths": {}}))
    tmp = base / "tmp"
    tmp.mkdir()
    env = dict(os.environ)
    env["CONTAINERS_REGISTRIES_CONF"] = str(registries)
    env["CONTAINERS_CONF"] = str(containers_conf)
    env["REGISTRY_AUTH_FILE"] = str(auth)
    env["TMPDIR"] = str(tmp)
    return ContainersConfig(env=env, policy=policy)


@pytest.fixture(scope="session")
def skopeo(containers_config: ContainersConfig) -> Skopeo:
    return Skopeo(containers_config)


@pytest.fixture
def storage_tool(
    containers_config: ContainersConfig, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], StorageTool]:
    """Factory: `storage_tool("podman")` is a podman with a fresh, private vfs storage."""

    def make(binary: str) -> StorageTool:
        return StorageTool(binary, tmp_path_factory.mktemp(binary), containers_config)

    return make
