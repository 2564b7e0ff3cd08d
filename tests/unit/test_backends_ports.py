"""The test fixtures' free ports (tests/backends.py): never the same one twice."""

from __future__ import annotations

import random

import pytest

from tests import backends


def test_ports_asked_for_before_any_is_bound_are_all_different(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SeaweedFS takes eight ports before it binds any: a repeat made two of its
    listeners fight for one (a CI run failed so)."""
    monkeypatch.setattr(backends, "_HANDED_OUT", set())
    candidates = [24001, 24002, 24003]
    monkeypatch.setattr(random, "sample", lambda population, k: list(candidates))
    first, second, third = (backends.free_port() for _ in range(3))
    assert len({first, second, third}) == 3


def test_a_port_handed_out_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_HANDED_OUT", set())
    ports = [backends.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
