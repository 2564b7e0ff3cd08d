"""Problem JSON (RFC 9457) without the API's framework: what the app renders for
/api/v1 before the API itself is loaded (a body over its limit, an error no handler
took). web/api/problems.py renders every other problem of the API with these."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse, Response

from cargohold.oci.text import encodable

PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    # What a problem echoes (a field name, a value) never carries text UTF-8 cannot hold.
    return ProblemResponse(encodable(body), status_code=status, headers=headers)


def internal_problem(request_id: str | None) -> Response:
    """A 500 for an error no handler rendered; the log has its traceback under the id that
    `request_id` and `instance` (and the `X-Request-ID` header) name."""
    detail = "internal server error; the server logged the details"
    if request_id is None:
        return problem(500, detail)
    body = {
        "type": "about:blank",
        "title": HTTPStatus(500).phrase,
        "status": 500,
        "detail": f"{detail} under request id {request_id}",
        "instance": f"urn:cargohold:request:{request_id}",
        "request_id": request_id,
    }
    return ProblemResponse(body, status_code=500)
