"""The clients used for both servers: a few stdlib HTTP calls for setup, curl for the timed
blob transfers, skopeo for a real image push, wrk for request rates, a fixed-rate probe for
latency under load."""

from __future__ import annotations

import base64
import http.client
import json
import re
import resource
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bench.data import OCI_MANIFEST


class BenchError(RuntimeError):
    pass


def _request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=120)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def _expect(status: int, want: set[int], what: str, body: bytes) -> None:
    if status not in want:
        raise BenchError(f"{what}: HTTP {status}: {body[:300]!r}")


def with_digest(location: str, digest: str) -> str:
    sep = "&" if "?" in location else "?"
    return f"{location}{sep}digest={urllib.parse.quote(digest, safe='')}"


def basic_auth(username: str, secret: str) -> str:
    """The value of an ``Authorization`` header carrying Basic credentials."""
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def start_upload(base: str, repo: str, auth: dict[str, str] | None = None) -> str:
    status, headers, body = _request("POST", f"{base}/v2/{repo}/blobs/uploads/", headers=auth)
    _expect(status, {202}, f"POST upload {repo}", body)
    return urllib.parse.urljoin(base + "/", headers["location"])


def push_blob(
    base: str, repo: str, data: bytes, digest: str, auth: dict[str, str] | None = None
) -> None:
    """Monolithic push (POST then PUT ?digest=) of a small blob held in memory. ``auth``:
    extra headers (credentials) for every request."""
    url = with_digest(start_upload(base, repo, auth), digest)
    headers = {
        **(auth or {}),
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(data)),
    }
    status, _, body = _request("PUT", url, data, headers)
    _expect(status, {201}, f"PUT blob {digest}", body)


def push_manifest(
    base: str, repo: str, ref: str, manifest: bytes, auth: dict[str, str] | None = None
) -> None:
    headers = {**(auth or {}), "Content-Type": OCI_MANIFEST}
    status, _, body = _request("PUT", f"{base}/v2/{repo}/manifests/{ref}", manifest, headers)
    _expect(status, {201}, f"PUT manifest {repo}:{ref}", body)


def get(
    url: str, accept: str | None = None, auth: dict[str, str] | None = None
) -> tuple[int, bytes]:
    headers = {**(auth or {}), **({"Accept": accept} if accept else {})}
    status, _, body = _request("GET", url, headers=headers)
    return status, body


def delete(url: str, auth: dict[str, str] | None = None) -> int:
    """DELETE ``url``; the status."""
    status, _, _ = _request("DELETE", url, headers=auth)
    return status


@dataclass
class Transfer:
    seconds: float
    size: int

    @property
    def mib_s(self) -> float:
        return self.size / (1 << 20) / self.seconds


_CURL_FMT = "%{http_code} %{time_total} %{size_upload} %{size_download}"


def _curl(
    args: list[str], what: str, want: str, timeout: float | None = None
) -> tuple[float, int, int]:
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", _CURL_FMT, *args]
    if timeout is not None:
        cmd[1:1] = ["--max-time", f"{timeout:g}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    fields = out.stdout.split()
    if out.returncode != 0 or len(fields) != 4 or fields[0] != want:
        raise BenchError(f"{what}: curl rc={out.returncode} {out.stdout!r} {out.stderr!r}")
    return float(fields[1]), int(float(fields[2])), int(float(fields[3]))


def curl_put_file(location: str, digest: str, path: Path, timeout: float | None = None) -> Transfer:
    """Stream ``path`` as the body of the closing PUT of a monolithic upload (curl gives up
    after ``timeout`` seconds, when given)."""
    args = [
        "-T", str(path),
        "-H", "Expect:",  # no 100-continue round trip
        "-H", "Content-Type: application/octet-stream",
        with_digest(location, digest),
    ]  # fmt: skip
    seconds, up, _ = _curl(args, f"PUT {digest}", "201", timeout)
    return Transfer(seconds, up)


def curl_get(url: str) -> Transfer:
    seconds, _, down = _curl([url], f"GET {url}", "200")
    return Transfer(seconds, down)


@dataclass(frozen=True)
class SkopeoRun:
    seconds: float  # wall time
    cpu_seconds: float  # skopeo's own CPU time (user + system), the client's share of the work


def skopeo_copy(layout: Path, tag: str, dest: str) -> SkopeoRun:
    """Push an OCI layout with skopeo, as a user would."""
    cmd = [
        "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
        f"oci:{layout}:{tag}", f"docker://{dest}",
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise BenchError(f"skopeo copy to {dest}: {out.stderr.strip()}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return SkopeoRun(seconds, cpu)


_WRK_LUA = """
wrk.method = "GET"
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"bytes\\":%%d," ..
    "\\"connect\\":%%d,\\"read\\":%%d,\\"write\\":%%d,\\"status\\":%%d,\\"timeout\\":%%d," ..
    "\\"p50_us\\":%%d,\\"p99_us\\":%%d}\\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def mib_s(self) -> float:
        return self.bytes / (1 << 20) / self.seconds


def _wrk_command(
    url: str, script: str, connections: int, duration: float, threads: int, timeout: float
) -> list[str]:
    return [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
        f"--timeout={timeout:g}s", "-s", script, url,
    ]  # fmt: skip


def _wrk_script(headers: dict[str, str] | None) -> str:
    lines = [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items()]
    return _WRK_LUA % {"headers": "\n".join(lines)}


def _wrk_result(url: str, returncode: int, stdout: str, stderr: str) -> WrkResult:
    match = re.search(r"^BENCHJSON (\{.*\})$", stdout, re.MULTILINE)
    if returncode != 0 or match is None:
        raise BenchError(f"wrk {url}: rc={returncode} {stdout!r} {stderr!r}")
    data = json.loads(match.group(1))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        bytes=data["bytes"],
        non_2xx=data["status"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-wrk-") as script:
        script.write(_wrk_script(headers))
        script.flush()
        cmd = _wrk_command(url, script.name, connections, duration, threads, timeout)
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return _wrk_result(url, out.returncode, out.stdout, out.stderr)


@dataclass
class WrkRun:
    """A wrk run in the background, ended by :meth:`stop` (SIGINT: wrk stops its
    connections and reports over the time it actually ran)."""

    url: str
    proc: subprocess.Popen[str]
    script: Path

    def stop(self) -> WrkResult:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            stdout, stderr = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            stdout, stderr = self.proc.communicate()
        finally:
            self.script.unlink(missing_ok=True)
        return _wrk_result(self.url, self.proc.returncode, stdout, stderr)

    def kill(self) -> None:
        """End it without a result (on the way out of a failed run)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self.script.unlink(missing_ok=True)


def start_wrk(
    url: str,
    *,
    connections: int,
    max_duration: float,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> WrkRun:
    """Start wrk for at most ``max_duration`` seconds; :meth:`WrkRun.stop` ends it sooner."""
    with tempfile.NamedTemporaryFile(
        "w", suffix=".lua", prefix="bench-wrk-", delete=False
    ) as script:
        script.write(_wrk_script(headers))
    cmd = _wrk_command(url, script.name, connections, max_duration, threads, timeout)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    return WrkRun(url, proc, Path(script.name))


@dataclass
class ProbeResult:
    """Latencies of a :class:`LatencyProbe`, in seconds, each counted from when its request
    was due (so a server that stalls is charged for every request it held up)."""

    latencies: list[float]
    errors: int
    seconds: float

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class LatencyProbe:
    """GET ``url`` at a fixed rate (``rate`` per second on each of ``connections`` keep-alive
    connections) in threads until :meth:`stop`, timing each answer from when its request was
    due rather than from when it was sent, as wrk2 does: a closed-loop client like wrk sends
    almost nothing while a server stalls, and so hardly sees the stall in its percentiles."""

    def __init__(
        self, url: str, *, rate: float, connections: int, headers: dict[str, str] | None = None
    ) -> None:
        self.parts = urllib.parse.urlsplit(url)
        self.interval = 1 / rate
        self.headers = headers or {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latencies: list[float] = []
        self._errors = 0
        self._threads = [
            threading.Thread(target=self._run, args=(i / connections,), daemon=True)
            for i in range(connections)
        ]
        self._started = 0.0

    def start(self) -> LatencyProbe:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, phase: float) -> None:
        conn: http.client.HTTPConnection | None = None
        due = self._started + phase * self.interval
        latencies: list[float] = []
        errors = 0
        while not self._stop.is_set():
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.parts.netloc, timeout=60)
                conn.request("GET", self.parts.path, headers=self.headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors += 1
                latencies.append(time.monotonic() - due)
            except (OSError, http.client.HTTPException):
                errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            due += self.interval
        if conn is not None:
            conn.close()
        with self._lock:
            self._latencies.extend(latencies)
            self._errors += errors

    def stop(self) -> ProbeResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        return ProbeResult(self._latencies, self._errors, time.monotonic() - self._started)
