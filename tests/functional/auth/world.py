"""The fixture world of the auth tests, built through the services and the registry API.

Workspace `acme` (owner: owner@) has project PLAT with the private repository
`acme/web` and project WWW with the public repository `acme/site`:

| package         | repository     | visibility |
| --------------- | -------------- | ---------- |
| `acme/web`      | acme/web       | private    |
| `acme/site`     | acme/site      | public     |
| `acme/pub-base` | acme/site      | public     |
| `globex/app`    | globex/app     | private, workspace globex (owner: other@) |
| `initech/vault` | initech/vault  | private, workspace initech (owner: vault@) |

People, by what they are to `acme/web`: `none` (a plain member of acme, no grant),
`read` (repository grant), `write` (grant on project PLAT), `admin` (repository
grant), `owner` (owner of acme), `other` (owner of globex only), `site_admin`.
Each has a `read:package`, a `write:package` and an `admin:package` token; the
robots `robot` (access token of acme/web) and `robot_ws` (of workspace acme)
have one of each too. `expired` and `revoked` are admin@'s admin tokens that no
longer hold. `read@` also has a password.

With an OpenID issuer (tests/oidc/issuer.py), pipelines log in too: `oidc_repo` with an
ID token that a trust policy of acme accepts for read, write or admin on acme/web, and
`oidc_ws` with one accepted for the whole workspace acme (user name `oidc`).

The world is built once per run; each test starts from a copy of it (its data directory,
and on PostgreSQL its rows, put back before each test).
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass

import httpx

from cargohold.authz.roles import Role
from cargohold.config import Settings
from cargohold.services.accounts import directory, oidc_policies, tokens
from cargohold.services.context import Context
from cargohold.services.registry import packages
from cargohold.web.app import create_app
from tests.functional.registry import Registry, digest_of, image_manifest, random_blob
from tests.oidc.issuer import Issuer

PRIVATE = "acme/web"
PUBLIC = "acme/site"
PUBLIC_BASE = "acme/pub-base"
FOREIGN = "globex/app"
VAULT = "initech/vault"
PUBLIC_PACKAGES = [PUBLIC_BASE, PUBLIC]
ALL_PACKAGES = [PUBLIC_BASE, PUBLIC, PRIVATE, FOREIGN, VAULT]

PEOPLE = ("none", "read", "write", "admin", "owner", "other", "site_admin", "vault")
ROBOTS = ("robot", "robot_ws")
PIPELINES = ("oidc_repo", "oidc_ws")  # log in with ID tokens of the world's issuer
OIDC_AUDIENCE = "cargohold-world"
ID_TOKEN_LIFETIME = 2 * 86400  # the world is built once per run
SCOPES = ("read", "write", "admin")
PASSWORD = "correct horse battery staple"
TOKEN_LIFETIME = 7 * 86400


def email(who: str) -> str:
    return f"{who.replace('_', '-')}@example.com"


@dataclass(frozen=True)
class Credential:
    username: str
    secret: str
    token_id: str | None = None

    @property
    def basic(self) -> dict[str, str]:
        return {"Authorization": basic_header(self.username, self.secret)}


def basic_header(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


@dataclass(frozen=True)
class Content:
    """What a package holds: one image tagged `v1`."""

    manifest: bytes
    media_type: str
    digest: str
    config: str
    layer: str
    blobs: tuple[bytes, bytes]  # the config and the layer themselves


@dataclass(frozen=True)
class World:
    credentials: dict[str, Credential]
    contents: dict[str, Content]

    def credential(self, who: str, scope: str = "admin") -> Credential:
        """`who`'s token with `<scope>:package`; `expired` and `revoked` stand alone."""
        return self.credentials[who if who in ("expired", "revoked") else f"{who}:{scope}"]

    @property
    def shared_blob(self) -> str:
        """A layer only the public package acme/pub-base links: anyone may mount it."""
        return self.contents[PUBLIC_BASE].layer

    @property
    def secret_blob(self) -> str:
        """A layer only initech/vault links: nobody in the matrix may read it."""
        return self.contents[VAULT].layer


async def _accounts(ctx: Context) -> dict[str, Credential]:
    now = ctx.now()
    expires = now + TOKEN_LIFETIME
    credentials: dict[str, Credential] = {}
    async with ctx.db.transaction() as db:
        users = {
            who: await directory.create_user(
                db,
                email=email(who),
                is_admin=who == "site_admin",
                password=PASSWORD if who == "read" else None,
                now=now,
            )
            for who in PEOPLE
        }
        acme = await directory.create_workspace(db, slug="acme", owner=users["owner"], now=now)
        await directory.set_member(db, workspace_id=acme, user=users["none"], owner=False)
        plat = await directory.create_project(db, workspace="acme", key="PLAT", now=now)
        await directory.create_project(db, workspace="acme", key="WWW", now=now)
        web = await directory.create_repository(db, full_name=PRIVATE, project_key="PLAT", now=now)
        site = await directory.create_repository(
            db, full_name="acme/site", project_key="WWW", public=True, now=now
        )
        await directory.grant_repository(db, repository=web, user=users["read"], role=Role.READ)
        await directory.grant_project(db, project_id=plat, user=users["write"], role=Role.WRITE)
        await directory.grant_repository(db, repository=web, user=users["admin"], role=Role.ADMIN)
        await packages.create_package(db, name=PRIVATE, repository=web, now=now)
        await packages.create_package(db, name=PUBLIC, repository=site, now=now)
        await packages.create_package(db, name=PUBLIC_BASE, repository=site, now=now)
        for slug, owner, key in (("globex", "other", "APP"), ("initech", "vault", "SEC")):
            await directory.create_workspace(db, slug=slug, owner=users[owner], now=now)
            await directory.create_project(db, workspace=slug, key=key, now=now)
            full_name = FOREIGN if slug == "globex" else VAULT
            repository = await directory.create_repository(
                db, full_name=full_name, project_key=key, now=now
            )
            await packages.create_package(db, name=full_name, repository=repository, now=now)

        for scope in SCOPES:
            for who, user in users.items():
                token, secret = await tokens.create_token(
                    db,
                    kind="personal",
                    name=f"{who} {scope}",
                    scopes=[f"{scope}:package"],
                    expires_at=expires,
                    now=now,
                    user_id=user.id,
                )
                credentials[f"{who}:{scope}"] = Credential(user.email, secret, token.id)
            for who, owner in (
                ("robot", {"repository_id": web.id}),
                ("robot_ws", {"workspace_id": acme}),
            ):
                token, secret = await tokens.create_token(
                    db,
                    kind="repository" if who == "robot" else "workspace",
                    name=f"ci {scope}",
                    scopes=[f"{scope}:package"],
                    expires_at=expires,
                    now=now,
                    **owner,
                )
                credentials[f"{who}:{scope}"] = Credential("ci", secret, token.id)

        admin = users["admin"]
        token, secret = await tokens.create_token(
            db,
            kind="personal",
            name="expired",
            scopes=["admin:package"],
            expires_at=now - 3600,
            now=now - 7200,
            user_id=admin.id,
        )
        credentials["expired"] = Credential(admin.email, secret, token.id)
        token, secret = await tokens.create_token(
            db,
            kind="personal",
            name="revoked",
            scopes=["admin:package"],
            expires_at=expires,
            now=now,
            user_id=admin.id,
        )
        await tokens.revoke_token(db, token.id, now=now)
        credentials["revoked"] = Credential(admin.email, secret, token.id)
    return credentials


async def _pipelines(ctx: Context, issuer: Issuer) -> dict[str, Credential]:
    """A trust policy of acme per pipeline and role, each accepting exactly one ID token:
    `oidc_repo` on the repository acme/web, `oidc_ws` on the whole workspace."""
    credentials = {}
    now = ctx.now()
    async with ctx.db.transaction() as db:
        for who in PIPELINES:
            for scope in SCOPES:
                job = f"{who}-{scope}"
                policy = await oidc_policies.create_policy(
                    db,
                    ctx.settings,
                    workspace="acme",
                    repository="web" if who == "oidc_repo" else None,
                    issuer=issuer.url,
                    audience=OIDC_AUDIENCE,
                    claims={"repository": "acme/web", "job": job},
                    role=scope,
                    lifetime="15m",
                    created_by=None,
                    now=now,
                )
                token = issuer.mint(
                    {"repository": "acme/web", "ref": "refs/heads/main", "job": job},
                    audience=OIDC_AUDIENCE,
                    lifetime=ID_TOKEN_LIFETIME,
                )
                credentials[f"{who}:{scope}"] = Credential("oidc", token, policy.id)
    return credentials


async def _contents(registry: Registry) -> dict[str, Content]:
    contents = {}
    for name in ALL_PACKAGES:
        layer = random_blob(2048)
        image = image_manifest([layer], config=f'{{"os":"linux","package":"{name}"}}'.encode())
        await registry.push_image(name, "v1", image)
        contents[name] = Content(
            image.manifest,
            image.media_type,
            image.digest,
            digest_of(image.blobs[0]),
            digest_of(layer),
            (image.blobs[0], layer),
        )
    return contents


async def populate(ctx: Context, client: httpx.AsyncClient, issuer: Issuer | None = None) -> World:
    """Make the accounts through the services, then push through the API as the site admin."""
    credentials = await _accounts(ctx)
    if issuer is not None:
        credentials.update(await _pipelines(ctx, issuer))
    client.headers.update(credentials["site_admin:admin"].basic)
    try:
        contents = await _contents(Registry(client, ctx))
    finally:
        del client.headers["Authorization"]
    return World(credentials, contents)


def build(settings: Settings, issuer: Issuer | None = None) -> World:
    """Build the world into the empty data directory, database and store of `settings`
    (token auth) and close them again; with `issuer`, its pipelines too (the settings must
    let the issuer's http:// loopback address in)."""

    async def main() -> World:
        app = create_app(settings)
        ctx: Context = app.state.context
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://registry.test"
            ) as client:
                return await populate(ctx, client, issuer)
        finally:
            await ctx.close()

    return asyncio.run(main())


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def challenge(header: str | None) -> dict[str, str]:
    """The parameters of a `Bearer ...` challenge; fails the test for any other scheme."""
    assert header is not None, "no WWW-Authenticate header"
    scheme, _, params = header.partition(" ")
    assert scheme == "Bearer", header
    return dict(_CHALLENGE_PARAM.findall(params))


async def bearer(
    client: httpx.AsyncClient, credential: Credential | None, scopes: list[str]
) -> dict[str, str]:
    """An Authorization header with a registry token from GET /token for these scopes."""
    headers = credential.basic if credential is not None else {}
    params = [("service", "cargohold"), *(("scope", scope) for scope in scopes)]
    response = await client.get("/token", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
