"""What a request leaves for the operator: an id in every answer, its metrics under bounded
labels, one log line, and for a server error the trace in the log and the id in the body.

Metrics are this process's (one registry in-process), so tests compare counts before and
after what they do."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cargohold.services.accounts import principals
from cargohold.services.lifecycle import gc
from cargohold.services.registry import manifests
from cargohold.web.ui import signin
from tests.functional.registry import Registry, digest_of, image_manifest, random_blob

TOKEN = "metrics-token-" + "x" * 20
METRICS = {"Authorization": f"Bearer {TOKEN}"}
NAME = "acme/web"
ID = re.compile(r"[0-9a-f]{12}-[0-9a-f]+")

with_metrics = pytest.mark.settings(metrics_token=TOKEN)


async def scrape(registry: Registry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics on the registry's listener, by name and labels."""
    response = await registry.client.get("/metrics", headers=METRICS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float],
    route: str,
    method: str,
    status: int,
) -> float:
    return value(
        samples, "cargohold_http_requests_total", route=route, method=method, status=str(status)
    )


# --------------------------------------------------------------------------- request ids


async def test_every_answer_carries_a_request_id_of_its_own(registry: Registry) -> None:
    found = [
        (await registry.client.get(path)).headers.get("x-request-id")
        for path in ("/v2/", f"/v2/{NAME}/manifests/missing", "/api/v1/nothing", "/healthz")
    ]

    assert all(rid is not None and ID.fullmatch(rid) for rid in found), found
    assert len(set(found)) == len(found)


async def test_a_request_id_a_client_sends_is_not_taken_without_a_trusted_proxy(
    registry: Registry,
) -> None:
    response = await registry.client.get("/v2/", headers={"X-Request-ID": "forged-id"})

    assert response.headers["x-request-id"] != "forged-id"


@pytest.mark.settings(trust_proxy_headers=True, trusted_proxies=["127.0.0.1"])
async def test_a_request_id_from_a_trusted_proxy_is_kept_and_returned(registry: Registry) -> None:
    response = await registry.client.get("/v2/", headers={"X-Request-ID": "lb-7f3a:42"})

    assert response.headers["x-request-id"] == "lb-7f3a:42"


@pytest.mark.settings(trust_proxy_headers=True, trusted_proxies=["10.0.0.0/8"])
async def test_a_request_id_from_a_peer_that_is_no_trusted_proxy_is_replaced(
    registry: Registry,
) -> None:
    response = await registry.client.get("/v2/", headers={"X-Request-ID": "lb-7f3a:42"})

    assert response.headers["x-request-id"] != "lb-7f3a:42"


@pytest.mark.settings(trust_proxy_headers=True)
async def test_a_malformed_request_id_from_a_trusted_proxy_is_replaced(registry: Registry) -> None:
    response = await registry.client.get("/v2/", headers={"X-Request-ID": "two words"})

    assert ID.fullmatch(response.headers["x-request-id"])


# --------------------------------------------------------------------------- /metrics


async def test_metrics_on_the_registrys_listener_are_404_without_a_metrics_token(
    registry: Registry,
) -> None:
    response = await registry.client.get("/metrics", headers=METRICS)

    assert response.status_code == 404


@with_metrics
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_metrics_on_the_registrys_listener_need_the_metrics_token(
    registry: Registry, headers: dict[str, str]
) -> None:
    response = await registry.client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "cargohold_" not in response.text


@with_metrics
async def test_requests_count_by_route_family_method_and_status(registry: Registry) -> None:
    before = await scrape(registry)
    image = image_manifest([random_blob()])
    await registry.push_image(NAME, "v1", image)
    await registry.client.get(f"/v2/{NAME}/manifests/v1")
    await registry.client.head(f"/v2/{NAME}/manifests/v1")
    await registry.client.get(f"/v2/{NAME}/manifests/v2")
    await registry.client.get(f"/v2/{NAME}/blobs/{digest_of(image.blobs[1])}")
    await registry.client.get(f"/v2/{NAME}/tags/list")
    await registry.client.get("/v2/")

    after = await scrape(registry)
    for route, method, status, count in [
        ("blob_upload_start", "POST", 201, 2),
        ("manifest_put", "PUT", 201, 1),
        ("manifest_get", "GET", 200, 1),
        ("manifest_get", "HEAD", 200, 1),
        ("manifest_get", "GET", 404, 1),
        ("blob_get", "GET", 200, 1),
        ("tags_list", "GET", 200, 1),
        ("v2_base", "GET", 200, 1),
    ]:
        assert (
            requests(after, route, method, status) - requests(before, route, method, status)
            == count
        ), (route, method, status)
    count = "cargohold_http_request_duration_seconds_count"
    assert (
        value(after, count, route="manifest_get") - value(before, count, route="manifest_get") == 3
    )


@with_metrics
async def test_every_surface_has_a_route_family(registry: Registry) -> None:
    before = await scrape(registry)
    await registry.client.get("/api/v1/nothing")
    await registry.client.get("/sign-in")
    await registry.client.get("/healthz")
    await registry.client.get("/token")
    await registry.client.get("/no/such/page")

    after = await scrape(registry)
    for route in ("api", "ui", "health", "token", "other"):
        total = sum(
            v - before.get(key, 0.0)
            for key, v in after.items()
            if key[0] == "cargohold_http_requests_total" and ("route", route) in key[1]
        )
        assert total == 1, route


@with_metrics
async def test_no_path_package_name_or_odd_method_ever_becomes_a_label(registry: Registry) -> None:
    await registry.client.get("/v2/secret-corp/launch-plans/manifests/q3")
    await registry.client.get("/no/such/secret-page")
    await registry.client.request("PROPFIND", "/v2/")

    response = await registry.client.get("/metrics", headers=METRICS)
    assert "secret" not in response.text
    assert "launch-plans" not in response.text
    assert "PROPFIND" not in response.text
    assert 'method="OTHER"' in response.text


@with_metrics
async def test_bytes_received_and_sent_count_by_route_family(registry: Registry) -> None:
    blob = random_blob(5000)
    before = await scrape(registry)
    await registry.push_blob(NAME, blob)
    await registry.client.get(f"/v2/{NAME}/blobs/{digest_of(blob)}")

    after = await scrape(registry)
    received = "cargohold_http_received_bytes_total"
    sent = "cargohold_http_sent_bytes_total"
    assert (
        value(after, received, route="blob_upload_start")
        - value(before, received, route="blob_upload_start")
        == 5000
    )
    assert value(after, sent, route="blob_get") - value(before, sent, route="blob_get") == 5000


@with_metrics
async def test_what_the_registry_holds_is_counted_in_gauges(registry: Registry) -> None:
    await registry.push_image(NAME, "v1", image_manifest([random_blob(300)]))
    await registry.start_upload(NAME)

    samples = await scrape(registry)
    assert value(samples, "cargohold_stored_blobs") == 2  # the layer and the config
    assert value(samples, "cargohold_stored_blob_bytes") > 300
    assert value(samples, "cargohold_packages") == 1
    assert value(samples, "cargohold_upload_sessions_open") == 1
    assert value(samples, "cargohold_db_connections_max") >= 1
    build = [k for k in samples if k[0] == "cargohold_build_info"]
    assert build and ("storage", registry.context.settings.storage) in build[0][1]


@with_metrics
async def test_a_garbage_collection_counts_its_run_and_what_it_freed(registry: Registry) -> None:
    await registry.push_blob(NAME, random_blob(4096))  # linked, named by no manifest
    before = await scrape(registry)

    report = await gc.collect(registry.context, grace=0)

    after = await scrape(registry)
    assert report.blobs == 1
    runs = "cargohold_gc_runs_total"
    assert value(after, runs, outcome="completed") - value(before, runs, outcome="completed") == 1
    assert (
        value(after, "cargohold_gc_freed_blobs_total")
        - value(before, "cargohold_gc_freed_blobs_total")
        == 1
    )
    assert (
        value(after, "cargohold_gc_freed_bytes_total")
        - value(before, "cargohold_gc_freed_bytes_total")
        >= 4096
    )
    assert value(after, "cargohold_gc_last_completed_timestamp_seconds") > 0


@with_metrics
async def test_store_calls_are_timed_by_operation(registry: Registry) -> None:
    before = await scrape(registry)
    await registry.push_blob(NAME, random_blob())

    after = await scrape(registry)
    count = "cargohold_storage_operation_duration_seconds_count"
    for operation in ("start_upload", "append_upload", "publish_upload"):
        assert value(after, count, operation=operation) > value(
            before, count, operation=operation
        ), operation


# --------------------------------------------------------------------------- server errors


def _broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("secret internals")


def _error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]


async def test_a_server_error_on_v2_names_its_request_id_and_is_logged_once_with_its_trace(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(manifests, "list_tags", _broken)
    registry.client.event_hooks["response"] = []  # this 500 is the point of the test
    await registry.push_blob(NAME, random_blob())

    response = await registry.client.get(f"/v2/{NAME}/tags/list")

    rid = response.headers["x-request-id"]
    assert response.status_code == 500
    [error] = response.json()["errors"]
    assert (error["code"], error["detail"]) == ("UNKNOWN", {"request_id": rid})
    assert "secret internals" not in response.text
    [record] = _error_records(caplog)
    assert rid in record.getMessage()
    assert "secret internals" in (
        record.exc_text or logging.Formatter().formatException(record.exc_info)
    )  # type: ignore[arg-type]


async def test_a_server_error_in_the_api_is_problem_json_naming_its_request_id(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(principals, "principal_for_token", _broken)
    registry.client.event_hooks["response"] = []

    response = await registry.client.get("/api/v1/user", headers={"Authorization": "Bearer x"})

    rid = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["request_id"], problem["instance"]) == (rid, f"urn:cargohold:request:{rid}")
    assert "secret internals" not in response.text
    [record] = _error_records(caplog)
    assert rid in record.getMessage()


async def test_a_server_error_in_the_ui_is_a_page_naming_its_request_id(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(signin, "safe_next", _broken)
    registry.client.event_hooks["response"] = []

    response = await registry.client.get("/sign-in")

    rid = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert f'<code class="request-id">{rid}</code>' in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text
    [record] = _error_records(caplog)
    assert rid in record.getMessage()


@with_metrics
async def test_a_server_error_counts_as_a_500_of_its_route(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifests, "list_tags", _broken)
    registry.client.event_hooks["response"] = []
    await registry.push_blob(NAME, random_blob())
    before = await scrape(registry)

    await registry.client.get(f"/v2/{NAME}/tags/list")

    after = await scrape(registry)
    assert requests(after, "tags_list", "GET", 500) - requests(before, "tags_list", "GET", 500) == 1


# --------------------------------------------------------------------------- access log


def _access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cargohold.access"]


@pytest.mark.settings(log_format="json")
async def test_json_logs_have_one_access_record_per_request_with_its_fields(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cargohold.access")
    blob = random_blob(1000)
    await registry.push_blob(NAME, blob)
    caplog.clear()

    response = await registry.client.get(f"/v2/{NAME}/blobs/{digest_of(blob)}")

    [record] = _access(caplog)
    fields = record.access  # type: ignore[attr-defined]
    assert fields["request_id"] == response.headers["x-request-id"]
    assert (fields["method"], fields["route"], fields["status"]) == ("GET", "blob_get", 200)
    assert (fields["package"], fields["sent_bytes"], fields["received_bytes"]) == (NAME, 1000, 0)
    assert fields["client"] == "127.0.0.1"
    assert fields["duration_ms"] >= 0
    json.dumps(fields)


async def test_text_logs_write_no_request_lines_unless_asked(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cargohold.access")
    await registry.client.get("/v2/")

    assert _access(caplog) == []


@pytest.mark.settings(access_log=True)
async def test_a_text_access_line_keeps_its_start_and_adds_the_request_fields(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cargohold.access")
    response = await registry.raw("GET", "/v2/acme/web/manifests/v1%1b[31m%22forged")

    [record] = _access(caplog)
    line = record.getMessage()
    path = re.escape("/v2/acme/web/manifests/v1\\x1b[31m\\x22forged")
    assert re.match(rf'\[[^]]+\] 127\.0\.0\.1 - "GET {path} HTTP/1\.1" 404 [0-9.]+ ', line), line
    assert f"id={response.headers['x-request-id']} route=manifest_get package=acme/web" in line
    assert "\x1b" not in line


@pytest.mark.settings(access_log=True, trust_proxy_headers=True, trusted_proxies=["127.0.0.1"])
async def test_behind_a_trusted_proxy_the_line_names_the_client_it_saw(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cargohold.access")
    await registry.client.get("/v2/", headers={"X-Forwarded-For": "203.0.113.9"})

    [record] = _access(caplog)
    assert "] 203.0.113.9 - " in record.getMessage()


async def test_a_response_header_the_app_sets_is_kept_beside_the_request_id(
    registry: Registry,
) -> None:
    response = await registry.client.get("/v2/")

    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    assert isinstance(response, httpx.Response) and "x-request-id" in response.headers
