"""Log lines nobody can forge, as text or as JSON (`log_format`).

Text: control and other unprintable characters in a record's message and traceback are
escaped (`escape`), so a request cannot start a line of its own. JSON: one object per
line, escaped by JSON itself (and non-ASCII as `\\uXXXX`, so no line separator of any
kind appears raw); a record made while a request is answered carries its `request_id`.

Standard library only: the server's main process imports this.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar
from typing import Any

# The id of the request being answered, set by the request middleware (web/observe.py).
REQUEST_ID: ContextVar[str | None] = ContextVar("cargohold_request_id", default=None)


def escape(text: str, also: str = "") -> str:
    """`text` on one line: control and other unprintable characters (CR, LF, ESC, U+2028,
    ...), and any character of `also`, become `\\xHH`, `\\uHHHH` or `\\UHHHHHHHH`.
    Printable non-ASCII letters stay as they are."""
    out = []
    for char in text:
        if char.isprintable() and char not in also:
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


def escape_field(text: str) -> str:
    """`escape`, and `"` and `\\` too: a quoted field cannot be closed early, and an escape
    sequence in the log always stands for an escaped character."""
    return escape(text, also='"\\')


def _escape_block(text: str) -> str:
    """A traceback (printed below its record's message) keeps its lines, each escaped and
    indented: only the first line of a log record starts at column 0."""
    return "\n".join("    " + escape(line) for line in text.rstrip("\n").split("\n"))


_make_record = logging.getLogRecordFactory()


def _escaped_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    try:
        record.msg, record.args = escape(record.getMessage()), None
    except Exception:  # a broken log call: the handler reports it when it emits
        return record
    if record.exc_info and not record.exc_text:
        record.exc_text = _escape_block(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = _escape_block(record.stack_info)
    return record


def escape_all_log_records() -> None:
    """Every log record made in this process has its message escaped (see `escape`)."""
    logging.setLogRecordFactory(_escaped_record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `time` (UTC, ISO 8601), `level`, `logger`, `message`,
    `request_id` while a request is answered, `exception` (the traceback) when there is
    one. A request's access record (web/observe.py) carries its fields in `access`; they
    become the object's own."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        data: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "access", None)
        if isinstance(fields, dict):
            data.update(fields)
        else:
            request_id = REQUEST_ID.get()
            if request_id is not None:
                data["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=True, default=str)
