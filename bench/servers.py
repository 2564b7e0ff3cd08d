"""Start, probe, sample and stop the two registries under test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVER_NAMES = ("cargohold", "distribution")
DISTRIBUTION_BIN = "docker-registry"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids.extend(int(x) for x in fh.read().split())
        except OSError:
            continue
    return kids


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and all its descendants, so far."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
        todo.extend(_children(current))
    return total / os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, path: str, key: str) -> int:
    try:
        with open(f"/proc/{pid}/{path}") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class TreeSample:
    """Memory of a process tree: summed VmRSS (the headline figure), summed Pss (shared
    pages split between the processes that map them), and each process's VmRSS."""

    rss_kib: int = 0
    pss_kib: int = 0
    per_process_kib: list[int] = field(default_factory=list)


def tree_sample(pid: int) -> TreeSample:
    """Sample ``pid`` and all its descendants (root first)."""
    out, todo = TreeSample(), [pid]
    while todo:
        cur = todo.pop(0)
        rss = _status_kib(cur, "status", "VmRSS:")
        if rss:
            out.rss_kib += rss
            out.pss_kib += _status_kib(cur, "smaps_rollup", "Pss:")
            out.per_process_kib.append(rss)
        todo.extend(_children(cur))
    return out


class RssSampler:
    """Samples the memory of a process tree every ``interval`` seconds in a thread.

    Keeps the overall peak, and the peak of the currently open window (see :meth:`window`).
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = TreeSample()
        self.peak_pss_kib = 0
        self.max_procs = 0
        self._window: TreeSample | None = None
        self._window_pss = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    @property
    def peak_kib(self) -> int:
        return self.peak.rss_kib

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> TreeSample:
        cur = tree_sample(self.pid)
        with self._lock:
            if cur.rss_kib > self.peak.rss_kib:
                self.peak = cur
            self.peak_pss_kib = max(self.peak_pss_kib, cur.pss_kib)
            self.max_procs = max(self.max_procs, len(cur.per_process_kib))
            if self._window is not None:
                if cur.rss_kib > self._window.rss_kib:
                    self._window = cur
                self._window_pss = max(self._window_pss, cur.pss_kib)
        return cur

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    @contextmanager
    def window(self) -> Iterator[dict[str, Any]]:
        """Record the peak memory while the block runs into the yielded dict:
        ``rss_kib``, ``pss_kib`` and ``per_process_kib`` (at the RSS peak)."""
        out: dict[str, Any] = {}
        with self._lock:
            self._window, self._window_pss = TreeSample(), 0
        self.sample()
        try:
            yield out
        finally:
            self.sample()
            with self._lock:
                peak = self._window or TreeSample()
                out["rss_kib"] = peak.rss_kib
                out["pss_kib"] = self._window_pss
                out["per_process_kib"] = peak.per_process_kib
                self._window = None


@dataclass
class Server:
    name: str
    data_dir: Path
    workers: int | None = None
    auth: str = "none"  # cargohold only: "none", or "token" (accounts; /v2/ answers 401)
    extra_env: dict[str, str] = field(default_factory=dict)
    program: str = ""  # what runs ("cargohold", "distribution"); default: ``name``
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    sampler: RssSampler | None = None
    log_path: Path | None = None
    version: str = ""
    config: str = ""  # distribution only: its configuration (default: filesystem storage)

    @property
    def kind(self) -> str:
        return self.program or self.name

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    def env(self) -> dict[str, str]:
        """The environment of the server (and, for Cargohold, of its CLI)."""
        env = dict(os.environ)
        if self.kind == "cargohold":
            src = REPO_ROOT / "src"
            if (src / "cargohold").is_dir():
                # Benchmark the working tree, whether or not the package is installed.
                old = env.get("PYTHONPATH")
                env["PYTHONPATH"] = str(src) + (os.pathsep + old if old else "")
        if self.kind == "distribution":
            # distribution 2.8.2's S3 driver panics at start when AWS_CA_BUNDLE is set (and
            # would take credentials from AWS_*): its settings come from its config only.
            env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
        env.update(self.extra_env)
        return env

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = self.env()
        if self.kind == "cargohold":
            cmd = [
                sys.executable, "-m", "cargohold", "serve",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--auth", self.auth,
            ]  # fmt: skip
            if self.workers is not None:
                cmd += ["--workers", str(self.workers)]
            return cmd, env
        if self.kind == "distribution":
            config = self.data_dir.parent / f"{self.name}-config.yml"
            config.write_text(self.config or distribution_config(self.data_dir, self.port))
            return [DISTRIBUTION_BIN, "serve", str(config)], env
        raise ValueError(f"unknown server {self.name!r}")

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd, env = self.command()
        self.log_path = self.data_dir.parent / f"{self.name}.log"
        self.version = server_version(self.kind, env)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            if self._answers():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log()}")
            time.sleep(0.1)
        self.sampler = RssSampler(self.proc.pid)
        self.sampler.start()

    def _answers(self) -> bool:
        """``GET /v2/`` answers 200, or with accounts the 401 bearer challenge."""
        try:
            with urllib.request.urlopen(f"{self.base}/v2/", timeout=2) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError as exc:
            challenge = exc.headers.get("WWW-Authenticate", "")
            return self.auth == "token" and exc.code == 401 and challenge.startswith("Bearer ")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def log(self, tail: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.proc is None or self.proc.poll() is not None:
            return
        # The server runs in its own session: signal exactly that process group.
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


def distribution_config(root: Path, port: int) -> str:
    # Same as the configuration Debian ships (blob descriptor cache in memory), minus auth,
    # with logging quietened so that it costs nothing.
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: error\n"
        "  accesslog:\n"
        "    disabled: true\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: {root}\n"
        "  delete:\n"
        "    enabled: true\n"
        "  cache:\n"
        "    blobdescriptor: inmemory\n"
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n"
    )


def server_version(name: str, env: dict[str, str]) -> str:
    if name == "distribution":
        exe = shutil.which(DISTRIBUTION_BIN)
        if exe is None:
            raise RuntimeError(f"{DISTRIBUTION_BIN} not found on PATH")
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
        # "docker-registry github.com/docker/distribution 2.8.2+ds1" (argv[0] comes first)
        words = out.stdout.split()
        return f"distribution {words[-1]}" if words else "distribution ?"
    code = "import cargohold; print(getattr(cargohold, '__version__', '?'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    return f"cargohold {out.stdout.strip() or '?'}"


def cargohold_available() -> bool:
    """True when ``python -m cargohold serve --help`` works in this tree."""
    server = Server("cargohold", Path("."), port=0)
    cmd, env = server.command()
    help_cmd = [*cmd[:4], "--help"]
    try:
        out = subprocess.run(help_cmd, capture_output=True, env=env, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0
