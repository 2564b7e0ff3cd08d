"""The Alembic migrations build exactly the tables schema.py defines."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from cargohold.metadata import migrate, revision
from cargohold.metadata.schema import metadata


def test_migrations_reach_the_head_revision(tmp_path: Path) -> None:
    url = migrate.sqlite_url(tmp_path / "db.sqlite")
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()


def test_migrated_schema_matches_the_table_definitions(tmp_path: Path) -> None:
    url = migrate.sqlite_url(tmp_path / "db.sqlite")
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


def test_the_head_revision_servers_check_for_is_alembics_head() -> None:
    assert migrate.head_revision() == revision.HEAD


def test_a_migrated_database_reports_its_revision(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    assert revision.sqlite_revision(path) is None
    migrate.upgrade(migrate.sqlite_url(path))
    assert revision.sqlite_revision(path) == revision.HEAD
