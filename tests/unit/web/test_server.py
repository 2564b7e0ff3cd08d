"""The server process writes log lines nobody can forge: what a client sends (a path, a
name in an error) cannot start a line of its own."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from cargohold.web.server import escape, escape_all_log_records, escape_field


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing `LEVEL message` lines to a buffer, in a process whose records are
    escaped (as the server's are); the record factory is restored afterwards."""
    factory = logging.getLogRecordFactory()
    escape_all_log_records()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("cargohold.test.server")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(factory)


def test_control_characters_are_escaped_and_printable_letters_kept() -> None:
    assert (
        escape("a\r\nb\tc\x1b[31m\u2028\x7f café") == "a\\x0d\\x0ab\\x09c\\x1b[31m\\u2028\\x7f café"
    )


def test_a_quoted_field_escapes_quotes_and_backslashes() -> None:
    assert escape_field('/v2/a" 200 \\x0a') == "/v2/a\\x22 200 \\x5cx0a"


def test_a_logged_argument_with_a_line_break_stays_on_one_line(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    logger.error("unhandled error on %s %s", "GET", "/v2/x\r\nINFO forged line")
    assert out.getvalue().splitlines() == [
        "ERROR unhandled error on GET /v2/x\\x0d\\x0aINFO forged line"
    ]


def test_a_traceback_keeps_its_lines_but_only_the_first_starts_at_column_0(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    try:
        raise ValueError("bad name\nINFO forged line")
    except ValueError:
        logger.exception("request failed")
    first, *rest = out.getvalue().splitlines()
    assert first == "ERROR request failed"
    assert rest and all(line.startswith(" ") for line in rest), rest
    assert "Traceback" in rest[0]
