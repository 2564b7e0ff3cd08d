"""What one process keeps in memory for its mirrors (services/registry/pull_through.py):
the clients of their upstreams (with the tokens they hold), the blob fetches in flight (one
per digest), and which package names are mirrored, so that a cached tag is checked upstream
after its TTL without a query on every pull of other packages."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from cargohold.services.remote.client import Remote

# How long the set of mirrored names is trusted before it is read again: a mirror made
# through another node (or the CLI) is known here within this many seconds.
INDEX_LIFETIME = 30.0


@dataclass
class MirrorState:
    remotes: dict[tuple[int, float], Remote] = field(default_factory=dict)
    flights: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    names: frozenset[str] = frozenset()  # WORKSPACE/PREFIX of every mirror
    stale_at: float = 0.0  # monotonic time after which `names` is read again
    fetches: int = 0  # blob fetches from upstreams this process made (for tests, metrics)

    def watches(self, name: str) -> bool:
        """Whether a cached pull of `name` may need a look upstream: True when `name` is a
        mirror's package, or when the set of mirrors is due to be read again. A few hundred
        nanoseconds, no I/O: cheap enough for the hit path of a tag."""
        if time.monotonic() >= self.stale_at:
            return True
        if not self.names:
            return False
        parts = name.split("/", 2)
        return len(parts) == 3 and f"{parts[0]}/{parts[1]}" in self.names

    def stale(self) -> bool:
        return time.monotonic() >= self.stale_at

    def known(self, names: frozenset[str]) -> None:
        self.names = names
        self.stale_at = time.monotonic() + INDEX_LIFETIME
