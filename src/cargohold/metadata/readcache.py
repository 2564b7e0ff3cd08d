"""Answers read from the database, kept in the process while the database has not changed.

A read served from here must be the answer the database would give now. The cache holds
its entries under the database's change mark (`Database.change_mark`): any commit since
they were read, by this process or another one on the same database, empties it. A
database that cannot tell cheaply (PostgreSQL: another node may change it at any time)
gives no mark, and nothing is cached.

The contract of a mark, which makes that hold:

- A commit that changes the database, by any connection of any process, moves the mark
  before that commit returns to whoever made it; so a read that starts after the commit
  returned sees a mark other than every mark taken before it. A mark never comes back to
  an earlier value in the life of the process (SQLite: the WAL index's header counts the
  commits, and a reset of the WAL changes its salts).
- The mark is taken before the read it files (`current`, then the query, then `put`): a
  commit between the two makes the answer newer than its mark, and the next `current`
  drops it; it is never older than its mark.
- None when the answer may not be kept: inside a transaction (it may yet be rolled
  back), or when the mark cannot be read (SQLite: a commit is writing the header, or the
  -shm file cannot be read whole). Going from a mark to None empties the cache too.
- Taking it is cheap and cannot hurt the process: on SQLite one `pread` of the -shm file
  from a descriptor kept open (metadata/walindex.py), no mapping, no call into SQLite.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from cargohold.metadata.db import Database

MAX_ENTRIES = 4096
MAX_BYTES = 8 << 20


class ReadCache:
    """A bounded least-recently-used map, emptied whenever the database's mark moves."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._mark: object = None

    def __len__(self) -> int:
        return len(self._entries)

    def current(self, db: Database) -> object:
        """The database's mark now, or None when nothing may be cached. Entries read under
        an older mark are dropped."""
        mark = db.change_mark()
        if mark != self._mark:
            self._entries.clear()
            self._bytes = 0
            self._mark = mark
        return mark

    def get(self, db: Database, key: Hashable) -> Any:
        """The value kept for `key`, or None."""
        if self.current(db) is None:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, mark: object, key: Hashable, value: Any, size: int = 0) -> None:
        """Keep `value` (of about `size` bytes), read from the database at `mark` (what
        `current` returned before the read): nothing is kept when the mark has moved since."""
        if mark is None or mark != self._mark or size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._entries[key] = (value, size)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped
