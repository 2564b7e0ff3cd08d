"""Per-process sha256 state of uploads in progress.

Python cannot hand a hash state to another process, so this is only a cache:
when the process that finishes an upload did not see every byte in order, the
digest is recomputed from the stored bytes instead of trusted.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

_MAX_ENTRIES = 1024


@dataclass
class HashState:
    size: int
    hasher: hashlib._Hash


class HashStates:
    def __init__(self) -> None:
        self._states: OrderedDict[str, HashState] = OrderedDict()

    def take(self, upload_id: str, offset: int) -> HashState | None:
        """The state to continue at `offset`, removed from the cache while in use."""
        state = self._states.pop(upload_id, None)
        if offset == 0:
            return HashState(0, hashlib.sha256())
        if state is None or state.size != offset:
            return None
        return state

    def put(self, upload_id: str, state: HashState) -> None:
        self._states[upload_id] = state
        while len(self._states) > _MAX_ENTRIES:
            self._states.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)
