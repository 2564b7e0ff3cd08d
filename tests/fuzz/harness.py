"""What every fuzz surface runs on: the app in-process on SQLite and the filesystem, the
world of the API tests (tests/functional/api/people.py) with images pushed before the
fuzzing, one event loop that every case runs in, and the invariants.

Invariants, checked by `Fuzz.send` on every request and by `Fuzz.check` after every case:

- no 5xx, and no request that takes longer than `REQUEST_TIMEOUT` (a hang fails the case);
- a refused request (4xx) leaves nothing behind: no new blob, link, manifest, tag, upload
  session, package, token or grant rows, no new stored objects, nothing removed but the
  upload session it named, and no session that changed size;
- every row has its bytes: each blob row has its object, of the row's size, and each upload
  session row has its upload object, of the session's size;
- no upload session stays open but the ones the world had before and the ones the case
  itself opened (each case cancels what it opened, and that must work);
- every image pushed before the fuzzing still pulls byte-identical, by digest (its manifest,
  with its media type, and each of its blobs): after every `BASELINE_EVERY` cases and at the
  end of each surface.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from argon2 import PasswordHasher

from cargohold.config import Settings
from cargohold.services.accounts import directory
from cargohold.services.registry import packages
from cargohold.web.app import create_app
from tests.functional.api.people import Api, build_world, email
from tests.functional.registry import (
    Image,
    Registry,
    digest_of,
    fail_on_server_error,
    image_manifest,
    index_manifest,
)

T = TypeVar("T")

REQUEST_TIMEOUT = 10.0  # seconds; in-process requests take milliseconds
BASELINE_EVERY = 250  # cases between two full pulls of the images pushed before the fuzzing
PASSWORD = "fuzzing horse battery"
# A cheap argon2 hash of PASSWORD (the stored hash carries its parameters, so verifying it
# runs the real code at a fraction of the default cost).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)

# The images pushed before the fuzzing live in workspace acme (owner@): the fuzzing's
# callers may read them (acme/site/www is public; writer@ has write on acme/web), never
# delete them. The fuzzing writes freely in workspace globex, where other@ is owner.
KEPT = ("acme/web/api", "acme/site/www")
WRITABLE = ("globex/app", "globex/app/tools", "globex/scratch")
CALLERS = ("other", "writer", "reader", "outsider", None)


@dataclass
class Stored:
    """An image pushed before the fuzzing: what it must still pull, byte for byte."""

    name: str
    tag: str
    image: Image
    children: list[Image] = field(default_factory=list)

    @property
    def blobs(self) -> dict[str, bytes]:
        found = {digest_of(blob): blob for blob in self.image.blobs}
        for child in self.children:
            found.update({digest_of(blob): blob for blob in child.blobs})
        return found


# What a refused request may not change, one query per table: rows as tuples, without the
# columns that change on every use (tokens.last_used_at, sessions.last_used_at).
TABLES: dict[str, str] = {
    "blobs": "SELECT digest, size FROM blobs",
    "package_blobs": "SELECT package_id, digest FROM package_blobs",
    "manifests": "SELECT package_id, digest, media_type, size, is_child FROM manifests",
    "tags": "SELECT package_id, name, manifest_id FROM tags",
    "uploads": "SELECT id, package_name, size FROM uploads",
    "packages": "SELECT id, name FROM packages",
    "package_links": "SELECT * FROM package_links",
    "tokens": "SELECT id, kind, name, scopes, expires_at, revoked_at FROM tokens",
    "sessions": "SELECT id, kind, user_id, expires_at FROM sessions",
    "users": "SELECT id, email, display_name, password_hash, is_admin FROM users",
    "workspaces": "SELECT * FROM workspaces",
    "workspace_members": "SELECT * FROM workspace_members",
    "projects": "SELECT * FROM projects",
    "repositories": "SELECT * FROM repositories",
    "project_grants": "SELECT * FROM project_grants",
    "repository_grants": "SELECT * FROM repository_grants",
    "retention_policies": "SELECT * FROM retention_policies",
    "tag_protections": "SELECT * FROM tag_protections",
}


@dataclass(frozen=True)
class State:
    rows: Mapping[str, frozenset[tuple[Any, ...]]]
    files: frozenset[str]

    @property
    def upload_ids(self) -> set[str]:
        return {row[0] for row in self.rows["uploads"]}

    def new_in(self, later: State) -> dict[str, list[str]]:
        """What `later` has that this state has not, table by table (and `files`)."""
        added = {
            table: sorted(map(repr, later.rows[table] - rows))
            for table, rows in self.rows.items()
            if later.rows[table] - rows
        }
        if later.files - self.files:
            added["files"] = sorted(later.files - self.files)
        return added

    def gone_in(self, later: State) -> dict[str, list[str]]:
        gone = {
            table: sorted(map(repr, rows - later.rows[table]))
            for table, rows in self.rows.items()
            if rows - later.rows[table]
        }
        if self.files - later.files:
            gone["files"] = sorted(self.files - later.files)
        return gone


@dataclass
class Stats:
    """What one surface ran: cases, requests, statuses, seconds."""

    cases: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    setup: float = 0.0
    findings: Counter[str] = field(default_factory=Counter)  # 5xx seen in a survey run


STATS: dict[str, Stats] = {}
# CARGOHOLD_FUZZ_SURVEY=1: a 5xx does not fail the case but is counted by where it was
# raised, so that one run lists every finding of a surface (see the terminal summary).
SURVEY = os.environ.get("CARGOHOLD_FUZZ_SURVEY", "").strip() == "1"


def _summary(response: httpx.Response) -> str:
    """Where a 5xx came from: the request's method and path shape, the exception and the
    innermost frame of the project's code that raised it."""
    error = response.extensions.get("error")
    where = ""
    if error is not None:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if "cargohold" in f.filename]
        if frames:
            where = f" at {frames[-1].filename.split('src/')[-1]}:{frames[-1].lineno}"
    path = re.sub(r"[0-9a-f]{32,}", "<hex>", response.request.url.path)[:80]
    text = f"{type(error).__name__}: {str(error)[:100]}" if error else response.text[:100]
    return f"{response.status_code} {response.request.method} {path}: {text}{where}"


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


@dataclass
class Fuzz:
    """One surface's world and event loop. `run(coro)` runs a case; `send` one request."""

    surface: str
    runner: asyncio.Runner
    api: Api
    app: Any
    registry: Registry
    kept: list[Stored] = field(default_factory=list)
    credentials: dict[str | None, dict[str, str]] = field(default_factory=dict)
    bearer: dict[str | None, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    baseline_uploads: set[str] = field(default_factory=set)
    stats: Stats = field(default_factory=Stats)
    extra: dict[str, Any] = field(default_factory=dict)  # what a surface sets up once

    @property
    def ctx(self) -> Any:
        return self.api.context

    def run(self, step: Awaitable[T]) -> T:
        return self.runner.run(_bounded(step, REQUEST_TIMEOUT * 20))

    # ------------------------------------------------------------------ requests

    async def send(
        self,
        method: str,
        path: bytes | str,
        *,
        query: bytes | str = b"",
        headers: Mapping[str, str | bytes] | Iterable[tuple[bytes, bytes]] | None = None,
        body: bytes | list[bytes] = b"",
        client: str = "127.0.0.1",
    ) -> httpx.Response:
        """One request straight into the ASGI app (headers and path as raw as a server
        hands them over), bounded in time; any 5xx fails the case."""
        raw_path = path.encode() if isinstance(path, str) else path
        raw_query = query.encode() if isinstance(query, str) else query
        raw_headers = [(b"host", b"registry.test")]
        items = headers.items() if isinstance(headers, Mapping) else (headers or [])
        for key, value in items:
            k = key.encode("latin-1") if isinstance(key, str) else key
            v = value.encode("latin-1") if isinstance(value, str) else value
            raw_headers.append((k.lower(), v))
        response = await _bounded(
            _asgi(self.app, method, raw_path, raw_query, raw_headers, body, client),
            REQUEST_TIMEOUT,
            f"{method} {raw_path[:200]!r}",
        )
        self.stats.requests += 1
        self.stats.statuses[response.status_code] += 1
        await self.server_error(response)
        return response

    async def server_error(self, response: httpx.Response) -> None:
        """Fail the case on a 5xx; in a survey run, count it instead."""
        if response.status_code >= 500 and SURVEY:
            self.stats.findings[_summary(response)] += 1
            return
        await fail_on_server_error(response)

    def auth(self, who: str | None, kind: str = "basic") -> dict[str, str]:
        """The Authorization header of a fuzz caller: Basic email + API token, or the
        registry bearer token (JWT) made for it at the start; {} for None."""
        if who is None:
            return {}
        if kind == "bearer":
            return {"authorization": f"Bearer {self.bearer[who]}"}
        return self.credentials[who]

    # ------------------------------------------------------------------ invariants

    async def state(self, *, blobs: bool = True) -> State:
        """The rows of TABLES and the stored files; with `blobs=False` only the files of
        upload sessions (a walk of every blob costs more as the store grows: a step that
        cannot publish a blob, such as a PATCH, is compared without it)."""
        db = self.ctx.db
        rows = {
            table: frozenset(tuple(row) for row in await db.fetchall(sql))
            for table, sql in self.tables.items()
        }
        return State(rows, frozenset(self._files("" if blobs else "uploads")))

    def _files(self, under: str = "") -> Iterator[str]:
        root = str(self.ctx.settings.blob_dir)
        for folder, _dirs, files in os.walk(os.path.join(root, under)):
            relative = os.path.relpath(folder, root).replace(os.sep, "/")
            prefix = "" if relative == "." else relative + "/"
            for name in files:
                yield prefix + name

    def refused_left_nothing(
        self, before: State, after: State, response: httpx.Response, what: str = ""
    ) -> None:
        """A refused request (4xx) added nothing and removed nothing but upload sessions;
        the sessions it left kept their size."""
        if response.status_code < 400:
            return
        label = f"{response.request.method} {str(response.request.url)[:200]} {what}"
        added = before.new_in(after)
        assert not added, f"{label} answered {response.status_code} but left {added}"
        gone = before.gone_in(after)
        gone.pop("uploads", None)
        if "files" in gone:
            gone["files"] = [f for f in gone["files"] if not f.startswith("uploads/")]
            if not gone["files"]:
                del gone["files"]
        assert not gone, f"{label} answered {response.status_code} but removed {gone}"

    async def check(self, *, opened: Iterable[str] = ()) -> None:
        """After a case: every row has its bytes, and no session is left open but the
        world's own and `opened` (which the case was to cancel, so they must be gone)."""
        now = await self.state(blobs=False)
        root: Path = self.ctx.settings.blob_dir
        for digest, size in now.rows["blobs"]:
            algorithm, encoded = digest.split(":", 1)
            try:
                stored = (root / "blobs" / algorithm / encoded[:2] / encoded).stat().st_size
            except FileNotFoundError:
                raise AssertionError(f"blob row {digest} has no bytes") from None
            assert stored == size, f"blob {digest} is {stored} bytes, its row says {size}"
        for upload_id, _name, size in now.rows["uploads"]:
            key = f"uploads/{upload_id}"
            assert key in now.files, f"upload session {upload_id} has no bytes"
            assert (root / key).stat().st_size == size, f"upload {upload_id} is not {size} bytes"
        left = now.upload_ids - self.baseline_uploads
        assert not left, f"upload sessions left open: {sorted(left)} (opened: {sorted(opened)})"
        uploads_dir = root / "uploads"
        if uploads_dir.exists():
            stray = {p.name for p in uploads_dir.iterdir()} - now.upload_ids
            assert not stray, f"upload objects without a session: {sorted(stray)}"
        self.stats.cases += 1
        if self.stats.cases % BASELINE_EVERY == 0:
            await self.check_kept()

    async def check_kept(self) -> None:
        """Every image pushed before the fuzzing pulls byte-identical, by digest."""
        headers = {"authorization": f"Bearer {self.bearer['owner']}"}  # never rate limited
        for stored in self.kept:
            for image in (stored.image, *stored.children):
                response = await self.send(
                    "GET",
                    f"/v2/{stored.name}/manifests/{image.digest}",
                    headers={**headers, "accept": image.media_type},
                )
                assert response.status_code == 200, (stored.name, image.digest, response.text)
                assert response.content == image.manifest, f"{image.digest} changed"
                assert response.headers["content-type"] == image.media_type
            for digest, data in stored.blobs.items():
                response = await self.send(
                    "GET", f"/v2/{stored.name}/blobs/{digest}", headers=headers
                )
                assert response.status_code == 200, (stored.name, digest, response.text)
                assert response.content == data, f"blob {digest} of {stored.name} changed"

    async def cancel(self, name: str, upload_id: str, who: str | None = "other") -> None:
        """Cancel a session the case opened: it must go, with its bytes."""
        response = await self.send(
            "DELETE", f"/v2/{name}/blobs/uploads/{upload_id}", headers=self.auth(who)
        )
        assert response.status_code in (204, 404), response.text


async def _bounded(step: Awaitable[T], seconds: float, what: str = "the case") -> T:
    try:
        return await asyncio.wait_for(step, seconds)
    except TimeoutError:
        raise AssertionError(f"{what} did not answer within {seconds} s (a hang)") from None


async def _asgi(
    app: Any,
    method: str,
    path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes | list[bytes],
    client: str,
) -> httpx.Response:
    from urllib.parse import unquote_to_bytes

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote_to_bytes(path).decode("utf-8", "replace"),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "server": ("registry.test", 80),
        "client": (client, 50000),
    }
    chunks = [body] if isinstance(body, bytes) else list(body)
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(REQUEST_TIMEOUT * 2)  # a server waits for the client: a hang
        return {"type": "http.disconnect"}

    started: list[dict[str, Any]] = []
    sent = bytearray()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(message)
        elif message["type"] == "http.response.body":
            sent.extend(message.get("body", b""))

    error: BaseException | None = None
    try:
        await app(scope, receive, send)
    except Exception as exc:  # Starlette answers 500 and then re-raises: report that 500
        if not started:
            raise AssertionError(f"{method} {path[:200]!r} raised {exc!r}") from exc
        error = exc
    assert len(started) == 1, f"{method} {path[:200]!r}: the app started {len(started)} responses"
    response = httpx.Response(
        started[0]["status"],
        headers=started[0].get("headers", []),
        content=bytes(sent),
        request=httpx.Request(
            method,
            "http://registry.test" + path.decode("latin-1")[:2000],
            headers=[(k, v) for k, v in headers if k != b"host"],
        ),
    )
    if error is not None and response.status_code < 500:
        raise AssertionError(f"{method} {path[:200]!r} raised {error!r}") from error
    response.extensions["error"] = error
    return response


# ---------------------------------------------------------------------- the world


def fuzz_settings(data_dir: Path, **fields: Any) -> Settings:
    """SQLite and the filesystem, token auth, whatever CARGOHOLD_TEST_BACKEND says: the
    fuzz surfaces run once, on the fast configuration."""
    defaults: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": None,
        "storage": "filesystem",
        "auth": "token",
        "token_lifetime": 6 * 3600,  # outlives a `make fuzz` run
        "gc_enabled": False,
    }
    return Settings(**{**defaults, **fields})


async def _push_kept(api: Api) -> list[Stored]:
    """Images of every kind in acme, as owner@: what the fuzzing must never change."""
    credentials = basic(email("owner"), await api.token("owner"))
    async with httpx.AsyncClient(
        transport=api.transport,
        base_url="http://registry.test",
        headers={"Authorization": credentials},
        event_hooks={"response": [fail_on_server_error]},
    ) as client:
        registry = Registry(client, api.context)
        kept: list[Stored] = []
        single = image_manifest([b"layer one " * 50, b""], annotations={"kept": "yes"})
        await registry.push_image("acme/web/api", "v1", single)
        kept.append(Stored("acme/web/api", "v1", single))
        from cargohold.oci import mediatypes

        docker = image_manifest([b"docker layer"], media_type=mediatypes.DOCKER_MANIFEST)
        await registry.push_image("acme/site/www", "latest", docker)
        kept.append(Stored("acme/site/www", "latest", docker))
        children = [
            image_manifest([b"amd64 layer" * 3]),
            image_manifest([b"arm64 layer" * 7], b'{"architecture":"arm64","os":"linux"}'),
        ]
        for child in children:
            await registry.push_image("acme/site/www", child.digest, child)
        index = index_manifest(children)
        await registry.push_image("acme/site/www", "multi", index)
        kept.append(Stored("acme/site/www", "multi", index, children))
    return kept


async def open_fuzz(surface: str, runner: asyncio.Runner, settings: Settings) -> Fuzz:
    began = time.monotonic()
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(
        transport=transport,
        base_url="http://registry.test",
        event_hooks={"response": [fail_on_server_error]},
    )
    api = Api(client, app.state.context, transport)
    await build_world(api)
    ctx = api.context
    async with ctx.db.transaction() as tx:
        globex = await directory.find_repository(tx, "globex/app")
        for name in WRITABLE[1:]:
            await packages.create_package(tx, name=name, repository=globex, now=ctx.now())
        await tx.execute(
            "UPDATE users SET password_hash = :h WHERE email = :e",
            {"h": CHEAP_HASHER.hash(PASSWORD), "e": email("other")},
        )
    fuzz = Fuzz(surface, runner, api, app, Registry(client, ctx, app))
    existing = {
        row["name"]
        for row in await ctx.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    fuzz.tables = {table: sql for table, sql in TABLES.items() if table in existing}
    for who in ("owner", *(c for c in CALLERS if c is not None)):
        fuzz.credentials[who] = {"authorization": basic(email(who), await api.token(who))}
    fuzz.kept = await _push_kept(api)
    for who in ("owner", *CALLERS):
        if who is None:
            continue
        scopes = "&".join(
            f"scope=repository:{name}:pull,push,delete" for name in (*KEPT, *WRITABLE)
        )
        response = await fuzz.send(
            "GET",
            "/token",
            query=f"service=cargohold&{scopes}&scope=registry:catalog:*",
            headers=fuzz.credentials[who],
        )
        assert response.status_code == 200, response.text
        fuzz.bearer[who] = response.json()["token"]
    await fuzz.check_kept()
    fuzz.baseline_uploads = (await fuzz.state()).upload_ids
    fuzz.stats = Stats(started=began, setup=time.monotonic() - began)
    STATS[surface] = fuzz.stats
    return fuzz


async def close_fuzz(fuzz: Fuzz) -> None:
    fuzz.stats.seconds = time.monotonic() - fuzz.stats.started
    await fuzz.api.client.aclose()
    await fuzz.ctx.close()


@contextlib.contextmanager
def cheap_passwords() -> Iterator[None]:
    """Password checks at a fraction of argon2's default cost (half a second each here),
    for the fuzzing only: the hasher that makes and checks every hash, the dummy one for
    unknown accounts included, takes CHEAP_HASHER's parameters. The code paths stay the
    real ones."""
    original = directory._HASHER
    dummy = getattr(directory, "_dummy_hash", None)
    directory._HASHER = CHEAP_HASHER
    if dummy is not None:
        dummy.cache_clear()
    try:
        yield
    finally:
        directory._HASHER = original
        if dummy is not None:
            dummy.cache_clear()
