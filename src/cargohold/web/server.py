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
  the access log is our own (web/observe.py), with the path escaped; `log_format = json`
  makes every line a JSON object (web/logs.py).
- With `metrics_address`, this process serves the workers' metrics (web/exposition.py)
  from a thread of its own, so that they outlive any worker; `cargohold serve` made their
  directory (PROMETHEUS_MULTIPROC_DIR), and it goes when the server stops.
"""

from __future__ import annotations

import copy
import ctypes
import logging
import logging.config
import multiprocessing
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from granian.constants import Interfaces
from granian.log import LOGGING_CONFIG
from granian.server.mp import MPServer

from cargohold.web.logs import (  # noqa: F401 (escape and escape_field: the tests' names)
    JsonFormatter,
    escape,
    escape_all_log_records,
    escape_field,
)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
APP = "cargohold.web.app:app_factory"
ACCESS_LOGGER = "cargohold.access"


# --------------------------------------------------------------------------- log lines


def log_config(log_format: str = "text") -> dict[str, Any]:
    """Granian's logging set-up, plus our access logger (web/observe.py writes the access
    log, one line per request) and the root logger; with `json`, every line is a JSON
    object (web/logs.py)."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    formatters = dict(config["formatters"])
    formatters["default"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    if log_format == "json":
        formatters = {name: {"()": JsonFormatter} for name in formatters}
    handlers = dict(config["handlers"])
    handlers["default"] = {
        "formatter": "default",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    loggers = dict(config["loggers"])
    loggers[ACCESS_LOGGER] = {"handlers": ["access"], "level": "INFO", "propagate": False}
    root = {"handlers": ["default"], "level": "INFO"}
    return {
        **config,
        "formatters": formatters,
        "handlers": handlers,
        "loggers": loggers,
        "root": root,
    }


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
    return factory()  # type: ignore[no-any-return]


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
    supervisor = os.getpid()
    escape_all_log_records()
    config = log_config(env.get("CARGOHOLD_LOG_FORMAT", "text"))
    logging.config.dictConfig(config)
    metrics_dir = env.get("PROMETHEUS_MULTIPROC_DIR")
    if env.get("CARGOHOLD_METRICS_ADDRESS"):
        from cargohold.web import exposition

        exposition.serve_in_background(env["CARGOHOLD_METRICS_ADDRESS"])
    cert, key = env.get("CARGOHOLD_TLS_CERT"), env.get("CARGOHOLD_TLS_KEY")
    server = Server(
        APP,
        address=env.get("CARGOHOLD_HOST", "127.0.0.1"),
        port=int(env.get("CARGOHOLD_PORT", "5000")),
        workers=int(env.get("CARGOHOLD_WORKERS", "1")),
        interface=Interfaces.ASGI,
        log_dictconfig=config,
        log_access=False,  # web/observe.py writes it, escaped
        respawn_failed_workers=True,
        workers_kill_timeout=int(env.get("CARGOHOLD_SHUTDOWN_TIMEOUT", "25")),
        ssl_cert=Path(cert) if cert and key else None,
        ssl_key=Path(key) if cert and key else None,
    )
    server.on_startup(_accept_stop_signals)  # after Granian installed its signal handlers
    try:
        server.serve(target_loader=load_app)
    finally:
        if metrics_dir and os.getpid() == supervisor:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
