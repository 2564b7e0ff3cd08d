"""The server process: Granian serving the app, set up from the environment that
`cargohold serve` prepared. Kept free of heavy imports, since its memory is paid on
every node for as long as the server runs.

Process rules (see docs/deploy.md, "Stopping and restarting"):
- SIGTERM or SIGINT stops taking connections, lets requests in flight finish for at most
  `shutdown_timeout` seconds, and exits 0, whenever it arrives: a signal that comes while
  a worker is still loading the app stops that worker too, instead of being lost.
- Workers die with the supervisor (PR_SET_PDEATHSIG): a supervisor killed with SIGKILL
  leaves no worker holding the port. A worker that dies is replaced.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from granian.constants import Interfaces
from granian.server.mp import MPServer

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
APP = "cargohold.web.app:app_factory"


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
    cert, key = env.get("CARGOHOLD_TLS_CERT"), env.get("CARGOHOLD_TLS_KEY")
    server = Server(
        APP,
        address=env.get("CARGOHOLD_HOST", "127.0.0.1"),
        port=int(env.get("CARGOHOLD_PORT", "5000")),
        workers=int(env.get("CARGOHOLD_WORKERS", "1")),
        interface=Interfaces.ASGI,
        log_access=env.get("CARGOHOLD_ACCESS_LOG") == "True",
        respawn_failed_workers=True,
        workers_kill_timeout=int(env.get("CARGOHOLD_SHUTDOWN_TIMEOUT", "25")),
        ssl_cert=Path(cert) if cert and key else None,
        ssl_key=Path(key) if cert and key else None,
    )
    server.on_startup(_accept_stop_signals)  # after Granian installed its signal handlers
    server.serve(target_loader=load_app)


if __name__ == "__main__":
    main()
