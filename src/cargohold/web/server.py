"""The server process: Granian serving the app, set up from the environment that
`cargohold serve` prepared. Kept free of heavy imports, since its memory is paid on
every node for as long as the server runs."""

from __future__ import annotations

import os
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces


def main() -> None:
    env = os.environ
    cert, key = env.get("CARGOHOLD_TLS_CERT"), env.get("CARGOHOLD_TLS_KEY")
    Granian(
        "cargohold.web.app:app_factory",
        factory=True,
        address=env.get("CARGOHOLD_HOST", "127.0.0.1"),
        port=int(env.get("CARGOHOLD_PORT", "5000")),
        workers=int(env.get("CARGOHOLD_WORKERS", "1")),
        interface=Interfaces.ASGI,
        log_access=env.get("CARGOHOLD_ACCESS_LOG") == "True",
        respawn_failed_workers=True,
        ssl_cert=Path(cert) if cert and key else None,
        ssl_key=Path(key) if cert and key else None,
    ).serve()


if __name__ == "__main__":
    main()
