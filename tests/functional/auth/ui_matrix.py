"""The web UI's pages and forms in the authorization matrix: who may open each page and
post each form, written out as tables (docs/ui.md, "page / address / who"), not taken from
the policy code.

The callers (`UI_CALLERS`) are people of the fixture world (world.py), each signed in with
a web session of their own, and `anonymous`, a visitor with a session cookie but nobody
signed in (so that a form's CSRF token is right and only who posts it is wrong).

What each gets: `OK` (the page, 200, or for a form the redirect, 303, of a change that was
made), `SIGN_IN` (a redirect to `/sign-in?next=` that address), or the UI's refusal: 403
("You may not do this") to those who see the thing, 404 ("There is nothing here", naming
nothing) to those who may not know it exists. A refused form changes nothing; a posted one
that is allowed changes the rows it is about, and a page changes none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cargohold.services.context import Context
from cargohold.web.ui import session_cookie
from tests.functional.auth import matrix
from tests.functional.auth.world import PRIVATE, World, email
from tests.functional.ui.conftest import browser_session

OK = 0  # 200 for a page, 303 for a form
SIGN_IN = 1  # 303 to /sign-in?next=...

UI_CALLERS = ("anonymous", "none", "read", "write", "admin", "owner", "other", "site_admin")

# Who gets what, per rule: one column per caller of UI_CALLERS, in that order.
# fmt: off
_TABLE: dict[str, tuple[int, ...]] = {
    #                     anon     none read write admin owner other site
    # anyone: each sees what they may pull (acme/site is public)
    "anyone":             (OK,      OK,  OK,  OK,  OK,  OK,  OK,  OK),
    # any person signed in
    "signed_in":          (SIGN_IN, OK,  OK,  OK,  OK,  OK,  OK,  OK),
    # read on the private package acme/web (a visitor gets the 404 of something unknown)
    "package_read":       (404,     404, OK,  OK,  OK,  OK,  404, OK),
    # write on acme/web (delete a tag): a visitor is sent to sign in, whether the package
    # exists or not
    "package_write":      (SIGN_IN, 404, 403, OK,  OK,  OK,  404, OK),
    # admin on acme/web (delete an image, the package's settings)
    "package_admin":      (SIGN_IN, 404, 403, 403, OK,  OK,  404, OK),
    # create a package in acme/web: a repository one may not read is a mistake in the form
    # (400, "There is no repository"), as one that does not exist
    "create_package":     (SIGN_IN, 400, 403, 403, OK,  OK,  400, OK),
    # the packages of project PLAT: members see the project, others only what they read
    "project_packages":   (404,     OK,  OK,  OK,  OK,  OK,  404, OK),
    # a member of acme sees; nobody else knows the workspace
    "member":             (SIGN_IN, OK,  404, 404, 404, OK,  404, OK),
    # an owner of acme: members are refused, others do not see the workspace
    "owner":              (SIGN_IN, 403, 404, 404, 404, OK,  404, OK),
    # an owner of acme, on acme/web, which its readers see
    "repository_owner":   (SIGN_IN, 404, 403, 403, 403, OK,  404, OK),
    # admin on the repository acme/web (its access tokens)
    "repository_admin":   (SIGN_IN, 404, 403, 403, OK,  OK,  404, OK),
    # a site admin
    "site_admin":         (SIGN_IN, 403, 403, 403, 403, 403, 403, OK),
    # a grant on acme/web: an owner's; its readers are refused; a member who may not read
    # it gets the form's "There is no repository" (400), as for one that does not exist
    "repository_grant":   (SIGN_IN, 400, 403, 403, 403, OK,  404, OK),
    # the webhooks or replication rules of acme: owners, and the admins of acme/web for
    # those of acme/web; members see the list
    "hooks":              (SIGN_IN, OK,  404, 404, OK,  OK,  404, OK),
    # make one for acme/web: those who read acme/web see the workspace, and are refused
    "hooks_web":          (SIGN_IN, 404, 403, 403, OK,  OK,  404, OK),
    # the one of acme/web: only those who manage it see it
    "hook_web":           (SIGN_IN, 404, 404, 404, OK,  OK,  404, OK),
    # owner's own token: only its person sees it
    "own_token":          (SIGN_IN, 404, 404, 404, 404, OK,  404, 404),
}
# fmt: on
UI_RULES: dict[str, dict[str, int]] = {
    rule: dict(zip(UI_CALLERS, row, strict=True)) for rule, row in _TABLE.items()
}


async def ui_setup(client: httpx.AsyncClient, ctx: Context, world: World) -> dict[str, str]:
    """The webhooks and replication rules of acme (matrix.py), a trust policy, and a
    retention policy of acme/web that deletes nothing."""
    saved = await client.put(
        f"/api/v1/packages/{PRIVATE}/-/retention",
        json={"untagged_days": 7},
        headers={"Authorization": f"Bearer {world.credential('site_admin').secret}"},
    )
    assert saved.status_code == 200, saved.text
    made = {f"webhook_{k}": str(v) for k, v in (await matrix.webhook_setup(ctx)).items()}
    rules = await matrix.replication_setup(ctx)
    made |= {f"replication_{k}": str(v) for k, v in rules.items()}
    made["policy"] = await matrix.trust_policy_setup(ctx)
    return made


@dataclass(frozen=True)
class UiOperation:
    method: str
    path: str  # `{digest}`, `{token:WHO:SCOPE}` and the keys of `ui_setup` are filled in
    rule: str
    form: Mapping[str, Any] | None = None  # for a POST
    changes: bool = True  # an allowed form changes the rows it is about
    success: int | None = None  # when not 200 for a page, 303 for a form

    @property
    def allowed(self) -> int:
        return self.success or (200 if self.method == "GET" else 303)


WS = "/w/acme"
PKG = f"/p/{PRIVATE}"
_TOKEN = {"name": "matrix", "scope": "read:package", "expires": "30d"}
_HOOK = {"url": matrix.WEBHOOK_URL, "event": "*", "packages": PRIVATE, "active": "on"}
_RULE = {"url": matrix.REPLICATION_URL, "package": PRIVATE, "prefix": "copies", "active": "on"}
_POLICY = {
    "issuer": "https://token.actions.githubusercontent.com",
    "audience": "cargohold",
    "claims": "repository=acme/web",
    "target": "web",
    "role": "read",
    "lifetime": "15m",
}


def _get(path: str, rule: str) -> UiOperation:
    return UiOperation("GET", path, rule, changes=False)


def _post(path: str, rule: str, form: Mapping[str, Any] | None = None) -> UiOperation:
    return UiOperation("POST", path, rule, form or {})


UI_OPERATIONS: dict[str, UiOperation] = {
    "home": _get("/", "signed_in"),
    "workspace": _get(WS, "anyone"),
    "public_project": _get(f"{WS}/projects/WWW", "anyone"),
    "public_repository": _get(f"{WS}/repos/site", "anyone"),
    "private_repository": _get(f"{WS}/repos/web", "package_read"),
    "usage": _get(f"{WS}/usage", "anyone"),
    # a package and what is below it
    "package": _get(PKG, "package_read"),
    "package_created": _get(f"{PKG}/-/created", "package_read"),
    "tag": _get(f"{PKG}/-/tags/v1", "package_read"),
    "manifest": _get(f"{PKG}/-/manifests/{{digest}}", "package_read"),
    "confirm_tag_delete": _get(f"{PKG}/-/tags/v1/delete", "package_write"),
    "delete_tag": _post(f"{PKG}/-/tags/v1/delete", "package_write"),
    "confirm_manifest_delete": _get(f"{PKG}/-/manifests/{{digest}}/delete", "package_admin"),
    "delete_manifest": _post(f"{PKG}/-/manifests/{{digest}}/delete", "package_admin"),
    "package_settings": _get(f"{PKG}/-/settings", "package_admin"),
    "protect_tags": _post(
        f"{PKG}/-/settings", "package_admin", {"action": "protection", "patterns": "v*"}
    ),
    "confirm_package_delete": _get(f"{PKG}/-/settings/delete", "package_admin"),
    "delete_package": _post(f"{PKG}/-/settings/delete", "package_admin"),
    "confirm_retention_run": _get(f"{PKG}/-/settings/apply", "package_admin"),
    "run_retention": UiOperation(
        "POST", f"{PKG}/-/settings", "package_admin", {"action": "run"}, changes=False
    ),
    # creating
    "new_package": _get("/new-package", "signed_in"),
    "create_package": _post(
        "/new-package", "create_package", {"repository": PRIVATE, "name": "new"}
    ),
    "new_workspace": _get("/new-workspace", "signed_in"),
    "create_workspace": _post("/new-workspace", "signed_in", {"slug": "newco", "name": "New"}),
    # a workspace's settings, projects, repositories, members
    "workspace_settings": _get(f"{WS}/settings", "owner"),
    "rename_workspace": _post(f"{WS}/settings", "owner", {"name": "Acme Inc"}),
    "projects": _get(f"{WS}/projects", "signed_in"),
    "create_project": _post(f"{WS}/projects", "owner", {"key": "NEW", "name": "New"}),
    "project_settings": _get(f"{WS}/projects/PLAT/settings", "owner"),
    "rename_project": _post(f"{WS}/projects/PLAT/settings", "owner", {"name": "Platform"}),
    "private_project": _get(f"{WS}/projects/PLAT", "project_packages"),
    "repositories": _get(f"{WS}/repos", "signed_in"),
    "create_repository": _post(
        f"{WS}/repos", "owner", {"slug": "new", "project": "PLAT", "visibility": "private"}
    ),
    "repository_settings": _get(f"{WS}/repos/web/settings", "repository_owner"),
    "rename_repository": _post(
        f"{WS}/repos/web/settings", "repository_owner", {"action": "rename", "slug": "webapp"}
    ),
    "publish_repository": _post(
        f"{WS}/repos/web/settings",
        "repository_owner",
        {"action": "visibility", "visibility": "public"},
    ),
    "members": _get(f"{WS}/members", "member"),
    "add_member": _post(
        f"{WS}/members", "owner", {"action": "add_member", "email": email("other")}
    ),
    "grant": _post(
        f"{WS}/members",
        "repository_grant",
        {"action": "grant", "target": "repository:web", "email": email("none"), "role": "read"},
    ),
    "confirm_member_removal": _get(f"{WS}/members/remove?email={email('none')}", "owner"),
    "audit": _get(f"{WS}/audit", "owner"),
    # tokens
    "personal_tokens": _get("/settings/tokens", "signed_in"),
    "create_personal_token": _post("/settings/tokens", "signed_in", _TOKEN),
    "confirm_personal_revoke": _get("/settings/tokens/{token:owner:read}/revoke", "own_token"),
    "revoke_personal_token": _post("/settings/tokens/{token:owner:read}/revoke", "own_token"),
    "workspace_tokens": _get(f"{WS}/tokens", "owner"),
    "create_workspace_token": _post(f"{WS}/tokens", "owner", _TOKEN),
    "confirm_workspace_revoke": _get(WS + "/tokens/{token:robot_ws:read}/revoke", "owner"),
    "revoke_workspace_token": _post(WS + "/tokens/{token:robot_ws:read}/revoke", "owner"),
    "repository_tokens": _get(f"{WS}/repos/web/tokens", "repository_admin"),
    "create_repository_token": _post(f"{WS}/repos/web/tokens", "repository_admin", _TOKEN),
    "confirm_repository_revoke": _get(
        WS + "/repos/web/tokens/{token:robot:read}/revoke", "repository_admin"
    ),
    "revoke_repository_token": _post(
        WS + "/repos/web/tokens/{token:robot:read}/revoke", "repository_admin"
    ),
    # trust policies
    "trust_policies": _get(f"{WS}/oidc", "owner"),
    "create_trust_policy": _post(f"{WS}/oidc", "owner", _POLICY),
    "delete_trust_policy": _post(WS + "/oidc/{policy}/delete", "owner"),
    # webhooks and replication
    "webhooks": _get(f"{WS}/webhooks", "hooks"),
    # the new webhook's page, with its secret shown once
    "create_webhook": UiOperation("POST", f"{WS}/webhooks", "hooks_web", _HOOK, success=200),
    "webhook": _get(WS + "/webhooks/{webhook_web}", "hook_web"),
    "delete_webhook": _post(WS + "/webhooks/{webhook_web}", "hook_web", {"action": "delete"}),
    "replications": _get(f"{WS}/replications", "hooks"),
    "create_replication": _post(f"{WS}/replications", "hooks_web", _RULE),
    "replication": _get(WS + "/replications/{replication_web}", "hook_web"),
    "delete_replication": _post(
        WS + "/replications/{replication_web}", "hook_web", {"action": "delete"}
    ),
    # people
    "people": _get("/admin/people", "site_admin"),
    "invite": _post(
        "/admin/people",
        "site_admin",
        {"action": "invite", "email": "new@example.com", "name": "New"},
    ),
}

# Pages anyone may open by design, with why; the coverage test (test_route_coverage.py)
# accepts them without a row above.
OPEN_PAGES: dict[str, str] = {
    "/sign-in": "signing in",
    "/sign-in/sso": "single sign-on starts here",
    "/sign-in/sso/callback": "single sign-on ends here",
    "/sign-out": "ends whatever session the browser has",
    "/language": "the visitor's language, a cookie",
    "/invitation": "the invitation's code is the credential",
}


def ui_expected(who: str, operation: str) -> int:
    """The status `who` gets; SIGN_IN and OK as above."""
    return UI_RULES[UI_OPERATIONS[operation].rule][who]


async def ui_cookie(ctx: Context, who: str) -> tuple[str, str]:
    """A session cookie of `who` (anonymous: a visitor's) and its CSRF token."""
    session = await browser_session(ctx, email(who) if who != "anonymous" else None)
    return f"{session_cookie.COOKIE}={session_cookie.encode(ctx, session)}", session.csrf


def ui_path(world: World, path: str, made: Mapping[str, str]) -> str:
    values = {"digest": world.contents[PRIVATE].digest, **made}
    while "{token:" in path:
        head, _, rest = path.partition("{token:")
        name, _, tail = rest.partition("}")
        token_id = world.credentials[name].token_id
        assert token_id is not None
        path = f"{head}{token_id}{tail}"
    return path.format(**values)


async def perform_ui(
    client: httpx.AsyncClient,
    ctx: Context,
    world: World,
    who: str,
    operation: str,
    made: Mapping[str, str],
) -> httpx.Response:
    found = UI_OPERATIONS[operation]
    cookie, csrf = await ui_cookie(ctx, who)
    path = ui_path(world, found.path, made)
    headers = {"cookie": cookie}
    if found.method == "GET":
        return await client.get(path, headers=headers)
    return await client.post(path, data={**(found.form or {}), "csrf": csrf}, headers=headers)
