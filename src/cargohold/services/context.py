"""What every use case works with: the database, the byte store, the settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cargohold.config import Settings
from cargohold.metadata import revision
from cargohold.metadata.db import Database, SQLiteDatabase
from cargohold.services.hashing import HashStates
from cargohold.services.keys import load_signing_key
from cargohold.storage.base import Backend
from cargohold.storage.filesystem import FilesystemBackend
from cargohold.storage.memory import MemoryBackend


@dataclass
class Context:
    db: Database
    storage: Backend
    settings: Settings
    hashes: HashStates = field(default_factory=HashStates)
    signing_key: Ed25519PrivateKey | None = None

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        assert self.signing_key is not None
        return self.signing_key.public_key()

    @staticmethod
    def now() -> float:
        return time.time()


def open_context(settings: Settings) -> Context:
    """Open what a process needs: the database (migrated to the newest schema) and the store."""
    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    if revision.sqlite_revision(path) != revision.HEAD:
        from cargohold.metadata import migrate  # only when there is something to do

        migrate.upgrade(migrate.sqlite_url(path))
    storage: Backend = (
        MemoryBackend() if settings.storage == "memory" else FilesystemBackend(settings.blob_dir)
    )
    key = load_signing_key(settings) if settings.auth == "token" else None
    return Context(db=SQLiteDatabase(path), storage=storage, settings=settings, signing_key=key)
