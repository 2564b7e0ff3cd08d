"""LazyApp: a surface's app is made on its first request, once per process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from starlette.types import Message

from cargohold.web.lazy import LazyApp
from tests.unit.web import lazy_target

_TARGET = "tests.unit.web.lazy_target:make"


async def _get(app: LazyApp) -> bytes:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": "/"}, receive, send)
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_the_app_is_not_made_before_the_first_request() -> None:
    lazy_target.made.clear()
    LazyApp(_TARGET, "idle")
    assert lazy_target.made == []


async def test_the_first_request_makes_the_app_and_is_answered_by_it() -> None:
    lazy_target.made.clear()
    app = LazyApp(_TARGET, "first")
    assert await _get(app) == b"first"
    assert lazy_target.made == ["first"]


async def test_requests_that_come_together_share_one_app() -> None:
    lazy_target.made.clear()
    app = LazyApp(_TARGET, "shared")
    bodies = await asyncio.gather(*(_get(app) for _ in range(20)))
    assert bodies == [b"shared"] * 20
    assert lazy_target.made == ["shared"]


def test_the_registry_app_loads_neither_the_apis_nor_the_uis_libraries(tmp_path: Path) -> None:
    """What a worker imports to serve pushes and pulls (docs/benchmarks.md, "Memory"). A
    worker opens a database that `cargohold serve` migrated; so does the second run here."""
    script = (
        "import sys\n"
        "from cargohold.config import Settings\n"
        "from cargohold.web.app import create_app\n"
        f"create_app(Settings(data_dir={str(tmp_path)!r}, auth='token'))\n"
        "heavy = ('fastapi', 'sqlalchemy', 'jinja2', 'babel', 'httpx',\n"
        "         'cargohold.web.api.app', 'cargohold.web.ui.app')\n"
        "print(' '.join(name for name in heavy if name in sys.modules))\n"
    )
    for _ in ("migrates the new database", "opens it as a worker does"):
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
        )
    assert done.stdout.split() == []
