"""A surface for tests/unit/web/test_lazy.py: counts the apps made from it."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

made: list[str] = []


def make(name: str) -> object:
    made.append(name)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": name.encode()})

    return app
