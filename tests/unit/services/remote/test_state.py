"""What a process knows of its mirrors: which names may need a look upstream on a hit."""

from __future__ import annotations

import time

from cargohold.services.remote.state import MirrorState


def test_a_stale_set_of_mirrors_asks_for_a_look() -> None:
    assert MirrorState().watches("acme/web/api")


def test_a_fresh_set_watches_only_the_mirrors_packages() -> None:
    state = MirrorState()
    state.known(frozenset({"acme/hub"}))
    assert state.watches("acme/hub/busybox")
    assert not state.watches("acme/web/api")
    assert not state.watches("acme/hub")


def test_no_mirrors_means_no_look() -> None:
    state = MirrorState()
    state.known(frozenset())
    assert not state.watches("acme/hub/busybox")


def test_the_set_goes_stale_after_its_lifetime() -> None:
    state = MirrorState()
    state.known(frozenset())
    state.stale_at = time.monotonic() - 1
    assert state.stale() and state.watches("acme/hub/busybox")
