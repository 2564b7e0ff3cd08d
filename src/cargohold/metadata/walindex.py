"""The header of SQLite's WAL index, read with `pread` from a descriptor this process
keeps open: the change mark of a SQLite database in WAL mode (see metadata/readcache.py).

Every commit in WAL mode, by any connection of any process, rewrites the header at the
start of the database's -shm file before the commit returns (sqlite.org/walformat.html):
`iChange` counts the commits, `mxFrame` is the last frame, and a reset of the WAL after a
checkpoint changes its salts. SQLite writes the header twice, the second copy then the
first, and a reader that finds the two copies different is reading a header being
written. So two reads that return equal headers saw no commit finish in between.

Two rules keep this safe for the process:

- The -shm file is read with `pread`, never mapped: a mapping of a file that another
  process truncates kills the reader with SIGBUS, where a read of it is only short.
- The descriptor is opened once per file and process and closed only when the last
  database of this process that uses it has closed its connection. SQLite's locks are
  POSIX record locks, which belong to the process: closing *any* descriptor of the -shm
  file drops every lock the process's SQLite holds on it, among them the one that tells
  another process's SQLite that the WAL index is in use. A process that opened and closed
  the file beside its SQLite connection let the next process to open the database take
  that lock, truncate the -shm file and rebuild it under the first one's mappings (this is
  how a worker died of SIGBUS beside `cargohold gc`).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

# One copy of the header, two copies side by side at the start of the -shm file; the
# format version in its first four bytes (native byte order) and `isInit` at byte 12.
HEADER = 48
VERSION = 3007000

_lock = threading.Lock()
_open: dict[tuple[int, int], list[int]] = {}  # (st_dev, st_ino) -> [descriptor, users]


class WalIndex:
    """The WAL index of one database, for one connection of this process."""

    def __init__(self, fd: int, key: tuple[int, int]) -> None:
        self._fd = fd
        self._key: tuple[int, int] | None = key

    @classmethod
    def open(cls, database: Path) -> WalIndex | None:
        """The WAL index of `database`, or None when it has none (not in WAL mode). Call
        once the connection has read the database, so that its SQLite has the -shm file
        open and holds its locks."""
        # SQLite names the -shm file after the database's path with symbolic links resolved.
        path = f"{os.path.realpath(database)}-shm"
        with _lock:
            try:
                stat = os.stat(path)
                shared = _open.get((stat.st_dev, stat.st_ino))
                if shared is not None:  # open here already: share it, never open a second
                    shared[1] += 1
                    return cls(shared[0], (stat.st_dev, stat.st_ino))
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                stat = os.fstat(fd)
            except OSError:
                return None
            key = (stat.st_dev, stat.st_ino)
            _open[key] = [fd, 1]
            return cls(fd, key)

    def header(self) -> bytes | None:
        """The header, once its two copies agree; or None when it cannot be read whole and
        consistent: a short read (the file truncated), another format, a WAL index not
        initialized, or the two copies different (a commit is writing it)."""
        try:
            data = os.pread(self._fd, 2 * HEADER, 0)
        except OSError:
            return None
        if (
            len(data) < 2 * HEADER
            or int.from_bytes(data[:4], sys.byteorder) != VERSION
            or data[12] != 1
            or data[:HEADER] != data[HEADER:]
        ):
            return None
        return data[:HEADER]

    def close(self) -> None:
        """Let go of the descriptor: closed when this process's last user of the file lets
        go. Call only after closing the SQLite connection."""
        with _lock:
            key, self._key = self._key, None
            if key is None:
                return
            shared = _open[key]
            shared[1] -= 1
            if shared[1] == 0:
                del _open[key]
                os.close(shared[0])
