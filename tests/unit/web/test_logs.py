"""With `log_format = json` every log line is one JSON object: nothing a client sends can
break it into two lines, and a record made while a request is answered names its id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from cargohold.web.logs import REQUEST_ID, JsonFormatter, escape_all_log_records
from cargohold.web.server import log_config


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines to a buffer, in a process whose records are escaped
    (as the server's are)."""
    factory = logging.getLogRecordFactory()
    escape_all_log_records()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("cargohold.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(factory)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_json_line_has_time_level_logger_and_message(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    logger.warning("disk %s is full", "/data")

    [line] = lines(out)
    assert line["level"] == "WARNING"
    assert line["logger"] == "cargohold.test.logs"
    assert line["message"] == "disk /data is full"
    assert str(line["time"]).endswith("Z")


def test_a_line_break_or_line_separator_a_client_sent_stays_inside_one_json_line(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    logger.error("bad name %s", '/v2/x\r\n{"level": "INFO"}\u2028forged\x85')

    assert len(out.getvalue().splitlines()) == 1
    [line] = lines(out)
    assert "forged" in str(line["message"])
    assert out.getvalue().isascii()


def test_a_record_made_while_a_request_is_answered_names_its_request_id(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    token = REQUEST_ID.set("abc-1")
    try:
        logger.info("inside")
    finally:
        REQUEST_ID.reset(token)
    logger.info("outside")

    inside, outside = lines(out)
    assert inside["request_id"] == "abc-1"
    assert "request_id" not in outside


def test_a_traceback_goes_into_the_object_on_the_same_line(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    try:
        raise ValueError("secret internals")
    except ValueError:
        logger.exception("request failed")

    [line] = lines(out)
    assert "ValueError" in str(line["exception"])
    assert "Traceback" in str(line["exception"])


def test_an_access_record_carries_its_fields_as_the_objects_own(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    logger.info("GET / 200", extra={"access": {"request_id": "r-1", "status": 200}})

    [line] = lines(out)
    assert (line["request_id"], line["status"]) == ("r-1", 200)


def test_the_server_logs_every_line_as_json_with_log_format_json() -> None:
    config = log_config("json")

    assert {f["()"] for f in config["formatters"].values()} == {JsonFormatter}
    assert config["root"]["handlers"] == ["default"]
    assert config["loggers"]["cargohold.access"]["propagate"] is False


def test_text_logs_keep_granians_lines() -> None:
    config = log_config("text")

    assert config["formatters"]["generic"]["fmt"] == "[%(levelname)s] %(message)s"
