"""The authorization matrix: who, how they authenticate, token scope, operation.

The table and the helpers live here; test_matrix.py runs every case through the app and
tests/interop/test_auth_live.py a slice of them against a live server.

Every case states the answer it expects from a table written out here (the roles
each principal holds, what each operation needs), not from the policy code, and
then checks that a refused request changed nothing and an allowed one did its work.

How a caller authenticates (`via`):
  none      no credentials at all
  token     Basic credentials (email + API token; `oidc` + an ID token for the pipelines
            oidc_repo and oidc_ws) straight on /v2
  jwt       a bearer token from /token, asked for pull,push,delete on the target, pull on
            the mount sources, and the catalog
  jwt_pull  a bearer token from /token asked for pull only (and no catalog)
  jwt_push  a bearer token from /token asked for pull,push (no delete, no catalog)
  exchange  (pipelines) a bearer token from POST /api/v1/oidc/exchange, asked for what jwt
            asks for

Expected answers: allowed → the operation's success status; no credentials → 401 with
a Bearer challenge naming the scope; a bearer token that could do it but was not
granted the action → 401 `insufficient_scope`; credentials but no read access → 404
NAME_UNKNOWN (existence is never revealed); read but not enough → 403 DENIED.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from cargohold.authz.roles import Role
from cargohold.services.accounts import oidc_policies
from cargohold.services.context import Context
from cargohold.services.events.webhooks import endpoints
from cargohold.services.events.webhooks.delivery import source_of
from cargohold.services.registry import mirrors
from cargohold.services.registry.replication import rules
from tests.functional.auth.world import (
    ALL_PACKAGES,
    FOREIGN,
    PRIVATE,
    PUBLIC,
    PUBLIC_BASE,
    PUBLIC_PACKAGES,
    SCOPES,
    VAULT,
    World,
    bearer,
    challenge,
)
from tests.functional.registry import digest_of, error_code, random_blob

NONE, READ, WRITE, ADMIN = Role.NONE, Role.READ, Role.WRITE, Role.ADMIN

# operation -> (least role, success status, the docker token action it needs)
OPERATIONS: dict[str, tuple[Role, int, str]] = {
    "pull_manifest": (READ, 200, "pull"),
    "head_manifest": (READ, 200, "pull"),
    "pull_blob": (READ, 200, "pull"),
    "head_blob": (READ, 200, "pull"),
    "tags_list": (READ, 200, "pull"),
    "referrers": (READ, 200, "pull"),
    "push_blob": (WRITE, 201, "push"),
    "push_manifest": (WRITE, 201, "push"),
    "mount_readable": (WRITE, 201, "push"),
    "mount_unreadable": (WRITE, 202, "push"),  # an upload starts instead: nothing revealed
    "delete_tag": (WRITE, 202, "delete"),
    "delete_manifest": (ADMIN, 202, "delete"),
    "delete_blob": (ADMIN, 202, "delete"),
    "catalog": (NONE, 200, ""),
    # an upload session that the site admin opened on the target, as any pusher may go on
    # with (sessions live in shared state, not with whoever opened them)
    "upload_status": (WRITE, 204, "push"),
    "upload_chunk": (WRITE, 202, "push"),
    "upload_finish": (WRITE, 201, "push"),
    "upload_cancel": (WRITE, 204, "push"),
}
UPLOADS = ("upload_status", "upload_chunk", "upload_finish", "upload_cancel")
# the scope a 401 challenge names for each docker action
CHALLENGE_ACTIONS = {"pull": "pull", "push": "pull,push", "delete": "delete"}
# what each kind of bearer token asked /token for on the target
ASKED = {
    "jwt": {"pull", "push", "delete"},
    "exchange": {"pull", "push", "delete"},
    "jwt_pull": {"pull"},
    "jwt_push": {"pull", "push"},
}

# The role each caller holds on each target package before token scopes narrow it.
ROLE_ON: dict[str, dict[str, Role]] = {
    PRIVATE: {
        "anonymous": NONE,
        "none": NONE,  # a member of acme without grants
        "read": READ,
        "write": WRITE,  # through project PLAT
        "admin": ADMIN,
        "owner": ADMIN,  # owner of acme
        "other": NONE,  # owner of globex only
        "site_admin": ADMIN,
        "robot": ADMIN,  # access token of acme/web: capped by its scope alone
        "robot_ws": ADMIN,  # access token of workspace acme
        "oidc_repo": ADMIN,  # a pipeline whose trust policy grants on acme/web: its role alone
        "oidc_ws": ADMIN,  # a pipeline whose trust policy grants on workspace acme
    },
    PUBLIC: {
        "anonymous": READ,
        "none": READ,
        "read": READ,
        "write": READ,  # acme/site is in project WWW
        "admin": READ,
        "owner": ADMIN,
        "other": READ,
        "site_admin": ADMIN,
        "robot": READ,  # another repository's robot: public read only
        "robot_ws": ADMIN,
        "oidc_repo": READ,  # granted on another repository: public read only
        "oidc_ws": ADMIN,
    },
}
CEILING = {"read": READ, "write": WRITE, "admin": ADMIN}
ROLE_NAMES = {READ: "read", WRITE: "write", ADMIN: "admin"}
ACME = [PUBLIC_BASE, PUBLIC, PRIVATE]
CATALOG: dict[str, list[str]] = {
    "anonymous": PUBLIC_PACKAGES,
    "none": PUBLIC_PACKAGES,
    "read": ACME,
    "write": ACME,
    "admin": ACME,
    "owner": ACME,
    "other": [*PUBLIC_PACKAGES, FOREIGN],
    "site_admin": ALL_PACKAGES,
    "robot": ACME,
    "robot_ws": ACME,
    "oidc_repo": ACME,
    "oidc_ws": ACME,
}


@dataclass(frozen=True)
class Caller:
    who: str
    via: str
    scope: str | None
    target: str

    @property
    def id(self) -> str:
        parts = [self.who]
        if self.via != "none":
            parts.append(self.via)
        if self.scope is not None:
            parts.append(f"{self.scope}_scope")
        if self.who == "anonymous":
            parts.append("public" if self.target == PUBLIC else "private")
        elif self.target == PUBLIC:
            parts.append("public")
        return "-".join(parts)


def callers() -> list[Caller]:
    callers = [
        Caller("anonymous", via, None, target)
        for target in (PRIVATE, PUBLIC)
        for via in ("none", "jwt")
    ]
    people = ("none", "read", "write", "admin", "owner", "other")
    callers += [
        Caller(who, via, scope, PRIVATE)
        for who in (*people, "robot", "robot_ws")
        for scope in ("read", "write", "admin")
        for via in ("token", "jwt")
    ]
    callers += [Caller("site_admin", via, "admin", PRIVATE) for via in ("token", "jwt")]
    callers += [
        Caller(who, via, "admin", PRIVATE)
        for who in ("none", "read", "write", "owner")
        for via in ("jwt_pull", "jwt_push")
    ]
    callers += [
        Caller("none", "token", "admin", PUBLIC),
        Caller("other", "jwt", "admin", PUBLIC),
        Caller("write", "token", "write", PUBLIC),
        Caller("owner", "jwt", "admin", PUBLIC),
        Caller("owner", "token", "write", PUBLIC),
        Caller("robot", "jwt", "admin", PUBLIC),
        Caller("robot_ws", "token", "admin", PUBLIC),
    ]
    # pipelines logged in with an ID token (user name `oidc`), whose scope is the role
    # their trust policy grants
    callers += [
        Caller(who, via, scope, PRIVATE)
        for who in ("oidc_repo", "oidc_ws")
        for scope in ("read", "write", "admin")
        for via in ("token", "jwt", "exchange")
    ]
    callers += [
        Caller("oidc_repo", "jwt", "admin", PUBLIC),
        Caller("oidc_ws", "token", "admin", PUBLIC),
    ]
    callers += [Caller(who, "token", None, PRIVATE) for who in ("expired", "revoked")]
    return callers


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None = None  # the registry error code, for refusals
    error: str | None = None  # the `error` of the challenge, for 401s
    scope: str | None = None  # the `scope` of the challenge, when it must name one
    needs: str | None = None  # the role a 403 names as the one it needed (docs/access.md)


def expected(caller: Caller, operation: str) -> Outcome:
    need, success, action = OPERATIONS[operation]
    if caller.who in ("expired", "revoked"):
        return Outcome(401, "UNAUTHORIZED")
    if operation == "catalog":
        if caller.via in ("jwt_pull", "jwt_push"):
            return Outcome(401, "UNAUTHORIZED", "insufficient_scope", "registry:catalog:*")
        return Outcome(200)
    role = ROLE_ON[caller.target][caller.who]
    if caller.scope is not None:
        role = min(role, CEILING[caller.scope])
    scope = f"repository:{caller.target}:{CHALLENGE_ACTIONS[action]}"
    if operation == "mount_unreadable" and caller.who == "site_admin":
        success = 201  # a site admin may read initech/vault: the mount happens
    if role >= need:
        if caller.via in ASKED and action not in ASKED[caller.via]:
            return Outcome(401, "UNAUTHORIZED", "insufficient_scope", scope)
        return Outcome(success)
    if caller.via == "none":
        return Outcome(401, "UNAUTHORIZED", None, scope)
    if role == NONE:
        return Outcome(404, "NAME_UNKNOWN")
    return Outcome(403, "DENIED", needs=ROLE_NAMES[need])


async def caller_headers(client: httpx.AsyncClient, world: World, caller: Caller) -> dict[str, str]:
    credential = None if caller.who == "anonymous" else world.credential(caller.who, caller.scope)
    if caller.via == "none":
        return {}
    if caller.via == "token":
        assert credential is not None
        return credential.basic
    actions = ",".join(sorted(ASKED[caller.via]))
    scopes = [
        f"repository:{caller.target}:{actions}",
        f"repository:{PUBLIC_BASE}:pull",
        f"repository:{VAULT}:pull",
    ]
    if caller.via in ("jwt", "exchange"):
        scopes.append("registry:catalog:*")
    if caller.via == "exchange":
        assert credential is not None
        body = {"token": credential.secret, "scope": scopes}
        response = await client.post("/api/v1/oidc/exchange", json=body)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}
    return await bearer(client, credential, scopes)


# --------------------------------------------------------------------------- trust policies
#
# The OpenID Connect trust policies of acme in the management API (docs/access.md): acme's
# owners and the site admins read them with any personal token and change them with
# admin:package (a change with a narrower token is 403 for anyone); acme's other members
# are refused (403); people outside acme do not see them (404); access tokens manage
# nothing (403); a pipeline's ID token is no credential of the API, and bad or no
# credentials are 401.

POLICY_OPERATIONS: dict[str, int] = {
    "list": 200,
    "show": 200,
    "create_repository": 201,
    "create_workspace": 201,
    "delete": 204,
}
POLICY_READERS = {"owner", "site_admin"}
POLICY_MEMBERS = {"none"}  # members of acme who own nothing there


def policy_callers() -> list[tuple[str, str | None]]:
    """(who, token scope) of every caller of the trust policy endpoints."""
    people = ("none", "read", "write", "admin", "owner", "other", "vault", "site_admin")
    found: list[tuple[str, str | None]] = [
        ("anonymous", None),
        ("expired", None),
        ("revoked", None),
    ]
    scopes = ("read", "write", "admin")
    found += [(who, scope) for who in (*people, "robot", "robot_ws") for scope in scopes]
    found += [("oidc_ws", "admin")]
    return found


def policy_expected(who: str, scope: str | None, operation: str) -> int:
    if who in ("anonymous", "expired", "revoked", "oidc_ws"):
        return 401
    if who in ("robot", "robot_ws"):
        return 403
    if operation not in ("list", "show") and scope != "admin":
        return 403  # a change needs admin:package, whoever asks
    if who in POLICY_READERS:
        return POLICY_OPERATIONS[operation]
    return 403 if who in POLICY_MEMBERS else 404


def policy_headers(world: World, who: str, scope: str | None) -> dict[str, str]:
    if who == "anonymous":
        return {}
    credential = world.credential(who, scope or "admin")
    return {"Authorization": f"Bearer {credential.secret}"}


async def perform_policy(
    client: httpx.AsyncClient, operation: str, policy: str, headers: dict[str, str]
) -> httpx.Response:
    base = "/api/v1/workspaces/acme/oidc-policies"
    body = {
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "cargohold",
        "claims": {"repository": "acme/web"},
        "role": "write",
    }
    match operation:
        case "list":
            return await client.get(base, headers=headers)
        case "show":
            return await client.get(f"{base}/{policy}", headers=headers)
        case "create_repository":
            return await client.post(base, json={**body, "repository": "web"}, headers=headers)
        case "create_workspace":
            return await client.post(base, json={**body, "workspace": True}, headers=headers)
        case "delete":
            return await client.delete(f"{base}/{policy}", headers=headers)
    raise AssertionError(f"no such operation {operation}")


def changed_manifest(world: World, target: str) -> bytes:
    """A new manifest over the blobs the target already has."""
    document = json.loads(world.contents[target].manifest)
    document["annotations"] = {"org.example.pushed-by": "the matrix"}
    return json.dumps(document).encode()


async def perform(
    client: httpx.AsyncClient, world: World, target: str, operation: str, headers: dict[str, str]
) -> httpx.Response:
    content = world.contents[target]
    base = f"/v2/{target}"
    accept = {"Accept": content.media_type}
    uploads = f"{base}/blobs/uploads/"
    match operation:
        case "pull_manifest":
            return await client.get(f"{base}/manifests/v1", headers={**headers, **accept})
        case "head_manifest":
            return await client.head(f"{base}/manifests/v1", headers={**headers, **accept})
        case "pull_blob":
            return await client.get(f"{base}/blobs/{content.layer}", headers=headers)
        case "head_blob":
            return await client.head(f"{base}/blobs/{content.layer}", headers=headers)
        case "tags_list":
            return await client.get(f"{base}/tags/list", headers=headers)
        case "referrers":
            return await client.get(f"{base}/referrers/{content.digest}", headers=headers)
        case "push_blob":
            data = random_blob(512)
            return await client.post(
                uploads, params={"digest": digest_of(data)}, content=data, headers=headers
            )
        case "push_manifest":
            return await client.put(
                f"{base}/manifests/v2",
                content=changed_manifest(world, target),
                headers={**headers, "Content-Type": content.media_type},
            )
        case "mount_readable":
            params = {"mount": world.shared_blob, "from": PUBLIC_BASE}
            return await client.post(uploads, params=params, headers=headers)
        case "mount_unreadable":
            params = {"mount": world.secret_blob, "from": VAULT}
            return await client.post(uploads, params=params, headers=headers)
        case "delete_tag":
            return await client.delete(f"{base}/manifests/v1", headers=headers)
        case "delete_manifest":
            return await client.delete(f"{base}/manifests/{content.digest}", headers=headers)
        case "delete_blob":
            return await client.delete(f"{base}/blobs/{content.layer}", headers=headers)
        case "catalog":
            return await client.get("/v2/_catalog", headers=headers)
    if operation in UPLOADS:
        session = await open_upload(client, world, target)
        response = await _go_on(client, session, target, operation, headers)
        response.extensions["upload_session"] = session
        return response
    raise AssertionError(f"no such operation {operation}")


def uploaded(target: str) -> bytes:
    """The bytes that the upload operations send to `target`."""
    return f"the matrix's upload to {target}".encode()


async def open_upload(client: httpx.AsyncClient, world: World, target: str) -> str:
    """An upload session that the site admin opens on `target`: its path."""
    headers = await bearer(client, world.credential("site_admin"), [f"repository:{target}:push"])
    response = await client.post(f"/v2/{target}/blobs/uploads/", headers=headers)
    assert response.status_code == 202, response.text
    return response.headers["location"]


async def _go_on(
    client: httpx.AsyncClient, session: str, target: str, operation: str, headers: dict[str, str]
) -> httpx.Response:
    data = uploaded(target)
    match operation:
        case "upload_status":
            return await client.get(session, headers=headers)
        case "upload_chunk":
            chunk = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"0-{len(data) - 1}",
            }
            return await client.patch(session, content=data, headers={**headers, **chunk})
        case "upload_finish":
            params = {"digest": digest_of(data)}
            return await client.put(session, params=params, content=data, headers=headers)
        case "upload_cancel":
            return await client.delete(session, headers=headers)
    raise AssertionError(f"no such operation {operation}")


async def observer(
    client: httpx.AsyncClient, world: World, name: str
) -> Callable[[str], Awaitable[int]]:
    """GET as the site admin, to see the state behind the caller's back."""
    headers = await bearer(client, world.credential("site_admin"), [f"repository:{name}:pull"])
    headers["Accept"] = "*/*"

    async def status(path: str) -> int:
        return (await client.get(path, headers=headers)).status_code

    return status


async def check_effect(
    client: httpx.AsyncClient,
    world: World,
    caller: Caller,
    operation: str,
    allowed: bool,
    session: str | None = None,
) -> None:
    """An allowed operation did its work; a refused one changed nothing."""
    base = f"/v2/{caller.target}"
    content = world.contents[caller.target]
    status = await observer(client, world, caller.target)
    tag_status = await status(f"{base}/manifests/v1")
    manifest_status = await status(f"{base}/manifests/{content.digest}")
    layer_status = await status(f"{base}/blobs/{content.layer}")
    removed = {
        "delete_tag": (404, 200, 200),
        "delete_manifest": (404, 404, 200),
        "delete_blob": (200, 200, 404),
    }
    after = removed.get(operation, (200, 200, 200)) if allowed else (200, 200, 200)
    assert (tag_status, manifest_status, layer_status) == after
    pushed = digest_of(changed_manifest(world, caller.target))
    pushed_status = await status(f"{base}/manifests/{pushed}")
    assert pushed_status == (200 if allowed and operation == "push_manifest" else 404)
    shared = await status(f"{base}/blobs/{world.shared_blob}")
    assert shared == (200 if allowed and operation == "mount_readable" else 404)
    mounted_secret = allowed and operation == "mount_unreadable" and caller.who == "site_admin"
    secret = await status(f"{base}/blobs/{world.secret_blob}")
    assert secret == (200 if mounted_secret else 404)
    finished = allowed and operation == "upload_finish"
    assert await status(f"{base}/blobs/{digest_of(uploaded(caller.target))}") == (
        200 if finished else 404
    )
    if session is not None:  # the session is over once finished or cancelled, else open
        push = await bearer(
            client, world.credential("site_admin"), [f"repository:{caller.target}:push"]
        )
        state = (await client.get(session, headers=push)).status_code
        over = allowed and operation in ("upload_finish", "upload_cancel")
        assert state == (404 if over else 204)


async def check(
    client: httpx.AsyncClient,
    world: World,
    caller: Caller,
    operation: str,
    response: httpx.Response,
) -> None:
    """The answer is the expected one, and the registry's state shows it."""
    want = expected(caller, operation)
    assert response.status_code == want.status, response.text
    if want.code is not None and response.request.method != "HEAD":
        assert error_code(response) == want.code, response.text
    if want.needs is not None and response.request.method != "HEAD":
        message = response.json()["errors"][0]["message"]
        assert re.search(rf"\b{want.needs}\b", message), f"{message!r} names no {want.needs}"
    if want.status == 401:
        params = challenge(response.headers.get("www-authenticate"))
        assert params["realm"] == str(client.base_url).rstrip("/") + "/token"
        assert params["service"] == "cargohold"
        assert params.get("error") == want.error
        if want.scope is not None:
            assert params.get("scope") == want.scope
    else:
        assert "www-authenticate" not in response.headers

    allowed = want.status < 400
    if allowed and operation == "catalog":
        readable = CATALOG["anonymous" if caller.via == "none" else caller.who]
        assert response.json() == {"repositories": readable}
    if allowed and operation == "pull_manifest":
        assert response.content == world.contents[caller.target].manifest
    if allowed and operation == "tags_list":
        assert response.json() == {"name": caller.target, "tags": ["v1"]}
    if operation != "catalog":
        session = response.extensions.get("upload_session")
        await check_effect(client, world, caller, operation, allowed, session)


# The audit log (/api/v1, docs/audit.md): acme's owners and the site admins read acme's
# log with any personal token; acme's other members are refused (403); people outside acme
# do not see it (404); access tokens read no log (403); bad or no credentials are 401.
# Only site admins read the whole site's log.
AUDIT_PATHS = {
    "workspace_audit": "/api/v1/workspaces/acme/audit",
    "site_audit": "/api/v1/audit",
}
AUDIT_READS: dict[str, dict[str, int]] = {
    "workspace_audit": {
        "anonymous": 401,
        "none": 403,
        "read": 404,
        "write": 404,
        "admin": 404,
        "owner": 200,
        "other": 404,
        "vault": 404,
        "site_admin": 200,
        "robot": 403,
        "robot_ws": 403,
        "expired": 401,
        "revoked": 401,
    },
    "site_audit": {
        "anonymous": 401,
        "none": 403,
        "read": 403,
        "write": 403,
        "admin": 403,
        "owner": 403,
        "other": 403,
        "vault": 403,
        "site_admin": 200,
        "robot": 403,
        "robot_ws": 403,
        "expired": 401,
        "revoked": 401,
    },
}


def audit_callers() -> list[tuple[str, str | None]]:
    """(who, token scope) of every caller of the audit endpoints."""
    people = ("none", "read", "write", "admin", "owner", "other", "vault", "site_admin")
    found: list[tuple[str, str | None]] = [
        ("anonymous", None),
        ("expired", None),
        ("revoked", None),
    ]
    found += [(who, scope) for who in (*people, "robot", "robot_ws") for scope in SCOPES]
    return found


def audit_headers(world: World, who: str, scope: str | None) -> dict[str, str]:
    if who == "anonymous":
        return {}
    return {"Authorization": f"Bearer {world.credential(who, scope or 'admin').secret}"}


# --------------------------------------------------------------------------- webhooks
#
# The management API's webhook endpoints (docs/webhooks.md), on two endpoints of workspace
# acme made before each case: `all` (every package, which only owners manage) and `web`
# (limited to the package acme/web, which its admins manage too). Every webhook operation
# needs a person whose token has admin:package; nobody else sees an endpoint (404), nor a
# workspace they are no member of and manage nothing in.

WEBHOOK_URL = "http://127.0.0.1:9/hook"  # never called: nothing delivers in these cases
WEBHOOK_OPERATIONS: dict[str, int] = {
    "list": 200,
    "create_all": 201,
    "create_web": 201,
    "show": 200,
    "update": 200,
    "delete": 204,
    "deliveries": 200,
    "delivery": 200,
    "redeliver": 202,
}
WEBHOOK_TARGETS = ("all", "web")


@dataclass(frozen=True)
class WebhookCaller:
    who: str  # a person or robot of the world, or anonymous, expired, revoked
    scope: str | None

    @property
    def id(self) -> str:
        return self.who if self.scope is None else f"{self.who}-{self.scope}_scope"


def webhook_callers() -> list[WebhookCaller]:
    people = ("none", "read", "write", "admin", "owner", "other", "site_admin")
    return [
        WebhookCaller("anonymous", None),
        *(WebhookCaller(who, "admin") for who in people),
        WebhookCaller("owner", "read"),
        WebhookCaller("owner", "write"),
        WebhookCaller("admin", "write"),
        WebhookCaller("robot", "admin"),
        WebhookCaller("robot_ws", "admin"),
        WebhookCaller("expired", None),
        WebhookCaller("revoked", None),
    ]


# What each admin:package person may do, written out: `all` the endpoints they manage, and
# whether the workspace shows to them (members do; package admins through their package).
MANAGES: dict[str, tuple[str, ...]] = {
    "owner": ("all", "web"),
    "site_admin": ("all", "web"),
    "admin": ("web",),  # admin of acme/web through a repository grant; no member of acme
    "none": (),  # a member of acme without grants
    "read": (),
    "write": (),
    "other": (),
}
MEMBER = {"owner", "site_admin", "none"}
ROLE_ON_WEB = {"none": NONE, "read": READ, "write": WRITE, "admin": ADMIN, "other": NONE}


def webhook_expected(caller: WebhookCaller, operation: str, target: str) -> int:
    """The status a webhook operation answers; `target` is the endpoint it acts on."""
    success = WEBHOOK_OPERATIONS[operation]
    if caller.who in ("anonymous", "expired", "revoked"):
        return 401
    if caller.who in ("robot", "robot_ws") or caller.scope != "admin":
        return 403  # a person with admin:package, always
    manages = MANAGES[caller.who]
    if operation == "list":
        return success if manages or caller.who in MEMBER else 404
    if operation == "create_all":
        if "all" in manages:
            return success
        return 403 if caller.who in MEMBER else 404
    if operation == "create_web":
        if "web" in manages:
            return success
        return 403 if ROLE_ON_WEB[caller.who] >= READ else 404
    return success if target in manages else 404


async def trust_policy_setup(ctx: Context) -> str:
    """A trust policy of acme, read on acme/web for GitLab's acme/web pipelines; its id."""
    async with ctx.db.transaction() as tx:
        policy = await oidc_policies.create_policy(
            tx,
            ctx.settings,
            workspace="acme",
            repository="web",
            issuer="https://gitlab.example.com",
            audience="cargohold",
            claims={"project_path": "acme/web"},
            role="read",
            lifetime=None,
            created_by="matrix",
            now=ctx.now(),
        )
    return policy.id


async def webhook_setup(ctx: Context) -> dict[str, int]:
    """The two endpoints of acme, each with its ping queued (nothing sends it)."""
    made = {}
    async with ctx.db.transaction() as tx:
        acme = await tx.fetchone("SELECT id FROM workspaces WHERE slug = 'acme'")
        assert acme is not None
        for target, packages in (("all", ""), ("web", PRIVATE)):
            hook = await endpoints.create_webhook(
                tx,
                workspace_id=int(acme["id"]),
                url=WEBHOOK_URL,
                sealed_secret="v1.not-used-here",
                events=("*",),
                packages=packages,
                form="cargohold",
                active=True,
                created_by="matrix",
                source=source_of(ctx.settings, "matrix"),
                now=ctx.now(),
            )
            made[target] = hook.id
    return made


def webhook_headers(world: World, caller: WebhookCaller) -> dict[str, str]:
    if caller.who == "anonymous":
        return {}
    credential = world.credential(caller.who, caller.scope or "admin")
    return {"Authorization": f"Bearer {credential.secret}"}


async def perform_webhook(
    client: httpx.AsyncClient,
    operation: str,
    target: int,
    delivery: int,
    headers: dict[str, str],
) -> httpx.Response:
    base = "/api/v1/workspaces/acme/webhooks"
    match operation:
        case "list":
            return await client.get(base, headers=headers)
        case "create_all":
            return await client.post(base, json={"url": WEBHOOK_URL}, headers=headers)
        case "create_web":
            body = {"url": WEBHOOK_URL, "packages": PRIVATE}
            return await client.post(base, json=body, headers=headers)
        case "show":
            return await client.get(f"{base}/{target}", headers=headers)
        case "update":
            return await client.patch(f"{base}/{target}", json={"active": False}, headers=headers)
        case "delete":
            return await client.delete(f"{base}/{target}", headers=headers)
        case "deliveries":
            return await client.get(f"{base}/{target}/deliveries", headers=headers)
        case "delivery":
            return await client.get(f"{base}/{target}/deliveries/{delivery}", headers=headers)
        case "redeliver":
            path = f"{base}/{target}/deliveries/{delivery}/redeliver"
            return await client.post(path, headers=headers)
    raise AssertionError(f"no such operation {operation}")


async def check_webhook_effect(ctx: Context, operation: str, target: int, allowed: bool) -> None:
    """An allowed change did its work; a refused one changed nothing."""
    hooks = {int(r["id"]): r for r in await ctx.db.fetchall("SELECT * FROM webhooks")}
    deliveries = await ctx.db.fetchall("SELECT * FROM webhook_deliveries")
    made = operation.startswith("create") and allowed
    assert len(hooks) == (3 if made else 1 if operation == "delete" and allowed else 2)
    if operation == "update":
        assert bool(hooks[target]["active"]) is not allowed
    redelivered = [d for d in deliveries if d["generation"] > 0]
    assert len(redelivered) == (1 if operation == "redeliver" and allowed else 0)


# --------------------------------------------------------------------------- replication
#
# The management API's replication endpoints (docs/replication.md), on two rules of
# workspace acme made before each case, each with a failed job: `all` (every package, which
# only owners manage) and `web` (the package acme/web, which its admins manage too). The
# callers and what each manages are the webhooks' (MANAGES): the same people may manage
# both.

REPLICATION_URL = "http://127.0.0.1:9"  # never called: nothing copies in these cases
REPLICATION_OPERATIONS: dict[str, int] = {
    "list": 200,
    "create_all": 201,
    "create_web": 201,
    "show": 200,
    "update": 200,
    "delete": 204,
    "jobs": 200,
    "retry": 202,
}


async def replication_setup(ctx: Context) -> dict[str, int]:
    """The two rules of acme, each with one failed job."""
    made = {}
    async with ctx.db.transaction() as tx:
        acme = await tx.fetchone("SELECT id FROM workspaces WHERE slug = 'acme'")
        assert acme is not None
        for target, package in (("all", ""), ("web", PRIVATE)):
            rule = await rules.create_replication(
                tx,
                workspace_id=int(acme["id"]),
                package=package,
                url=REPLICATION_URL,
                username=None,
                sealed=None,
                prefix="copies",
                active=True,
                created_by="matrix",
                now=ctx.now(),
            )
            await tx.execute(
                "INSERT INTO replication_jobs (replication_id, event_id, package, digest, state,"
                " attempts, created_at) VALUES (:r, 1, :p, :d, 'failed', 1, :now)",
                {"r": rule.id, "p": PRIVATE, "d": "sha256:" + "0" * 64, "now": ctx.now()},
            )
            made[target] = rule.id
    return made


async def perform_replication(
    client: httpx.AsyncClient, operation: str, target: int, job: int, headers: dict[str, str]
) -> httpx.Response:
    base = "/api/v1/workspaces/acme/replications"
    match operation:
        case "list":
            return await client.get(base, headers=headers)
        case "create_all":
            return await client.post(base, json={"url": REPLICATION_URL}, headers=headers)
        case "create_web":
            body = {"url": REPLICATION_URL, "package": PRIVATE}
            return await client.post(base, json=body, headers=headers)
        case "show":
            return await client.get(f"{base}/{target}", headers=headers)
        case "update":
            return await client.patch(f"{base}/{target}", json={"active": False}, headers=headers)
        case "delete":
            return await client.delete(f"{base}/{target}", headers=headers)
        case "jobs":
            return await client.get(f"{base}/{target}/jobs", headers=headers)
        case "retry":
            return await client.post(f"{base}/{target}/jobs/{job}/retry", headers=headers)
    raise AssertionError(f"no such operation {operation}")


def replication_expected(caller: WebhookCaller, operation: str, target: str) -> int:
    """The status a replication operation answers: as the webhook one, same people."""
    # Reading a rule's jobs or retrying one is as reading a webhook's deliveries.
    like = "deliveries" if operation in ("jobs", "retry") else operation
    status = webhook_expected(caller, like, target)
    return REPLICATION_OPERATIONS[operation] if status < 400 else status


async def check_replication_effect(
    ctx: Context, operation: str, target: int, allowed: bool
) -> None:
    """An allowed change did its work; a refused one changed nothing."""
    found = {int(r["id"]): r for r in await ctx.db.fetchall("SELECT * FROM replications")}
    made = operation.startswith("create") and allowed
    assert len(found) == (3 if made else 1 if operation == "delete" and allowed else 2)
    if operation == "update":
        assert bool(found[target]["active"]) is not allowed
    states = await ctx.db.fetchall(
        "SELECT state FROM replication_jobs WHERE replication_id = :r", {"r": target}
    )
    retried = [row for row in states if row["state"] == "pending"]
    assert len(retried) == (1 if operation == "retry" and allowed else 0)


# --------------------------------------------------------------------------- mirrors
#
# The management API's mirror endpoints (docs/mirror.md), on the mirror acme/hub made before
# each case. Members of acme list and show mirrors; its owners (and site admins) create,
# change and delete them with a personal token of admin:package; robots never manage them;
# nobody else sees the workspace (404).

MIRROR_UPSTREAM = "http://127.0.0.1:9"  # never called: no case pulls through it
MIRROR_OPERATIONS: dict[str, int] = {
    "list": 200,
    "create": 201,
    "show": 200,
    "update": 200,
    "delete": 204,
}
MIRROR_OWNERS = {"owner", "site_admin"}


def mirror_expected(caller: WebhookCaller, operation: str) -> int:
    """The status a mirror operation answers."""
    if caller.who in ("anonymous", "expired", "revoked"):
        return 401
    if caller.who in ("robot", "robot_ws"):
        return 403  # access tokens act on packages only
    change = operation not in ("list", "show")
    if change and caller.scope != "admin":
        return 403  # a change needs admin:package, before anything is looked up
    if caller.who not in MEMBER:
        return 404
    if not change or caller.who in MIRROR_OWNERS:
        return MIRROR_OPERATIONS[operation]
    return 403


async def mirror_setup(ctx: Context) -> None:
    """The mirror acme/hub, linked to the repository acme/hub made for it."""
    async with ctx.db.transaction() as tx:
        acme = await tx.fetchone("SELECT id FROM workspaces WHERE slug = 'acme'")
        assert acme is not None
        linked = await mirrors.mirror_repository(
            tx, workspace="acme", slug=None, prefix="hub", now=ctx.now()
        )
        await mirrors.create_mirror(
            tx,
            workspace_id=int(acme["id"]),
            workspace="acme",
            prefix="hub",
            upstream=MIRROR_UPSTREAM,
            username=None,
            sealed_password=None,
            repository=linked,
            tag_ttl=300,
            created_by="matrix",
            now=ctx.now(),
        )


async def perform_mirror(
    client: httpx.AsyncClient, operation: str, headers: dict[str, str]
) -> httpx.Response:
    base = "/api/v1/workspaces/acme/mirrors"
    match operation:
        case "list":
            return await client.get(base, headers=headers)
        case "create":
            body = {"prefix": "quay", "upstream": MIRROR_UPSTREAM}
            return await client.post(base, json=body, headers=headers)
        case "show":
            return await client.get(f"{base}/hub", headers=headers)
        case "update":
            return await client.patch(f"{base}/hub", json={"tag_ttl": 60}, headers=headers)
        case "delete":
            return await client.delete(f"{base}/hub", headers=headers)
    raise AssertionError(f"no such operation {operation}")


async def check_mirror_effect(ctx: Context, operation: str, allowed: bool) -> None:
    """An allowed change did its work; a refused one changed nothing."""
    found = {r["prefix"]: r for r in await ctx.db.fetchall("SELECT * FROM mirrors")}
    made = operation == "create" and allowed
    assert len(found) == (2 if made else 0 if operation == "delete" and allowed else 1)
    if operation == "update":
        assert (found["hub"]["tag_ttl"] == 60) is allowed
