"""The Prometheus metrics of a process, and the cheap ways to record them.

This module imports nothing but prometheus_client and the standard library, so that
every layer may record (web, services, metadata, storage); what serves the metrics is
web/exposition.py. docs/operations.md lists the metrics and what to alert on.

`cargohold serve` runs several worker processes; it gives them a private directory
(PROMETHEUS_MULTIPROC_DIR) in which prometheus_client's multiprocess mode keeps each
process's values in memory-mapped files, and the metrics server adds them up. A write
there costs about 2 µs (a lock and an mmap write), which every request would pay a few
times over: so requests and storage calls are *tallied* here in plain per-process
objects (one dict hit and a few additions), and `flush()`, every second in each worker
and before every scrape a worker answers, adds the tallies to the shared values and
sets the process's gauges. Rare events (a token, a login, a garbage collection) are
written at once.

Labels are bounded: routes are the route families of docs/operations.md (never a raw
path or a package name), methods outside the standard ones count as `OTHER`, statuses
are HTTP status codes.
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_left
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# Seconds. Registry requests range from a cached manifest (sub-millisecond) to a blob
# upload of many minutes.
REQUEST_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
)  # fmt: skip
STORAGE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
)  # fmt: skip
FLUSH_INTERVAL = 1.0
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series, as in multiprocess mode
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))

# --------------------------------------------------------------------------- the metrics

HTTP_REQUESTS = Counter(
    "cargohold_http_requests",
    "HTTP requests answered, by route family, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "cargohold_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route family.",
    ["route"],
    buckets=REQUEST_BUCKETS,
)
HTTP_RECEIVED = Counter(
    "cargohold_http_received_bytes", "Request body bytes received, by route family.", ["route"]
)
HTTP_SENT = Counter(
    "cargohold_http_sent_bytes", "Response body bytes sent, by route family.", ["route"]
)
HTTP_IN_FLIGHT = Gauge(
    "cargohold_http_requests_in_flight",
    "Requests being answered now.",
    multiprocess_mode="livesum",
)
STORAGE_DURATION = Histogram(
    "cargohold_storage_operation_duration_seconds",
    "Time of blob store operations, by operation (for streams: until the first item).",
    ["operation"],
    buckets=STORAGE_BUCKETS,
)
STORAGE_ERRORS = Counter(
    "cargohold_storage_errors",
    "Blob store operations that failed, by operation and kind (unavailable: the store"
    " could not be reached or refused us; other: anything else).",
    ["operation", "kind"],
)
DB_IN_USE = Gauge(
    "cargohold_db_connections_in_use",
    "Database connections held by a request or task now (SQLite: its one connection,"
    " while a transaction holds it).",
    multiprocess_mode="livesum",
)
DB_MAX = Gauge(
    "cargohold_db_connections_max",
    "Database connections the processes may open (the pool sizes).",
    multiprocess_mode="livesum",
)
DB_WAITS = Counter(
    "cargohold_db_pool_waits",
    "Times a request had to wait for a database connection (every one was in use).",
)
DB_WAIT_SECONDS = Counter(
    "cargohold_db_pool_wait_seconds", "Time spent waiting for a database connection."
)
TOKENS_ISSUED = Counter(
    "cargohold_tokens_issued", "Registry bearer tokens issued at /token (refresh tokens too)."
)
TOKENS_REFUSED = Counter(
    "cargohold_tokens_refused",
    "Requests at /token refused, by OAuth2 error (invalid_grant: wrong credentials;"
    " slow_down: login throttled; invalid_scope, invalid_request, ...).",
    ["error"],
)
LOGINS = Counter(
    "cargohold_logins",
    "Logins with credentials (/token, Basic on /v2 and /api/v1, UI sign-in), by credential"
    " (token, password, or oidc: a CI job's ID token) and outcome (accepted, refused,"
    " throttled: refused without a check while the limits block the account and address,"
    " busy: too many password checks queued).",
    ["credential", "outcome"],
)
GC_RUNS = Counter(
    "cargohold_gc_runs", "Garbage collections run, by outcome (completed, failed).", ["outcome"]
)
GC_FREED_BLOBS = Counter("cargohold_gc_freed_blobs", "Blobs garbage collection deleted.")
GC_FREED_BYTES = Counter(
    "cargohold_gc_freed_bytes", "Bytes garbage collection freed (blobs and leftovers)."
)
GC_DELETED_MANIFESTS = Counter(
    "cargohold_gc_deleted_manifests", "Manifests garbage collection (and retention) deleted."
)
GC_LAST_COMPLETED = Gauge(
    "cargohold_gc_last_completed_timestamp_seconds",
    "When a garbage collection last completed on this node (since the server started).",
    multiprocess_mode="max",
)

_LOGINS = {
    (credential, outcome): LOGINS.labels(credential, outcome)
    for credential in ("token", "password", "oidc")
    for outcome in ("accepted", "refused", "throttled", "busy")
}


def count_login(credential: str, outcome: str) -> None:
    _LOGINS[(credential, outcome)].inc()


def count_refused_token(error: str) -> None:
    TOKENS_REFUSED.labels(error[:40]).inc()


def count_collection(
    *, completed: bool, manifests: int = 0, blobs: int = 0, freed_bytes: int = 0
) -> None:
    if not completed:
        GC_RUNS.labels("failed").inc()
        return
    GC_RUNS.labels("completed").inc()
    GC_DELETED_MANIFESTS.inc(manifests)
    GC_FREED_BLOBS.inc(blobs)
    GC_FREED_BYTES.inc(freed_bytes)
    GC_LAST_COMPLETED.set(time.time())


# --------------------------------------------------------------------------- the tallies


class _Tally:
    """Requests with one (route, method, status) since the last flush."""

    __slots__ = ("buckets", "count", "received", "seconds", "sent")

    def __init__(self) -> None:
        self.count = 0
        self.received = 0
        self.sent = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(REQUEST_BUCKETS) + 1)  # the last one is +Inf


class _Timings:
    """Calls of one storage operation since the last flush."""

    __slots__ = ("buckets", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.buckets = [0] * (len(STORAGE_BUCKETS) + 1)


@dataclass(slots=True)
class Process:
    """This process's gauges and the database pool's figures, as plain numbers."""

    in_flight: int = 0
    db_in_use: int = 0
    db_max: int = 0
    db_waits: int = 0
    db_wait_seconds: float = 0.0


PROCESS = Process()
_requests: dict[tuple[str, str, int], _Tally] = {}
_storage: dict[str, _Timings] = {}
_storage_errors: dict[tuple[str, str], int] = {}


def _forget_parent() -> None:
    """In a forked child (a server worker): what the parent counted and holds is its own."""
    global PROCESS
    PROCESS = Process()
    _requests.clear()
    _storage.clear()
    _storage_errors.clear()


os.register_at_fork(after_in_child=_forget_parent)


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


def observe_request(
    route: str, method: str, status: int, seconds: float, received: int, sent: int
) -> None:
    """One request answered (`method` already a `method_label`)."""
    tally = _requests.get((route, method, status))
    if tally is None:
        tally = _requests[(route, method, status)] = _Tally()
    tally.count += 1
    tally.received += received
    tally.sent += sent
    tally.seconds += seconds
    tally.buckets[bisect_left(REQUEST_BUCKETS, seconds)] += 1


def observe_storage(operation: str, seconds: float, error: str | None = None) -> None:
    """One storage call: its time, and the kind of error it raised, if it failed."""
    timings = _storage.get(operation)
    if timings is None:
        timings = _storage[operation] = _Timings()
    timings.seconds += seconds
    timings.buckets[bisect_left(STORAGE_BUCKETS, seconds)] += 1
    if error is not None:
        count_storage_error(operation, error)


def count_storage_error(operation: str, kind: str | None) -> None:
    """A storage call that failed after it had answered (a stream, midway)."""
    if kind is not None:
        _storage_errors[(operation, kind)] = _storage_errors.get((operation, kind), 0) + 1


def _add_to_histogram(child: Histogram, buckets: list[int], seconds: float) -> None:
    """Add tallied observations to a histogram's values. prometheus_client has no call for
    many observations at once; its `observe` does exactly this for one (a test checks that
    the result is the same)."""
    child._sum.inc(seconds)
    for index, count in enumerate(buckets):
        if count:
            child._buckets[index].inc(count)
            buckets[index] = 0


def flush() -> None:
    """Add the tallies to the metrics and set this process's gauges (see the module's
    docstring). Runs on the event loop, as the tallies are written: no lock needed."""
    for (route, method, status), tally in _requests.items():
        if not tally.count:
            continue
        HTTP_REQUESTS.labels(route, method, str(status)).inc(tally.count)
        _add_to_histogram(HTTP_DURATION.labels(route), tally.buckets, tally.seconds)
        if tally.received:
            HTTP_RECEIVED.labels(route).inc(tally.received)
        if tally.sent:
            HTTP_SENT.labels(route).inc(tally.sent)
        tally.count = tally.received = tally.sent = 0
        tally.seconds = 0.0
    for operation, timings in _storage.items():
        if any(timings.buckets):
            _add_to_histogram(STORAGE_DURATION.labels(operation), timings.buckets, timings.seconds)
            timings.seconds = 0.0
    for (operation, kind), count in list(_storage_errors.items()):
        if count:
            STORAGE_ERRORS.labels(operation, kind).inc(count)
            _storage_errors[(operation, kind)] = 0
    state = PROCESS
    HTTP_IN_FLIGHT.set(state.in_flight)
    DB_IN_USE.set(state.db_in_use)
    DB_MAX.set(state.db_max)
    if state.db_waits:
        DB_WAITS.inc(state.db_waits)
        DB_WAIT_SECONDS.inc(state.db_wait_seconds)
        state.db_waits, state.db_wait_seconds = 0, 0.0


async def flush_every(interval: float = FLUSH_INTERVAL) -> None:
    """Flush until cancelled; a last flush then, so a stopping worker loses nothing."""
    try:
        while True:
            await asyncio.sleep(interval)
            flush()
    finally:
        flush()
