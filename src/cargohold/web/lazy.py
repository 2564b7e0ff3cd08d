"""An ASGI app built on its first request.

The management API and the UI need libraries the registry's own paths do not (FastAPI,
SQLAlchemy's schema, Jinja, Babel): a worker that only serves pushes and pulls never
imports them, and keeps their memory (docs/benchmarks.md, "Memory"). The first request
to such a surface imports its module in a thread, so the event loop keeps serving
meanwhile, and requests that arrive during the import wait for the same app.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


class LazyApp:
    """`target` is `module:factory`; the app is `factory(*args)`, made once per process."""

    def __init__(self, target: str, *args: Any) -> None:
        self.module_name, self.factory_name = target.split(":")
        self.args = args
        self.app: ASGIApp | None = None
        self._lock: asyncio.Lock | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app if self.app is not None else await self.load()
        await app(scope, receive, send)

    async def load(self) -> ASGIApp:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.app is None:
                module = await asyncio.to_thread(importlib.import_module, self.module_name)
                self.app = getattr(module, self.factory_name)(*self.args)
        return self.app
