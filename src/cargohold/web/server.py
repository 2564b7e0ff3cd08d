"""The server process: Granian serving the app, set up from the environment that
`cargohold serve` prepared. Kept free of heavy imports, since its memory is paid on
every node for as long as the server runs.

Process rules (see docs/deploy.md, "Stopping and restarting"):
- SIGTERM or SIGINT stops taking connections, lets requests in flight finish for at most
  `shutdown_timeout` seconds, and exits 0, whenever it arrives: a signal that comes while
  a worker is still loading the app stops that worker too, instead of being lost.
- Workers die with the supervisor (PR_SET_PDEATHSIG): a supervisor killed with SIGKILL
  leaves no worker holding the port. A worker that dies is replaced.
- Log lines cannot be forged: control characters in anything logged are escaped, and
  the access log is our own, with the path escaped.
"""

from __future__ import annotations

import copy
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from granian.constants import Interfaces
from granian.log import LOGGING_CONFIG
from granian.server.mp import MPServer

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
APP = "cargohold.web.app:app_factory"
ACCESS_LOGGER = "cargohold.access"


# --------------------------------------------------------------------------- safe log lines


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


def log_config() -> dict[str, Any]:
    """Granian's logging set-up, plus our access logger on its access handler."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    loggers = dict(config["loggers"])
    loggers[ACCESS_LOGGER] = {"handlers": ["access"], "level": "INFO", "propagate": False}
    return {**config, "loggers": loggers}


class AccessLog:
    """One line per request, in Granian's format, with the path escaped:
    `[2024-05-01 12:00:00 +0000] 127.0.0.1 - "GET /v2/ HTTP/1.1" 200 0.274`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, clock = time.time(), time.perf_counter()
        status = 500  # unless a response starts

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            client = scope.get("client")
            self.log.info(
                '[%s] %s - "%s %s HTTP/%s" %d %.3f',
                time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started)),
                client[0] if client else "-",
                escape_field(scope["method"]),
                escape_field(scope["path"]),
                scope["http_version"],
                status,
                (time.perf_counter() - clock) * 1000,
            )


# --------------------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In a worker: be killed when the supervisor dies, however it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        logging.getLogger("cargohold").warning(
            "cannot tie the worker to its supervisor: %s", os.strerror(ctypes.get_errno())
        )
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(0)  # the supervisor died before the line above took effect


def load_app(target: str) -> Callable[..., Any]:
    """Granian's target loader, run in each worker before it serves."""
    _die_with_parent()
    escape_all_log_records()
    module_name, name = target.split(":")
    factory = getattr(__import__(module_name, fromlist=[name]), name)
    app: Any = factory()
    if os.environ.get("CARGOHOLD_ACCESS_LOG") == "True":
        app = AccessLog(app)
    return app  # type: ignore[no-any-return]


class Server(MPServer):
    """Granian's process supervisor, with the process rules of this module."""

    def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
        if self.pid is not None and os.getpid() != self.pid:
            # A worker forked a moment ago, still loading the app: it runs the handler it
            # inherited until Granian installs its own. The stop is meant for it too, and it
            # has served nothing yet.
            os._exit(0)
        super().signal_handler_interrupt(*args, **kwargs)  # type: ignore[no-untyped-call]


def _accept_stop_signals() -> None:
    """`cargohold serve` blocks SIGTERM and SIGINT until Granian handles them; one that came
    meanwhile is pending, and is delivered now."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def main() -> None:
    env = os.environ
    escape_all_log_records()
    cert, key = env.get("CARGOHOLD_TLS_CERT"), env.get("CARGOHOLD_TLS_KEY")
    server = Server(
        APP,
        address=env.get("CARGOHOLD_HOST", "127.0.0.1"),
        port=int(env.get("CARGOHOLD_PORT", "5000")),
        workers=int(env.get("CARGOHOLD_WORKERS", "1")),
        interface=Interfaces.ASGI,
        log_dictconfig=log_config(),
        log_access=False,  # AccessLog writes it, escaped
        respawn_failed_workers=True,
        workers_kill_timeout=int(env.get("CARGOHOLD_SHUTDOWN_TIMEOUT", "25")),
        ssl_cert=Path(cert) if cert and key else None,
        ssl_key=Path(key) if cert and key else None,
    )
    server.on_startup(_accept_stop_signals)  # after Granian installed its signal handlers
    server.serve(target_loader=load_app)


if __name__ == "__main__":
    main()
