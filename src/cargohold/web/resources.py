"""Open what a process needs: the database (migrated) and the byte store."""

from __future__ import annotations

from cargohold.config import Settings
from cargohold.metadata import migrate
from cargohold.metadata.db import SQLiteDatabase
from cargohold.services.context import Context
from cargohold.storage.base import Backend
from cargohold.storage.filesystem import FilesystemBackend
from cargohold.storage.memory import MemoryBackend


def open_storage(settings: Settings) -> Backend:
    if settings.storage == "memory":
        return MemoryBackend()
    return FilesystemBackend(settings.blob_dir)


def open_context(settings: Settings) -> Context:
    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    url = migrate.sqlite_url(path)
    if migrate.current_revision(url) != migrate.head_revision():
        migrate.upgrade(url)
    return Context(db=SQLiteDatabase(path), storage=open_storage(settings), settings=settings)
