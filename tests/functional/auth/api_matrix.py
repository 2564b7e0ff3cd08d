"""The management API's account, project, repository, package and token endpoints in the
authorization matrix: who may call each, written out as tables (docs/api-management.md,
"Who may do what"), not taken from the policy code.

The callers (`API_CALLERS`) are people and robots of the fixture world (world.py), each
with an `admin:package` token unless named otherwise:

  anonymous   no credentials
  oidc        a pipeline's ID token as a Bearer token (no credential of the API)
  robot       the access token of the repository acme/web
  robot_ws    the access token of the workspace acme
  owner_read  acme's owner with a `read:package` token (the wrong scope for a change)
  none        a member of acme without grants
  read        a read grant on acme/web; no member of acme
  write       a write grant on project PLAT (which holds acme/web); no member of acme
  admin       an admin grant on acme/web; no member of acme
  owner       the owner of acme
  other       the owner of globex, a stranger to acme
  site_admin  a site admin

Each rule below says, for every caller, the status they get: `OK` stands for the
operation's success status. A refused call changes nothing (the rows of every account and
package table stay the same); an allowed change changes them, an allowed read does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cargohold.services.context import Context
from tests.functional.auth.world import World

OK = 0  # the operation's success status

API_CALLERS = (
    "anonymous",
    "oidc",
    "robot",
    "robot_ws",
    "owner_read",
    "none",
    "read",
    "write",
    "admin",
    "owner",
    "other",
    "site_admin",
)


# Who gets what, per rule: one column per caller of API_CALLERS, in that order.
# fmt: off
_TABLE: dict[str, tuple[int, ...]] = {
    #                         anon oidc robot r_ws o_rd none read write admin owner other site
    # any person, with any personal token
    "person":                  (401, 401, 403, 403, OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK),
    # any person, with admin:package
    "person_change":           (401, 401, 403, 403, 403, OK,  OK,  OK,  OK,  OK,  OK,  OK),
    # a member of acme (any scope); nobody else sees the workspace
    "member":                  (401, 401, 403, 403, OK,  OK,  404, 404, 404, OK,  404, OK),
    # an owner of acme (any scope): members see the workspace and are refused
    "owner":                   (401, 401, 403, 403, OK,  403, 404, 404, 404, OK,  404, OK),
    # an owner of acme, with admin:package
    "owner_change":            (401, 401, 403, 403, 403, 403, 404, 404, 404, OK,  404, OK),
    # the grants of acme/web (any scope): an owner; those who read the repository see it
    "repository_owner":        (401, 401, 403, 403, OK,  404, 403, 403, 403, OK,  404, OK),
    # a change of acme/web that only an owner makes, with admin:package
    "repository_owner_change": (401, 401, 403, 403, 403, 404, 403, 403, 403, OK,  404, OK),
    # see the repository acme/web: read on it (any scope)
    "repository_read":         (401, 401, 403, 403, OK,  404, OK,  OK,  OK,  OK,  404, OK),
    # the access tokens of acme/web: admin on it, with admin:package
    "repository_admin_change": (401, 401, 403, 403, 403, 404, 403, 403, OK,  OK,  404, OK),
    # read the package acme/web: robots of acme/web and of acme act on packages
    "package_read":            (404, 401, OK,  OK,  OK,  404, OK,  OK,  OK,  OK,  404, OK),
    # write on the package acme/web (a tag's deletion)
    "package_write":           (401, 401, OK,  OK,  403, 404, 403, OK,  OK,  OK,  404, OK),
    # admin on the package acme/web
    "package_admin":           (401, 401, OK,  OK,  403, 404, 403, 403, OK,  OK,  404, OK),
    # relink acme/pub-base (in the public acme/site) to acme/web: admin on both
    "package_relink":          (401, 401, 403, OK,  403, 403, 403, 403, 403, OK,  403, OK),
    # a list anyone may ask for; each sees what they may pull (acme/site is public)
    "package_list":            (OK,  401, OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK),
    # the repositories of acme a person may read (acme/site is public)
    "repository_list":         (401, 401, 403, 403, OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK),
    # a site admin, with admin:package; members see the workspace and are refused
    "site_admin_change":       (401, 401, 403, 403, 403, 403, 404, 404, 404, 403, 404, OK),
    # a site admin, with any personal token
    "site_admin":              (401, 401, 403, 403, 403, 403, 403, 403, 403, 403, 403, OK),
    # owner's read token: only its person revokes it, with admin:package
    "own_token":               (401, 401, 403, 403, 403, 404, 404, 404, 404, OK,  404, 404),
}
# fmt: on
RULES: dict[str, dict[str, int]] = {
    rule: dict(zip(API_CALLERS, row, strict=True)) for rule, row in _TABLE.items()
}


@dataclass(frozen=True)
class ApiOperation:
    method: str
    path: str  # under /api/v1; `{token:WHO:SCOPE}`: that token's id
    rule: str
    success: int
    body: Mapping[str, Any] | None = None
    changes: bool = True  # an allowed call changes the rows it is about
    setup: tuple[tuple[str, str, Mapping[str, Any] | None], ...] = ()  # calls by site_admin


WS = "/workspaces/acme"
REPO = f"{WS}/repositories/web"
PKG = "/packages/acme/web"
_RETENTION = {"untagged_days": 7}
_WITH_POLICY = (("PUT", f"{PKG}/-/retention", _RETENTION),)
_READ_TOKEN = {"name": "matrix", "scopes": ["read:package"]}

API_OPERATIONS: dict[str, ApiOperation] = {
    # workspaces and members
    "list_workspaces": ApiOperation("GET", "/workspaces", "person", 200, changes=False),
    "create_workspace": ApiOperation(
        "POST", "/workspaces", "person_change", 201, {"slug": "newco"}
    ),
    "get_workspace": ApiOperation("GET", WS, "member", 200, changes=False),
    "update_workspace": ApiOperation("PATCH", WS, "owner_change", 200, {"name": "Acme Inc"}),
    "list_members": ApiOperation("GET", f"{WS}/members", "member", 200, changes=False),
    "put_member": ApiOperation(
        "PUT", f"{WS}/members/other@example.com", "owner_change", 201, {"owner": False}
    ),
    "remove_member": ApiOperation("DELETE", f"{WS}/members/none@example.com", "owner_change", 204),
    # projects and their grants
    "list_projects": ApiOperation("GET", f"{WS}/projects", "member", 200, changes=False),
    "create_project": ApiOperation("POST", f"{WS}/projects", "owner_change", 201, {"key": "NEW"}),
    "get_project": ApiOperation("GET", f"{WS}/projects/PLAT", "member", 200, changes=False),
    "update_project": ApiOperation(
        "PATCH", f"{WS}/projects/PLAT", "owner_change", 200, {"name": "Platform"}
    ),
    "list_project_grants": ApiOperation(
        "GET", f"{WS}/projects/PLAT/grants", "owner", 200, changes=False
    ),
    "put_project_grant": ApiOperation(
        "PUT", f"{WS}/projects/PLAT/grants/read@example.com", "owner_change", 200, {"role": "read"}
    ),
    "remove_project_grant": ApiOperation(
        "DELETE", f"{WS}/projects/PLAT/grants/write@example.com", "owner_change", 204
    ),
    # repositories and their grants
    "list_repositories": ApiOperation(
        "GET", f"{WS}/repositories", "repository_list", 200, changes=False
    ),
    "create_repository": ApiOperation(
        "POST", f"{WS}/repositories", "owner_change", 201, {"slug": "new", "project": "PLAT"}
    ),
    "get_repository": ApiOperation("GET", REPO, "repository_read", 200, changes=False),
    "rename_repository": ApiOperation(
        "PATCH", REPO, "repository_owner_change", 200, {"slug": "webapp"}
    ),
    "publish_repository": ApiOperation(
        "PATCH", REPO, "repository_owner_change", 200, {"public": True}
    ),
    "list_repository_grants": ApiOperation(
        "GET", f"{REPO}/grants", "repository_owner", 200, changes=False
    ),
    "put_repository_grant": ApiOperation(
        "PUT", f"{REPO}/grants/none@example.com", "repository_owner_change", 200, {"role": "read"}
    ),
    "remove_repository_grant": ApiOperation(
        "DELETE", f"{REPO}/grants/read@example.com", "repository_owner_change", 204
    ),
    # packages, tags, retention, protection
    "list_workspace_packages": ApiOperation(
        "GET", f"{WS}/packages", "package_list", 200, changes=False
    ),
    "list_project_packages": ApiOperation(
        "GET", f"{WS}/projects/WWW/packages", "package_list", 200, changes=False
    ),
    "list_repository_packages": ApiOperation(
        "GET", f"{REPO}/packages", "package_read", 200, changes=False
    ),
    "create_package": ApiOperation(
        "POST", "/packages", "package_admin", 201, {"name": "acme/new", "repository": "acme/web"}
    ),
    "get_package": ApiOperation("GET", PKG, "package_read", 200, changes=False),
    "link_package": ApiOperation(
        "PATCH", "/packages/acme/pub-base", "package_relink", 200, {"repository": "acme/web"}
    ),
    "delete_package": ApiOperation("DELETE", PKG, "package_admin", 204),
    "list_tags": ApiOperation("GET", f"{PKG}/-/tags", "package_read", 200, changes=False),
    "delete_tag": ApiOperation("DELETE", f"{PKG}/-/tags/v1", "package_write", 204),
    "get_retention": ApiOperation(
        "GET", f"{PKG}/-/retention", "package_read", 200, changes=False, setup=_WITH_POLICY
    ),
    "put_retention": ApiOperation("PUT", f"{PKG}/-/retention", "package_admin", 200, _RETENTION),
    "delete_retention": ApiOperation(
        "DELETE", f"{PKG}/-/retention", "package_admin", 204, setup=_WITH_POLICY
    ),
    "preview_retention": ApiOperation(
        "POST",
        f"{PKG}/-/retention/preview",
        "package_admin",
        200,
        {"keep_newest": 1},
        changes=False,
    ),
    "run_retention": ApiOperation(
        "POST", f"{PKG}/-/retention/run", "package_admin", 200, changes=False, setup=_WITH_POLICY
    ),
    "get_protection": ApiOperation(
        "GET", f"{PKG}/-/protection", "package_read", 200, changes=False
    ),
    "put_protection": ApiOperation(
        "PUT", f"{PKG}/-/protection", "package_admin", 200, {"patterns": ["v*"]}
    ),
    # storage usage and quotas
    "get_workspace_usage": ApiOperation("GET", f"{WS}/usage", "package_list", 200, changes=False),
    "get_workspace_quota": ApiOperation("GET", f"{WS}/quota", "member", 200, changes=False),
    "put_workspace_quota": ApiOperation(
        "PUT", f"{WS}/quota", "site_admin_change", 200, {"quota_bytes": 10**9}
    ),
    "delete_workspace_quota": ApiOperation(
        "DELETE",
        f"{WS}/quota",
        "site_admin_change",
        204,
        setup=(("PUT", f"{WS}/quota", {"quota_bytes": 10**9}),),
    ),
    # what acme/web's packages hold: read on them, as for a package (robots too)
    "get_repository_usage": ApiOperation(
        "GET", f"{REPO}/usage", "package_read", 200, changes=False
    ),
    "get_package_usage": ApiOperation("GET", f"{PKG}/-/usage", "package_read", 200, changes=False),
    # tokens
    "get_user": ApiOperation("GET", "/user", "person", 200, changes=False),
    "list_personal_tokens": ApiOperation("GET", "/user/tokens", "person", 200, changes=False),
    "create_personal_token": ApiOperation(
        "POST", "/user/tokens", "person_change", 201, _READ_TOKEN
    ),
    "revoke_personal_token": ApiOperation(
        "DELETE", "/user/tokens/{token:owner:read}", "own_token", 204
    ),
    "list_workspace_tokens": ApiOperation(
        "GET", f"{WS}/access-tokens", "owner_change", 200, changes=False
    ),
    "create_workspace_token": ApiOperation(
        "POST", f"{WS}/access-tokens", "owner_change", 201, _READ_TOKEN
    ),
    "revoke_workspace_token": ApiOperation(
        "DELETE", WS + "/access-tokens/{token:robot_ws:read}", "owner_change", 204
    ),
    "list_repository_tokens": ApiOperation(
        "GET", f"{REPO}/access-tokens", "repository_admin_change", 200, changes=False
    ),
    "create_repository_token": ApiOperation(
        "POST", f"{REPO}/access-tokens", "repository_admin_change", 201, _READ_TOKEN
    ),
    "revoke_repository_token": ApiOperation(
        "DELETE", REPO + "/access-tokens/{token:robot:read}", "repository_admin_change", 204
    ),
    # garbage collection
    "list_gc_runs": ApiOperation("GET", "/gc/runs", "site_admin", 200, changes=False),
}


def api_expected(who: str, operation: str) -> int:
    found = API_OPERATIONS[operation]
    status = RULES[found.rule][who]
    return found.success if status == OK else status


def api_headers(world: World, who: str) -> dict[str, str]:
    credential = {
        "anonymous": None,
        "oidc": "oidc_ws:admin",
        "robot": "robot:admin",
        "robot_ws": "robot_ws:admin",
        "owner_read": "owner:read",
    }.get(who, f"{who}:admin")
    if credential is None:
        return {}
    return {"Authorization": f"Bearer {world.credentials[credential].secret}"}


def api_path(world: World, path: str) -> str:
    """The path under /api/v1, with `{token:WHO:SCOPE}` replaced by that token's id."""
    head, sep, rest = path.partition("{token:")
    if not sep:
        return "/api/v1" + path
    name, _, tail = rest.partition("}")
    token_id = world.credentials[name].token_id
    assert token_id is not None
    return f"/api/v1{head}{token_id}{tail}"


async def perform_api(
    client: httpx.AsyncClient, world: World, operation: str, headers: dict[str, str]
) -> httpx.Response:
    found = API_OPERATIONS[operation]
    return await client.request(
        found.method,
        api_path(world, found.path),
        json=dict(found.body) if found.body is not None else None,
        headers=headers,
    )


# The tables whose rows say who may do what and what the registry holds; `last_used_at`
# moves with every authenticated call, so it is left out.
STATE_TABLES = (
    "users",
    "workspaces",
    "workspace_members",
    "projects",
    "repositories",
    "project_grants",
    "repository_grants",
    "packages",
    "package_links",
    "tags",
    "manifests",
    "tokens",
    "retention_policies",
    "tag_protections",
    "oidc_policies",
    "webhooks",
    "mirrors",
    "replications",
    "invitations",
)
_VOLATILE = {"last_used_at"}


async def state(ctx: Context, tables: tuple[str, ...] = STATE_TABLES) -> dict[str, list[str]]:
    """Every row of `tables`, as sorted text, to compare before and after a call."""
    found = {}
    for table in tables:
        rows = await ctx.db.fetchall(f"SELECT * FROM {table}")  # the names above, not input
        found[table] = sorted(
            repr(sorted((k, v) for k, v in dict(row).items() if k not in _VOLATILE)) for row in rows
        )
    return found
