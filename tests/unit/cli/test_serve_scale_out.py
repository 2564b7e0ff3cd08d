"""`cargohold serve` on PostgreSQL refuses a schema it was not written for, and says what to do."""

from __future__ import annotations

import pytest
import typer

from cargohold.cli.serve import check_schema
from cargohold.config import Settings
from cargohold.metadata import migrate, revision
from tests.backends import PostgresServer, free_port


def test_an_empty_database_is_refused_with_the_command_to_run(
    postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_server.create_database("serve_empty")
    with pytest.raises(typer.Exit):
        check_schema(Settings(database_url=url, auth="none"))
    message = capsys.readouterr().err
    assert "has no schema yet" in message
    assert "cargohold db upgrade" in message


def test_an_outdated_schema_is_refused(
    postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_server.create_database("serve_old")
    migrate.upgrade(url)
    migrate._with_connection(
        url, lambda c: c.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    )
    with pytest.raises(typer.Exit):
        check_schema(Settings(database_url=url, auth="none"))
    assert "is at revision 0001" in capsys.readouterr().err


def test_a_current_schema_passes(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("serve_ok")
    migrate.upgrade(url)
    check_schema(Settings(database_url=url, auth="none"))


def test_an_unreachable_database_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/x"
    with pytest.raises(typer.Exit):
        check_schema(Settings(database_url=url, auth="none", database_connect_timeout=1))
    message = capsys.readouterr().err
    assert "cannot reach the database" in message
    assert "secret" not in message


def test_a_newer_schema_is_served_with_a_warning(
    postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """During a rolling upgrade the schema moves first; nodes not yet upgraded keep going."""
    url = postgres_server.create_database("serve_newer")
    migrate.upgrade(url)
    migrate._with_connection(
        url, lambda c: c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    )
    check_schema(Settings(database_url=url, auth="none"))
    assert "newer than this version" in capsys.readouterr().err


def test_revisions_behind() -> None:
    assert revision.behind(None)
    assert revision.behind("0000")
    assert not revision.behind(revision.HEAD)
    assert not revision.behind("9999")
    assert revision.behind("abc")
