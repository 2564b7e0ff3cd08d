"""Property-based fuzzing of every surface, in-process on SQLite and the filesystem.

Two hypothesis profiles, chosen by `CARGOHOLD_FUZZ_PROFILE`:

- `ci` (the default): derandomized (the same cases every run), 2,000 cases per surface;
- `fuzz` (`make fuzz`): random, 10,000 cases per surface, failing cases printed with the
  blob that reproduces them (`@reproduce_failure`).

`CARGOHOLD_FUZZ_EXAMPLES=N` sets the number of cases per surface in either profile. The
profiles apply to the tests in this folder only (each test takes `FUZZ`, below), never to
the hypothesis tests elsewhere in the suite.

These tests run once per test run: scripts/test's second pass (PostgreSQL + S3) runs
tests/functional and tests/interop only. Each surface builds its world once (harness.py)
and runs every case against it; the invariants are listed in harness.py.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.harness import STATS, Fuzz, cheap_passwords, close_fuzz, fuzz_settings, open_fuzz

PROFILE_ENV = "CARGOHOLD_FUZZ_PROFILE"
EXAMPLES_ENV = "CARGOHOLD_FUZZ_EXAMPLES"
PROFILES = {"ci": 2_000, "fuzz": 10_000}

_COMMON: dict[str, Any] = {
    "deadline": None,  # each request is bounded by harness.REQUEST_TIMEOUT instead
    "database": None,
    "print_blob": True,
    "stateful_step_count": 20,
    "suppress_health_check": [
        # One world per surface, on purpose: every case runs against the same registry.
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
}
settings.register_profile("cargohold-ci", max_examples=PROFILES["ci"], derandomize=True, **_COMMON)
settings.register_profile("cargohold-fuzz", max_examples=PROFILES["fuzz"], **_COMMON)


def _active() -> settings:
    name = os.environ.get(PROFILE_ENV, "").strip() or "ci"
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={name!r}; expected one of {sorted(PROFILES)}")
    profile = settings.get_profile(f"cargohold-{name}")
    examples = os.environ.get(EXAMPLES_ENV, "").strip()
    return settings(profile, max_examples=int(examples)) if examples else profile


settings.register_profile("cargohold-active", _active())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder carries the `fuzz` marker (`-m "not fuzz"` leaves them out)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.fuzz)


@pytest.fixture
def open_surface(tmp_path: Path) -> Iterator[Callable[..., Fuzz]]:
    """`open_surface(name, **settings)`: a new world for one surface, on its own event loop."""
    runner = asyncio.Runner()
    opened: dict[str, Fuzz] = {}

    def open_(surface: str, **fields: Any) -> Fuzz:
        """The surface's world: made on the first case, the same one for every later case."""
        if surface not in opened:
            data = tmp_path / surface
            opened[surface] = runner.run(open_fuzz(surface, runner, fuzz_settings(data, **fields)))
        return opened[surface]

    with cheap_passwords():
        try:
            yield open_
            for fuzz in opened.values():  # the last check of each surface: the kept images pull
                runner.run(fuzz.check_kept())
        finally:
            for fuzz in opened.values():
                runner.run(close_fuzz(fuzz))
            runner.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS:
        return
    terminalreporter.section("fuzz surfaces")
    for surface, stats in STATS.items():
        common = ", ".join(f"{status}: {n}" for status, n in stats.statuses.most_common(8))
        terminalreporter.write_line(
            f"{surface}: {stats.cases} cases, {stats.requests} requests in"
            f" {stats.seconds:.1f} s, {stats.setup:.1f} s of it setting up ({common})"
        )
        for finding, n in stats.findings.most_common():
            terminalreporter.write_line(f"    {n} x {finding}")
