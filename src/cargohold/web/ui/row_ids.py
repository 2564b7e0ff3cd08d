"""Row ids that pages take from their path or a form field: ASCII digits of a plausible
length, else the answer is that there is no such thing (never a 500 from an overflow)."""

from __future__ import annotations

from starlette.requests import Request

from cargohold.metadata.schema import MAX_ID
from cargohold.services.errors import Invalid, NotFound


def path_row_id(request: Request, name: str, what: str) -> int:
    """The id in path parameter `name` (a row of an `id` column); NotFound "no such `what`"
    when it cannot be one."""
    text = request.path_params[name]
    if not (text.isascii() and text.isdigit() and len(text) < 12 and 0 < int(text) <= MAX_ID):
        raise NotFound(f"no such {what}")
    return int(text)


def form_row_id(text: str, what: str) -> int:
    """The id a form sent (a row of a big-id column); Invalid "no such `what`" when it
    cannot be one."""
    if not (text.isascii() and text.isdigit() and len(text) < 19):
        raise Invalid(f"no such {what}")
    return int(text)
