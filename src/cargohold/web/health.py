"""`/healthz` (the process serves: liveness) and `/readyz` (its database and store answer:
readiness). Neither needs credentials; neither says more than which part is down and why."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargohold.services.health import readiness
from cargohold.web.registry.common import context

_NO_CACHE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=_NO_CACHE)


async def readyz(request: Request) -> Response:
    checks = await readiness(context(request))
    ready = all(check.ok for check in checks.values())
    body = {
        "status": "ready" if ready else "unavailable",
        "checks": {
            name: {"ok": check.ok, **({"error": check.error} if check.error else {})}
            for name, check in checks.items()
        },
    }
    return JSONResponse(body, status_code=200 if ready else 503, headers=_NO_CACHE)
