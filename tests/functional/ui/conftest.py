"""The web UI in-process over ASGI, on the world of the API tests (tests/functional/api/
people.py): `ui.as_("owner")` is a client signed in as owner@ (its session row and cookie
made directly), whose `post` adds the session's CSRF token unless told not to."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from cargohold.config import Settings
from cargohold.services.accounts import directory, sessions
from cargohold.services.context import Context
from cargohold.web.ui import session_cookie
from tests.functional.api.people import Api, email, world
from tests.functional.conftest import marked_settings
from tests.functional.registry import (
    Registry,
    digest_of,
    image_manifest,
    index_manifest,
    random_blob,
)

PASSWORD = "correct horse battery"


@dataclass
class UiClient:
    client: httpx.AsyncClient
    session: session_cookie.Session | None
    cookie: str | None
    language: str | None = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        cookies = []
        if self.cookie:
            cookies.append(f"{session_cookie.COOKIE}={self.cookie}")
        if self.language:
            cookies.append(f"cargohold_lang={self.language}")
        headers = {"cookie": "; ".join(cookies)} if cookies else {}
        return {**headers, **(extra or {})}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf and self.session is not None:
            form.setdefault("csrf", self.session.csrf)
        return await self.client.post(
            path, data=form, headers=self._headers(kw.pop("headers", None)), **kw
        )

    async def follow(self, response: httpx.Response) -> httpx.Response:
        """The page a 303 leads to, as a browser loads it: with the cookies the redirect
        set (a one-time flash) besides the session's."""
        assert response.status_code == 303, response.text
        headers = self._headers()
        cookies = [headers.get("cookie", "")]
        cookies += [f"{name}={value}" for name, value in response.cookies.items()]
        headers["cookie"] = "; ".join(cookie for cookie in cookies if cookie)
        return await self.client.get(response.headers["location"], headers=headers)


@dataclass
class Ui:
    api: Api
    clients: dict[str, UiClient] = field(default_factory=dict)

    async def as_(self, who: str | None) -> UiClient:
        """A client signed in as `who` (None: a visitor with an anonymous session)."""
        ctx = self.api.context
        session = await browser_session(ctx, email(who) if who is not None else None)
        return UiClient(self.api.client, session, session_cookie.encode(ctx, session))

    def anonymous(self) -> UiClient:
        return UiClient(self.api.client, None, None)


async def browser_session(ctx: Context, address: str | None) -> session_cookie.Session:
    """A browser's session: signed in as the person with that email (a session row, as
    signing in makes), or a visitor's (None)."""
    signed_in = None
    if address is not None:
        user = await directory.find_user(ctx.db, address)
        assert user is not None
        _, signed_in = await sessions.start_session(
            ctx.db,
            kind=sessions.WEB,
            user_id=user.id,
            lifetime=session_cookie.MAX_AGE,
            now=ctx.now(),
        )
    return session_cookie.new_session(ctx, signed_in)


@pytest.fixture
def settings(request: pytest.FixtureRequest, fresh_settings: Callable[..., Settings]) -> Settings:
    """Token auth, on the backend of this run (CARGOHOLD_TEST_BACKEND)."""
    return marked_settings(request, fresh_settings, auth="token")


@pytest.fixture
async def ui(settings: Settings) -> AsyncIterator[Ui]:
    async with world(settings) as api:
        yield Ui(api)


async def set_password(ui: Ui, who: str, password: str = PASSWORD) -> None:
    ctx = ui.api.context
    await ctx.db.execute(
        "UPDATE users SET password_hash = :h WHERE email = :e",
        {"h": directory.hash_password(password), "e": email(who)},
    )


@dataclass(frozen=True)
class Pushed:
    index: str
    children: list[str]
    signature: str
    layers: list[str]


async def push_multi_arch(ui: Ui, name: str, tag: str) -> Pushed:
    """Push, as owner@, a two-platform index tagged `tag` whose images carry a label and an
    annotation with markup in them, and a signature referring to the index."""
    credentials = f"{email('owner')}:{await ui.api.token('owner')}"
    auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    async with httpx.AsyncClient(
        transport=ui.api.transport, base_url="http://registry.test", headers=auth
    ) as client:
        registry = Registry(client, ui.api.context)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": "2024-01-01T00:00:00Z",
                "config": {
                    "Entrypoint": ["/bin/app"],
                    "ExposedPorts": {"8080/tcp": {}},
                    "Labels": {"org.example.note": "<script>alert(1)</script>"},
                },
                "history": [{"created_by": "COPY app /bin/app"}],
            }
        ).encode()
        layers = [random_blob(300), random_blob(200)]
        children = [
            image_manifest(layers, config, annotations={"note": "<b>bold</b>"}),
            image_manifest([layers[0]], b'{"architecture":"arm64","os":"linux"}'),
        ]
        for child in children:
            await registry.push_image(name, child.digest, child)
        index = index_manifest(children)
        await registry.push_image(name, tag, index)
        signature = image_manifest(
            [b"signature"],
            b"{}",
            config_media_type="application/vnd.oci.empty.v1+json",
            artifact_type="application/vnd.dev.cosign.artifact.sig.v1+json",
            subject={
                "mediaType": index.media_type,
                "digest": index.digest,
                "size": len(index.manifest),
            },
        )
        await registry.push_image(name, signature.digest, signature)
    return Pushed(
        index.digest,
        [child.digest for child in children],
        signature.digest,
        [digest_of(layer) for layer in layers],
    )
