"""What every use case works with: the database, the byte store, the settings."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cargohold.authz.tokens import Claims
from cargohold.config import Settings
from cargohold.metadata import revision
from cargohold.metadata.db import Database, SQLiteDatabase, private_sqlite_file
from cargohold.metadata.readcache import ReadCache
from cargohold.services.accounts.federation import FederationState
from cargohold.services.accounts.keys import load_signing_key
from cargohold.services.events.downloads import DownloadCounter, flush
from cargohold.services.hashing import HashStates
from cargohold.services.remote.state import MirrorState
from cargohold.storage.base import Backend
from cargohold.storage.filesystem import DIR_MODE, FILE_MODE, FilesystemBackend, make_dirs
from cargohold.storage.measured import MeasuredBackend
from cargohold.storage.memory import MemoryBackend

log = logging.getLogger("cargohold")


@dataclass
class Context:
    db: Database
    storage: Backend
    settings: Settings
    hashes: HashStates = field(default_factory=HashStates)
    signing_key: Ed25519PrivateKey | None = None
    verified_tokens: OrderedDict[str, Claims] = field(default_factory=OrderedDict)
    downloads: DownloadCounter = field(default_factory=DownloadCounter)  # pulls not yet written
    federation: FederationState = field(default_factory=FederationState)  # OpenID providers
    mirrors: MirrorState = field(default_factory=MirrorState)  # pull-through caches
    reads: ReadCache = field(default_factory=ReadCache)  # hot reads, while the db is unchanged

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        assert self.signing_key is not None
        return self.signing_key.public_key()

    @staticmethod
    def now() -> float:
        return time.time()

    async def close(self) -> None:
        """Write the pulls counted since the last flush, then close the database pool and the
        store's connections."""
        try:
            await flush(self.db, self.downloads)
        except Exception:
            log.exception("could not write %d download counts", self.downloads.pending)
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
    private_data_dir(settings.data_dir)
    key = load_signing_key(settings) if settings.auth == "token" else None
    storage = open_storage(settings)
    if settings.metrics_enabled:
        storage = MeasuredBackend(storage)  # times and counts every call, for the metrics
    return Context(
        db=_open_database(settings),
        storage=storage,
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
    private_sqlite_file(path)  # before the migrations open it: its WAL files take its mode
    if revision.sqlite_revision(path) != revision.HEAD:
        from cargohold.metadata import migrate  # only when there is something to do

        migrate.upgrade(migrate.sqlite_url(path))
    return SQLiteDatabase(path)


def private_data_dir(data_dir: Path) -> None:
    """The data directory is the server's alone: made 0700 when missing. One that an
    earlier version left open to others (0755, files 0644) is tightened, with everything
    in it (folders 0700, files 0600), and the log says so; after that the directory is
    0700 and later starts only look at its mode."""
    if not data_dir.is_dir():
        make_dirs(data_dir)
        return
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if not mode & 0o077:
        return
    data_dir.chmod(DIR_MODE)  # first: closes the whole tree at once
    folders, files = 1, 0
    failed: list[Path] = []
    for directory, dirs, names in os.walk(data_dir):
        for name in dirs:
            folders += _tighten(Path(directory, name), DIR_MODE, 0o077, failed)
        for name in names:
            files += _tighten(Path(directory, name), FILE_MODE, 0o177, failed)
    log.warning(
        "the data directory %s was open to other users (mode %04o): made it and %d folders"
        " in it 0700, %d files 0600",
        data_dir,
        mode,
        folders - 1,
        files,
    )
    if failed:
        log.warning("could not tighten the mode of %d files, e.g. %s", len(failed), failed[0])


def _tighten(path: Path, mode: int, wider: int, failed: list[Path]) -> int:
    """chmod `path` to `mode` if it has any of the `wider` bits (symbolic links are left
    alone); 1 if it was changed."""
    try:
        found = path.lstat().st_mode
        if stat.S_ISLNK(found) or not stat.S_IMODE(found) & wider:
            return 0
        path.chmod(mode)
    except FileNotFoundError:
        return 0
    except OSError:
        failed.append(path)
        return 0
    return 1


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
