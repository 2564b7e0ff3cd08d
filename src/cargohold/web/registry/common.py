"""Helpers shared by the /v2 resource modules: the context, pagination, headers."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request

from cargohold.oci.digest import Digest
from cargohold.oci.errors import Unsupported
from cargohold.services.context import Context


def context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


def page_size(request: Request, ctx: Context) -> int | None:
    """`n` from the query string: None when absent, clamped to the configured maximum."""
    raw = request.query_params.get("n")
    if raw is None or raw == "":
        return None
    if not is_count(raw) or len(raw) > 12:
        raise Unsupported(f"n must be a non-negative integer, not {raw[:40]!r}")
    return min(int(raw), ctx.settings.page_size_max)


def is_count(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts digits int() refuses, such as '²'."""
    return text.isascii() and text.isdigit()


def next_link(path: str, query: dict[str, str | int]) -> str:
    """A `Link` header value pointing at the next page."""
    return f'<{quote(path)}?{urlencode(query)}>; rel="next"'


def blob_location(name: str, digest: Digest) -> str:
    return f"/v2/{name}/blobs/{digest}"


def content_headers(digest: str, length: int, content_type: str) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "Content-Length": str(length),
        "Content-Type": content_type,
        "ETag": f'"{digest}"',
    }
