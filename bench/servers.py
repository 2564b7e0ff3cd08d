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


def _vm_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> tuple[int, int]:
    """Sum of VmRSS over ``pid`` and all its descendants, and the process count."""
    total, count, todo = 0, 0, [pid]
    while todo:
        cur = todo.pop()
        rss = _vm_rss_kib(cur)
        if rss:
            total += rss
            count += 1
        todo.extend(_children(cur))
    return total, count


class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds in a thread.

    Keeps the overall peak, and the peak of the currently open window (see :meth:`window`).
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.max_procs = 0
        self._window_peak: int | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> int:
        rss, procs = tree_rss_kib(self.pid)
        with self._lock:
            self.peak_kib = max(self.peak_kib, rss)
            self.max_procs = max(self.max_procs, procs)
            if self._window_peak is not None:
                self._window_peak = max(self._window_peak, rss)
        return rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    @contextmanager
    def window(self) -> Iterator[dict[str, int]]:
        """Record the peak RSS (KiB) while the block runs into the yielded dict."""
        out: dict[str, int] = {}
        with self._lock:
            self._window_peak = 0
        self.sample()
        try:
            yield out
        finally:
            self.sample()
            with self._lock:
                out["peak_kib"] = self._window_peak or 0
                self._window_peak = None


@dataclass
class Server:
    name: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    sampler: RssSampler | None = None
    log_path: Path | None = None
    version: str = ""

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        if self.name == "cargohold":
            src = REPO_ROOT / "src"
            if (src / "cargohold").is_dir():
                # Benchmark the working tree, whether or not the package is installed.
                old = env.get("PYTHONPATH")
                env["PYTHONPATH"] = str(src) + (os.pathsep + old if old else "")
            cmd = [
                sys.executable, "-m", "cargohold", "serve",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.data_dir),
            ]  # fmt: skip
            return cmd, env
        if self.name == "distribution":
            config = self.data_dir.parent / f"{self.name}-config.yml"
            config.write_text(distribution_config(self.data_dir, self.port))
            return [DISTRIBUTION_BIN, "serve", str(config)], env
        raise ValueError(f"unknown server {self.name!r}")

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd, env = self.command()
        self.log_path = self.data_dir.parent / f"{self.name}.log"
        self.version = server_version(self.name, env)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.base}/v2/", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log()}")
            time.sleep(0.1)
        self.sampler = RssSampler(self.proc.pid)
        self.sampler.start()

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
        return out.stdout.strip()
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
