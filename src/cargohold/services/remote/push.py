"""Pushing to another registry's /v2 API (replication), on the client's authentication
(client.py): a blob is sent only when a HEAD says the remote lacks it, in one POST + PUT
when it is small and in PATCH chunks when it is large; a manifest is PUT with its exact
bytes and media type, so its digest stays the same.

Every failure is a `PushError` that says whether trying again later may help: no answer,
5xx, 408 and 429 may; a refusal of the credentials or of what was sent (another 4xx) will
not, until someone changes something.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

from cargohold.services import outbound
from cargohold.services.remote.client import Remote, RemoteError

PUSH = "pull,push"
RETRIED = frozenset({408, 429})
OCTETS = "application/octet-stream"

# Reads `length` bytes of the blob from `offset`.
Reader = Callable[[int, int], Awaitable[bytes]]


class PushError(Exception):
    """A push that did not go through; `message` holds no secret."""

    def __init__(self, message: str, *, retry: bool, status: int | None = None) -> None:
        self.message = message
        self.retry = retry
        self.status = status
        super().__init__(message)


def _failed(what: str, reply: outbound.Reply) -> PushError:
    status = reply.status
    detail = _error_text(reply.body)
    retry = status >= 500 or status in RETRIED
    return PushError(
        f"{what}: the remote answered {status}{f' ({detail})' if detail else ''}",
        retry=retry,
        status=status,
    )


def _error_text(body: bytes) -> str:
    """The first OCI error of an answer, short (`DENIED: requested access ... denied`)."""
    try:
        first = json.loads(body)["errors"][0]
        text = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    return text[:300]


async def _send(
    remote: Remote,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> outbound.Reply:
    try:
        return await remote.send(method, path, headers=headers, actions=PUSH, content=content)
    except RemoteError as exc:
        raise PushError(exc.message, retry=exc.kind != "auth") from None


def _path(remote: Remote, location: str) -> str:
    """A Location the remote answered, as a path of its own /v2 API (another host is
    refused: the upload goes where the rule says, nowhere else)."""
    absolute = urljoin(remote.base + "/", location)
    base, here = urlsplit(remote.base), urlsplit(absolute)
    if (here.scheme, here.netloc) != (base.scheme, base.netloc) or not here.path.startswith("/v2/"):
        raise PushError("the remote sent the upload to another place", retry=False)
    return here.path + (f"?{here.query}" if here.query else "")


def _with_query(path: str, **params: str) -> str:
    return path + ("&" if "?" in path else "?") + urlencode(params)


async def has_blob(remote: Remote, name: str, digest: str) -> bool:
    reply = await _send(remote, "HEAD", f"/v2/{name}/blobs/{digest}")
    if reply.status == 200:
        return True
    if reply.status == 404:
        return False
    raise _failed(f"checking blob {digest}", reply)


async def has_manifest(remote: Remote, name: str, reference: str, accept: str) -> bool:
    reply = await _send(
        remote, "HEAD", f"/v2/{name}/manifests/{reference}", headers={"Accept": accept}
    )
    if reply.status == 200:
        return True
    if reply.status == 404:
        return False
    raise _failed(f"checking manifest {reference}", reply)


async def push_blob(
    remote: Remote, name: str, digest: str, size: int, read: Reader, *, chunk_size: int
) -> None:
    """Upload one blob: POST then PUT with the bytes when it fits one chunk, else POST,
    PATCH per chunk, PUT."""
    started = await _send(remote, "POST", f"/v2/{name}/blobs/uploads/")
    if started.status != 202 or "location" not in started.headers:
        raise _failed(f"starting the upload of blob {digest}", started)
    location = _path(remote, started.headers["location"])
    if size <= chunk_size:
        body = await read(0, size)
        headers = {"Content-Type": OCTETS, "Content-Length": str(len(body))}
        done = await _send(
            remote, "PUT", _with_query(location, digest=digest), headers=headers, content=body
        )
    else:
        offset = 0
        while offset < size:
            chunk = await read(offset, min(chunk_size, size - offset))
            if not chunk:
                raise PushError(f"blob {digest} ended early in this registry", retry=True)
            headers = {
                "Content-Type": OCTETS,
                "Content-Length": str(len(chunk)),
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            }
            sent = await _send(remote, "PATCH", location, headers=headers, content=chunk)
            if sent.status != 202 or "location" not in sent.headers:
                raise _failed(f"sending blob {digest} from byte {offset}", sent)
            location = _path(remote, sent.headers["location"])
            offset += len(chunk)
        done = await _send(
            remote,
            "PUT",
            _with_query(location, digest=digest),
            headers={"Content-Length": "0"},
            content=b"",
        )
    if done.status != 201:
        raise _failed(f"finishing the upload of blob {digest}", done)


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str | None  # Docker-Content-Digest, as the remote computed it
    subject_seen: bool  # the remote said (OCI-Subject) it indexed the manifest's subject


async def push_manifest(
    remote: Remote, name: str, reference: str, media_type: str, payload: bytes
) -> PushedManifest:
    headers = {"Content-Type": media_type, "Content-Length": str(len(payload))}
    reply = await _send(
        remote, "PUT", f"/v2/{name}/manifests/{reference}", headers=headers, content=payload
    )
    if reply.status != 201:
        raise _failed(f"putting manifest {reference}", reply)
    return PushedManifest(
        reply.headers.get("docker-content-digest"), "oci-subject" in reply.headers
    )


async def get_manifest(remote: Remote, name: str, reference: str, accept: str) -> bytes | None:
    """A manifest the remote holds (None when it has none by that reference)."""
    reply = await _send(
        remote, "GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": accept}
    )
    if reply.status == 404:
        return None
    if reply.status != 200:
        raise _failed(f"reading manifest {reference}", reply)
    return reply.body
