"""GET, HEAD and DELETE /v2/<name>/blobs/<digest>."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from cargohold.oci.digest import Digest
from cargohold.oci.errors import BlobUnknown, NameUnknown, SizeInvalid
from cargohold.services.registry import blobs
from cargohold.services.registry.blobs import BlobInfo
from cargohold.services.registry.pull_through import Live
from cargohold.web.registry import mirror
from cargohold.web.registry.common import content_headers, context

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_BEYOND_ANY_BLOB = 2**63
_PATHSEND = "http.response.pathsend"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a `Range` header asks for, or None to send everything.

    Headers this server does not understand (other units, several ranges) are
    ignored, as RFC 9110 allows; a range that starts past the end is refused.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = (_number(group) for group in match.groups())
    if (first is None and last is None) or size == 0:
        return None
    if first is None:
        assert last is not None
        if last == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - last), size - 1
    if first >= size or (last is not None and last < first):
        raise _unsatisfiable(header, size)
    return first, size - 1 if last is None else min(last, size - 1)


def _number(digits: str) -> int | None:
    if not digits:
        return None
    return int(digits) if len(digits) <= 19 else _BEYOND_ANY_BLOB


def _unsatisfiable(header: str, size: int) -> SizeInvalid:
    return SizeInvalid(
        f"range {header[:60]!r} is outside the blob of {size} bytes",
        status=416,
        headers={"Content-Range": f"bytes */{size}"},
    )


def accel_headers(headers: dict[str, str], prefix: str, key: str) -> dict[str, str]:
    """The answer to a front nginx that sends the blob's file itself (`blob_accel_redirect`):
    the blob's headers, `X-Accel-Redirect` to the file under `prefix`, and no body.

    `key` is the file's path under the filesystem store's root. nginx keeps only some of
    these headers on the redirect (the location in docs/deploy.md adds the others back),
    and sends its own Content-Length (the file's size) and Accept-Ranges; it answers a
    `Range` itself, so the redirect always names the whole file.
    """
    kept = {name: value for name, value in headers.items() if name != "Accept-Ranges"}
    return {**kept, "Content-Length": "0", "X-Accel-Redirect": prefix + quote(key, safe="/")}


class BlobResponse(Response):
    """Sends a blob: zero-copy from a file when the server can, streamed otherwise."""

    def __init__(
        self,
        request: Request,
        blob: BlobInfo,
        status: int,
        headers: dict[str, str],
        span: tuple[int, int] | None,
        opened: AsyncGenerator[bytes] | None = None,
    ) -> None:
        super().__init__(status_code=status, headers=headers)
        self.request = request
        self.blob = blob
        self.span = span
        self.opened = opened  # the bytes, already being read (blobs.open_blob)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        if self.opened is not None:
            try:
                async for chunk in self.opened:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                await self.opened.aclose()
            await send({"type": "http.response.body", "body": b""})
            return
        ctx = context(self.request)
        path = blobs.blob_file(ctx, self.blob)
        if self.span is None and path is not None and _PATHSEND in scope.get("extensions", {}):
            await send({"type": _PATHSEND, "path": str(path)})
            return
        async for chunk in self._chunks(path):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def _chunks(self, path: Path | None) -> AsyncIterator[bytes]:
        ctx = context(self.request)
        offset, length = 0, None
        if self.span is not None:
            offset, length = self.span[0], self.span[1] - self.span[0] + 1
        return blobs.read_blob(ctx, self.blob, offset, length)


async def get_blob(request: Request, name: str, digest: str) -> Response:
    ctx = context(request)
    try:
        blob = await blobs.stat_blob(ctx, name=name, digest=Digest.parse(digest))
    except (NameUnknown, BlobUnknown) as miss:  # a mirror's package fetches it (mirror.md)
        fetched = await mirror.blob_on_miss(ctx, name, Digest.parse(digest), miss)
        if isinstance(fetched, Live):
            return mirror.live_response(request, digest, fetched)
        blob = fetched
    local = request.method == "GET" and blobs.blob_file(ctx, blob) is not None
    # A GET of bytes streamed from the store (no file to send) checks them by opening them.
    streamed = request.method == "GET" and not local
    if not streamed:
        await blobs.check_present(ctx, blob)
    span = parse_range(request.headers.get("range"), blob.size)
    if request.method == "GET":
        url = await blobs.redirect_url(ctx, blob)
        if url is not None:  # the store serves the bytes (and the Range) itself
            if streamed:
                await blobs.check_present(ctx, blob)
            redirect = {"Location": url, "Docker-Content-Digest": digest, "Content-Length": "0"}
            return Response(status_code=307, headers=redirect)
    headers = content_headers(digest, blob.size, "application/octet-stream")
    headers["Accept-Ranges"] = "bytes"
    prefix = ctx.settings.blob_accel_redirect
    if local and prefix is not None:  # the front nginx sends the file (and the Range)
        return Response(status_code=200, headers=accel_headers(headers, prefix, blob.key))
    offset, length = (0, None) if span is None else (span[0], span[1] - span[0] + 1)
    opened = await blobs.open_blob(ctx, blob, offset, length) if streamed else None
    if span is None:
        return BlobResponse(request, blob, 200, headers, None, opened)
    headers["Content-Length"] = str(span[1] - span[0] + 1)
    headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{blob.size}"
    return BlobResponse(request, blob, 206, headers, span, opened)


async def delete_blob(request: Request, name: str, digest: str) -> Response:
    await blobs.delete_blob(context(request), name=name, digest=Digest.parse(digest))
    return Response(status_code=202, headers={"Content-Length": "0"})
