"""What every use case works with: the database, the byte store, the settings."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cargohold.authz.tokens import Claims
from cargohold.config import Settings
from cargohold.metadata import revision
from cargohold.metadata.db import Database, SQLiteDatabase
from cargohold.services.accounts.keys import load_signing_key
from cargohold.services.hashing import HashStates
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
    verified_tokens: OrderedDict[str, Claims] = field(default_factory=OrderedDict)

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        assert self.signing_key is not None
        return self.signing_key.public_key()

    @staticmethod
    def now() -> float:
        return time.time()

    async def close(self) -> None:
        """Close the database pool and the store's connections."""
        try:
            await self.db.close()
        finally:
            await self.storage.close()


def open_context(settings: Settings) -> Context:
    """Open what a process needs: the database and the store.

    An embedded SQLite database is migrated to the newest schema here; PostgreSQL is
    migrated by `cargohold db upgrade`, and connected to lazily (a node starts, and says
    it is not ready, while the server is down).
    """
    key = load_signing_key(settings) if settings.auth == "token" else None
    return Context(
        db=_open_database(settings),
        storage=open_storage(settings),
        settings=settings,
        signing_key=key,
    )


def _open_database(settings: Settings) -> Database:
    if settings.is_postgres:
        from cargohold.metadata.postgres import PostgresDatabase  # loaded only when used

        assert settings.database_url is not None
        return PostgresDatabase(
            settings.database_url,
            max_connections=settings.database_pool_size,
            connect_timeout=settings.database_connect_timeout,
            command_timeout=settings.database_command_timeout,
        )
    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    if revision.sqlite_revision(path) != revision.HEAD:
        from cargohold.metadata import migrate  # only when there is something to do

        migrate.upgrade(migrate.sqlite_url(path))
    return SQLiteDatabase(path)


def open_storage(settings: Settings) -> Backend:
    if settings.storage == "memory":
        return MemoryBackend()
    if settings.storage == "s3":
        from cargohold.storage.s3 import S3Backend  # loaded only when used

        assert settings.s3_bucket is not None
        return S3Backend(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            path_style=settings.s3_path_style,
            part_size=settings.s3_part_size,
            max_object_size=settings.max_blob_size,
            connect_timeout=settings.s3_connect_timeout,
            read_timeout=settings.s3_read_timeout,
            retries=settings.s3_retries,
        )
    return FilesystemBackend(settings.blob_dir)
