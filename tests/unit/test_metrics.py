"""The hot path tallies requests and storage calls in plain objects; a flush hands them to
prometheus_client, with the same result as recording each one there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest

from cargohold import metrics


def sample(name: str, **labels: str) -> float:
    """The value of one sample of this process's metrics (0 when it has none)."""
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


@pytest.fixture(autouse=True)
def flushed() -> Iterator[None]:
    """Each test starts with nothing tallied, and leaves nothing tallied."""
    metrics.flush()
    yield
    metrics.flush()


def test_a_tallied_request_reaches_the_counters_only_when_flushed() -> None:
    labels = {"route": "unit_manifest_get", "method": "GET", "status": "200"}
    before = sample("cargohold_http_requests_total", **labels)

    metrics.observe_request("unit_manifest_get", "GET", 200, 0.002, 0, 512)
    tallied = sample("cargohold_http_requests_total", **labels)
    metrics.flush()

    assert tallied == before
    assert sample("cargohold_http_requests_total", **labels) == before + 1
    assert sample("cargohold_http_sent_bytes_total", route="unit_manifest_get") >= 512


def test_flushed_durations_give_the_histogram_that_observing_each_one_gives() -> None:
    seconds = [0.0004, 0.001, 0.003, 0.003, 0.2, 7.0, 1000.0]
    registry = CollectorRegistry()
    reference = Histogram(
        "unit_reference_seconds", "reference", buckets=metrics.REQUEST_BUCKETS, registry=registry
    )
    for value in seconds:
        reference.observe(value)
        metrics.observe_request("unit_histogram", "GET", 200, value, 0, 0)
    metrics.flush()

    for bound in [*(str(b) for b in metrics.REQUEST_BUCKETS), "+Inf"]:
        wanted = registry.get_sample_value("unit_reference_seconds_bucket", {"le": bound})
        found = sample(
            "cargohold_http_request_duration_seconds_bucket", route="unit_histogram", le=bound
        )
        assert found == wanted, bound
    assert sample("cargohold_http_request_duration_seconds_count", route="unit_histogram") == 7
    assert sample(
        "cargohold_http_request_duration_seconds_sum", route="unit_histogram"
    ) == pytest.approx(sum(seconds))


def test_methods_outside_the_standard_ones_count_as_other() -> None:
    assert metrics.method_label("GET") == "GET"
    assert metrics.method_label("PROPFIND") == "OTHER"
    assert metrics.method_label("get") == "OTHER"


def test_a_storage_call_that_failed_counts_as_an_error_of_its_kind() -> None:
    before = sample("cargohold_storage_errors_total", operation="unit_read", kind="unavailable")

    metrics.observe_storage("unit_read", 0.01, "unavailable")
    metrics.observe_storage("unit_read", 0.01)
    metrics.flush()

    assert sample("cargohold_storage_errors_total", operation="unit_read", kind="unavailable") == (
        before + 1
    )
    assert sample("cargohold_storage_operation_duration_seconds_count", operation="unit_read") == 2


def test_the_process_gauges_are_set_at_each_flush() -> None:
    metrics.PROCESS.in_flight += 3
    try:
        metrics.flush()
        assert sample("cargohold_http_requests_in_flight") == 3
    finally:
        metrics.PROCESS.in_flight -= 3
    metrics.flush()
    assert sample("cargohold_http_requests_in_flight") == 0


def test_a_forked_worker_starts_with_nothing_its_parent_tallied_or_held() -> None:
    parent = metrics.PROCESS
    metrics.observe_request("unit_fork", "GET", 200, 0.001, 0, 0)
    try:
        metrics._forget_parent()  # what os.fork runs in the child
        assert metrics.Process() == metrics.PROCESS
        assert not metrics._requests
    finally:
        metrics.PROCESS = parent


def test_the_exposition_has_no_created_series() -> None:
    metrics.observe_request("unit_exposition", "GET", 200, 0.001, 0, 0)
    metrics.flush()

    assert b"_created" not in generate_latest(REGISTRY)
