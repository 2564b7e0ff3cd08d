"""A real Prometheus (Debian's `prometheus`) scrapes a live `cargohold serve` at its
`CARGOHOLD_METRICS_ADDRESS` every second, with the example rules of docs/ loaded; clients
push, pull and fail a login, and Prometheus's HTTP API shows what an operator alerts on.

Also live: the metrics are not on the registry's own listener, they outlast a worker that
dies, and `CARGOHOLD_LOG_FORMAT=json` writes one JSON object per request line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import backends
from tests.backends import free_port, scale_out_environment

from ._support import get_manifest, log_tail, push_small_image, run, tool

pytestmark = pytest.mark.interop

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus-rules.yml"
READY_TIMEOUT = 30.0
SEEN_TIMEOUT = 30.0  # scrapes come every second; a loaded machine gets room
EMAIL = "ops@example.com"
PACKAGE = "ops/web"
PULLS = 5
WORKER_PID = re.compile(r"Spawning worker-1 with PID: (\d+)")


@dataclass
class Metered:
    """A `cargohold serve --auth token` with its metrics server."""

    url: str
    metrics_url: str
    metrics_address: str
    log_path: Path
    process: subprocess.Popen[bytes]
    token: str = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pid(self) -> int:
        return int(WORKER_PID.findall(self.log())[-1])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s", pytrace=False)
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's own session, then SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def start_server(workdir: Path, env: dict[str, str], auth: str) -> Metered:
    port, metrics_port = free_port(), free_port()
    address = f"127.0.0.1:{metrics_port}"
    log_path = workdir / "server.log"
    cmd = [
        sys.executable, "-m", "cargohold", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(workdir / "data"), "--auth", auth, "--workers", "2",
    ]  # fmt: skip
    env = {**env, "CARGOHOLD_METRICS_ADDRESS": address, "CARGOHOLD_LOG_FORMAT": "json"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
            env=env, start_new_session=True,
        )  # fmt: skip
    server = Metered(
        f"http://127.0.0.1:{port}", f"http://{address}/metrics", address, log_path, process
    )
    try:
        wait_until(
            lambda: (
                process.poll() is not None
                or (
                    log_path.read_text().count("Started worker-") >= 2
                    and answers(f"{server.url}/v2/")
                )
            ),
            READY_TIMEOUT,
            "ready server",
        )
        assert process.poll() is None, log_tail(log_path)
    except BaseException:
        stop(process)
        raise
    return server


def cargohold(env: dict[str, str], data_dir: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(data_dir)]
    return run(cmd, timeout=60, env=env).out.strip()


@pytest.fixture(scope="module")
def environment(request: pytest.FixtureRequest) -> dict[str, str]:
    """The servers' environment: CARGOHOLD_TEST_BACKEND=postgres-s3 gives them a PostgreSQL
    database and a SeaweedFS prefix of their own."""
    if backends.test_backend() != "postgres-s3":
        return dict(os.environ)
    pg, store = (request.getfixturevalue(f) for f in ("postgres_server", "seaweedfs_server"))
    return scale_out_environment(pg, store, "prometheus")


@pytest.fixture(scope="module")
def metered(
    tmp_path_factory: pytest.TempPathFactory, environment: dict[str, str]
) -> Iterator[Metered]:
    workdir = tmp_path_factory.mktemp("metered")
    data_dir = workdir / "data"
    cargohold(environment, data_dir, "user", "create", EMAIL)
    cargohold(environment, data_dir, "workspace", "create", "ops", "--owner", EMAIL)
    cargohold(environment, data_dir, "project", "create", "ops", "OPS")
    cargohold(environment, data_dir, "repo", "create", PACKAGE, "--project", "OPS")
    cargohold(environment, data_dir, "package", "create", PACKAGE, "--repo", "web")
    token = cargohold(
        environment, data_dir, "token", "create", EMAIL, "--name", "ci", "--scope",
        "write:package", "--expires", "1d",
    )  # fmt: skip
    server = start_server(workdir, environment, auth="token")
    server.token = token
    try:
        yield server
    finally:
        stop(server.process)


@dataclass
class Prometheus:
    url: str
    log_path: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, expr: str) -> float:
        """The query's one value (0 when it has none)."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    def wait_for(self, expr: str, at_least: float) -> float:
        """Wait until `expr` reaches `at_least` (the next scrapes bring it)."""
        found = [0.0]

        def reached() -> bool:
            found[0] = self.value(expr)
            return found[0] >= at_least

        deadline = time.monotonic() + SEEN_TIMEOUT
        while not reached():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Prometheus: {expr} is {found[0]}, not >= {at_least} after {SEEN_TIMEOUT}"
                    f" s\n{log_tail(self.log_path, lines=30)}",
                    pytrace=False,
                )
            time.sleep(0.5)
        return found[0]


@pytest.fixture(scope="module")
def prometheus(metered: Metered, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus on 127.0.0.1, scraping `metered` every second, with docs/' rules."""
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {
                    "scrape_interval": "1s",
                    "scrape_timeout": "1s",
                    "evaluation_interval": "1s",
                },
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {
                        "job_name": "cargohold",
                        "static_configs": [{"targets": [metered.metrics_address]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    log_path = workdir / "prometheus.log"
    cmd = [
        tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is not None or answers(f"{url}/-/ready"),
            READY_TIMEOUT,
            "ready Prometheus",
        )
        assert process.poll() is None, log_tail(log_path)
        yield Prometheus(url, log_path)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def traffic(metered: Metered, prometheus: Prometheus) -> None:
    """What the tests look for: a push and some pulls with a registry token, and a login
    with a wrong password."""
    refused = httpx.get(f"{metered.url}/token", auth=(EMAIL, "not the password"), timeout=30)
    assert refused.status_code == 401
    granted = httpx.get(
        f"{metered.url}/token",
        params={"service": "cargohold", "scope": f"repository:{PACKAGE}:pull,push"},
        auth=(EMAIL, metered.token),
        timeout=30,
    )
    assert granted.status_code == 200, granted.text
    headers = {"Authorization": f"Bearer {granted.json()['token']}"}
    with httpx.Client(base_url=metered.url, headers=headers, timeout=60) as client:
        push_small_image(client, PACKAGE, "v1", {"hello.txt": b"hello\n"})
        for _ in range(PULLS):
            get_manifest(client, PACKAGE, "v1")


def requests(route: str, status: int, method: str | None = None) -> str:
    labels = f'route="{route}",status="{status}"' + (f',method="{method}"' if method else "")
    return f"sum(cargohold_http_requests_total{{{labels}}})"


@pytest.mark.usefixtures("traffic")
def test_prometheus_sees_pushes_and_pulls_by_route_family_and_status(
    prometheus: Prometheus,
) -> None:
    assert prometheus.wait_for(requests("manifest_get", 200, "GET"), PULLS) >= PULLS
    assert prometheus.wait_for(requests("manifest_put", 201, "PUT"), 1) == 1
    assert prometheus.wait_for(requests("blob_upload_start", 202, "POST"), 2) == 2
    assert prometheus.wait_for(requests("blob_upload_put", 201, "PUT"), 2) == 2
    assert prometheus.value(requests("manifest_put", 500)) == 0
    assert prometheus.wait_for(
        'sum(cargohold_http_request_duration_seconds_count{route="manifest_get"})', PULLS
    )
    assert prometheus.wait_for(
        'sum(cargohold_http_received_bytes_total{route="blob_upload_put"})', 1
    )


@pytest.mark.usefixtures("traffic")
def test_prometheus_sees_a_refused_login_and_the_token_issued(prometheus: Prometheus) -> None:
    prometheus.wait_for('sum(cargohold_tokens_refused_total{error="invalid_grant"})', 1)
    prometheus.wait_for('sum(cargohold_logins_total{credential="password",outcome="refused"})', 1)
    prometheus.wait_for("sum(cargohold_tokens_issued_total)", 1)
    prometheus.wait_for(requests("token", 401), 1)


@pytest.mark.usefixtures("traffic")
def test_prometheus_sees_what_the_registry_holds_and_its_build(prometheus: Prometheus) -> None:
    prometheus.wait_for("max(cargohold_packages)", 1)
    prometheus.wait_for("max(cargohold_stored_blobs)", 2)  # the layer and the config
    storage = "s3" if backends.test_backend() == "postgres-s3" else "filesystem"
    [build] = prometheus.query("cargohold_build_info")
    assert build["metric"]["storage"] == storage
    assert prometheus.value("max(cargohold_db_connections_max)") >= 2  # two workers


@pytest.mark.usefixtures("traffic")
def test_the_example_recording_rules_produce_series(prometheus: Prometheus) -> None:
    prometheus.wait_for(
        'count(cargohold:http_requests:rate5m{route="manifest_get",status="200"})', 1
    )
    prometheus.wait_for("count(cargohold:http_server_errors:ratio_rate5m)", 1)
    alerts = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    names = {rule["name"] for group in alerts for rule in group["rules"]}
    assert {"CargoholdServerErrors", "CargoholdLoginThrottling"} <= names
    assert all(rule["health"] == "ok" for group in alerts for rule in group["rules"]), alerts


def test_the_registrys_own_listener_does_not_serve_metrics(metered: Metered) -> None:
    response = httpx.get(f"{metered.url}/metrics", timeout=10)

    assert response.status_code == 404
    assert "cargohold_" not in response.text


@pytest.mark.usefixtures("traffic")
def test_json_logs_write_one_object_per_request_line(metered: Metered) -> None:
    wait_until(lambda: '"route": "manifest_get"' in metered.log(), 10, "logged pull")
    lines = metered.log().splitlines()
    started = next(i for i, line in enumerate(lines) if line.startswith("cargohold listening on"))
    objects = [json.loads(line) for line in lines[started + 1 :]]  # the server's: all JSON
    pulls = [o for o in objects if o.get("route") == "manifest_get"]
    assert len(pulls) >= PULLS
    for pull in pulls:
        assert {"request_id", "method", "route", "status", "duration_ms"} <= pull.keys()
        assert (pull["method"], pull["status"], pull["package"]) == ("GET", 200, PACKAGE)
        assert pull["principal"] == EMAIL
    assert metered.token not in metered.log()


def test_counts_outlast_a_worker_that_dies(tmp_path: Path, environment: dict[str, str]) -> None:
    server = start_server(tmp_path, environment, auth="none")
    try:
        for _ in range(7):
            httpx.get(f"{server.url}/v2/", timeout=10)
        counted = 'cargohold_http_requests_total{method="GET",route="v2_base",status="200"}'

        def total() -> float:
            text = httpx.get(server.metrics_url, timeout=10).text
            return sum(float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith(counted))

        wait_until(lambda: total() >= 7, 10, "7 requests counted")
        before = total()
        victim = server.worker_pid()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: server.worker_pid() != victim, 30, "a new worker-1")

        assert total() >= before
        assert server.process.poll() is None
    finally:
        stop(server.process)


def test_the_example_rules_pass_promtool(tmp_path: Path) -> None:
    checked = run([tool("promtool"), "check", "rules", str(RULES)], timeout=60)
    assert "SUCCESS" in checked.out + checked.err

    tests = tmp_path / "rules-test.yml"
    tests.write_text(json.dumps(ALERT_TESTS))  # JSON is YAML
    run([tool("promtool"), "test", "rules", str(tests)], timeout=60)


# `promtool test rules`: the alerts fire on the series that should fire them, and only then.
ALERT_TESTS = {
    "rule_files": [str(RULES)],
    "evaluation_interval": "1m",
    "tests": [
        {
            "interval": "1m",
            "input_series": [
                {
                    "series": 'cargohold_http_requests_total{route="manifest_get",method="GET",'
                    'status="200",instance="a",job="cargohold"}',
                    "values": "0+100x20",
                },
                {
                    "series": 'cargohold_http_requests_total{route="manifest_get",method="GET",'
                    'status="500",instance="a",job="cargohold"}',
                    "values": "0+10x20",
                },
                {
                    "series": 'cargohold_logins_total{credential="password",outcome="throttled",'
                    'instance="a",job="cargohold"}',
                    "values": "0+0x20",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "15m",
                    "alertname": "CargoholdServerErrors",
                    "exp_alerts": [
                        {
                            "exp_labels": {"severity": "page"},
                            "exp_annotations": {
                                "summary": "More than 1% of registry requests answer 5xx",
                                "description": "Find the traceback in the log by the"
                                " X-Request-ID of a failed request.",
                            },
                        }
                    ],
                },
                {"eval_time": "15m", "alertname": "CargoholdLoginThrottling", "exp_alerts": []},
            ],
        }
    ],
}
