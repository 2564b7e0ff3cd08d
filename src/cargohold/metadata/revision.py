"""The schema revision this code needs, checkable without loading Alembic or SQLAlchemy
(server processes stay lean; `migrate` does the upgrading)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

HEAD = "0012"


def behind(found: str | None) -> bool:
    """Whether a database at revision `found` lacks migrations this code needs. Revisions
    are numbered (0001, 0002, ...) and only add, so a newer schema still serves older code
    (during a rolling upgrade, nodes not yet restarted keep working)."""
    if found is None:
        return True
    if found.isdigit() and HEAD.isdigit():
        return int(found) < int(HEAD)
    return found != HEAD


def sqlite_revision(path: Path) -> str | None:
    """The revision an SQLite database is at; None when it has none (or does not exist)."""
    if not path.exists():
        return None
    connection = sqlite3.connect(path)
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        connection.close()
    return str(row[0]) if row else None
