"""The world every API test starts from, made through the services, and a client for it.

Workspace `acme` (owner: owner@) has project PLAT with the private repository
`acme/web` and project WWW with the public repository `acme/site`; workspace
`globex` (owner: other@) has project APP with the private repository `globex/app`.

| package          | repository  | visibility |
| ---------------- | ----------- | ---------- |
| `acme/web/api`   | acme/web    | private    |
| `acme/web/db`    | acme/web    | private    |
| `acme/site/www`  | acme/site   | public     |
| `globex/app`     | globex/app  | private    |

People, by what they are to `acme/web`: `member` (a plain member of acme, no grant),
`reader` (repository grant read), `writer` (grant write on project PLAT), `admin`
(repository grant admin), `owner` (owner of acme), `other` (owner of globex only),
`outsider` (nothing anywhere), `site_admin`.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from cargohold.authz.roles import Role
from cargohold.config import Settings
from cargohold.services.accounts import directory, tokens
from cargohold.services.context import Context
from cargohold.services.registry import packages
from cargohold.web.app import create_app
from tests.functional.registry import Registry, fail_on_server_error, image_manifest, random_blob

PEOPLE = ("member", "reader", "writer", "admin", "owner", "other", "outsider", "site_admin")
PROBLEM_JSON = "application/problem+json"


def email(who: str) -> str:
    return f"{who.replace('_', '-')}@example.com"


@dataclass
class Api:
    client: httpx.AsyncClient
    context: Context
    transport: httpx.AsyncBaseTransport
    secrets: dict[tuple[str, str], str] = field(default_factory=dict)

    async def token(self, who: str, scope: str = "admin:package") -> str:
        """A personal token of `who` with one scope, made once per test."""
        if (who, scope) not in self.secrets:
            ctx = self.context
            async with ctx.db.transaction() as tx:
                user = await directory.find_user(tx, email(who))
                _, secret = await tokens.create_token(
                    tx,
                    kind="personal",
                    name=f"{who} {scope}",
                    scopes=[scope],
                    expires_at=ctx.now() + 86400,
                    now=ctx.now(),
                    user_id=user.id,
                )
            self.secrets[who, scope] = secret
        return self.secrets[who, scope]

    async def access_token(self, owner: str, scope: str) -> str:
        """An access token of a repository (`WORKSPACE/REPO`) or a workspace."""
        ctx = self.context
        async with ctx.db.transaction() as tx:
            if "/" in owner:
                repository = await directory.find_repository(tx, owner)
                ids: dict[str, Any] = {"kind": "repository", "repository_id": repository.id}
            else:
                ids = {
                    "kind": "workspace",
                    "workspace_id": await directory.find_workspace(tx, owner),
                }
            _, secret = await tokens.create_token(
                tx, name="robot", scopes=[scope], expires_at=None, now=ctx.now(), **ids
            )
        return secret

    async def headers(self, who: str, scope: str = "admin:package") -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(who, scope)}"}

    async def request(
        self,
        method: str,
        path: str,
        who: str | None = None,
        scope: str = "admin:package",
        **kw: Any,
    ) -> httpx.Response:
        """`METHOD /api/v1{path}` as `who` (None: anonymous)."""
        headers = dict(kw.pop("headers", {}))
        if who is not None:
            headers.update(await self.headers(who, scope))
        return await self.client.request(method, f"/api/v1{path}", headers=headers, **kw)

    async def get(self, path: str, who: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, who, **kw)

    async def post(self, path: str, who: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, who, **kw)

    async def put(self, path: str, who: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, who, **kw)

    async def patch(self, path: str, who: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, who, **kw)

    async def delete(self, path: str, who: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, who, **kw)

    async def push(self, name: str, tag: str) -> str:
        """Push a small image through /v2 as owner@ (Basic email + token); its digest."""
        credentials = f"{email('owner')}:{await self.token('owner')}"
        auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
        async with httpx.AsyncClient(
            transport=self.transport, base_url=self.client.base_url, headers=auth
        ) as client:
            return await Registry(client, self.context).push_image(
                name, tag, image_manifest([random_blob(64)])
            )

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.context.db.fetchall(sql, params)]


async def build_world(api: Api) -> None:
    ctx = api.context
    now = ctx.now()
    async with ctx.db.transaction() as tx:
        users = {
            who: await directory.create_user(
                tx, email=email(who), is_admin=who == "site_admin", now=now
            )
            for who in PEOPLE
        }
        acme = await directory.create_workspace(tx, slug="acme", owner=users["owner"], now=now)
        await directory.set_member(tx, workspace_id=acme, user=users["member"], owner=False)
        plat = await directory.create_project(tx, workspace="acme", key="PLAT", now=now)
        await directory.create_project(tx, workspace="acme", key="WWW", now=now)
        web = await directory.create_repository(
            tx, full_name="acme/web", project_key="PLAT", now=now
        )
        site = await directory.create_repository(
            tx, full_name="acme/site", project_key="WWW", public=True, now=now
        )
        await directory.grant_repository(tx, repository=web, user=users["reader"], role=Role.READ)
        await directory.grant_project(tx, project_id=plat, user=users["writer"], role=Role.WRITE)
        await directory.grant_repository(tx, repository=web, user=users["admin"], role=Role.ADMIN)
        await directory.create_workspace(tx, slug="globex", owner=users["other"], now=now)
        await directory.create_project(tx, workspace="globex", key="APP", now=now)
        app = await directory.create_repository(
            tx, full_name="globex/app", project_key="APP", now=now
        )
        for name, repository in (
            ("acme/web/api", web),
            ("acme/web/db", web),
            ("acme/site/www", site),
            ("globex/app", app),
        ):
            await packages.create_package(tx, name=name, repository=repository, now=now)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem of this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


@asynccontextmanager
async def world(settings: Settings) -> AsyncIterator[Api]:
    """The app in-process on `settings`, with the world above built through the services."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://registry.test",
        event_hooks={"response": [fail_on_server_error]},
    ) as client:
        api = Api(client, app.state.context, transport)
        await build_world(api)
        yield api
    await app.state.context.close()
