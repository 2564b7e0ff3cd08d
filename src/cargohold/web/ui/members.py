"""Members and roles of a workspace: its owners add and remove members, and grant roles
on projects and repositories through one form (a person and a project or repository,
picked from lists). Everything goes through the workspace use cases, which refuse anyone
but an owner."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cargohold.authz.errors import RoleUnknown
from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts.checked import repositories, workspaces
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.web.ui.page import Page, begin

ROLES = ("read", "write", "admin")
# A grant's target as the form names it: `project:KEY` or `repository:SLUG`.
KINDS = ("project", "repository")


async def _load(tx: Queries, page: Page, slug: str) -> dict[str, Any]:
    workspace = await workspaces.show_workspace(tx, page.principal, slug)
    members = await workspaces.list_members(tx, page.principal, slug)
    values: dict[str, Any] = {
        "workspace": workspace,
        "members": members,
        "roles": ROLES,
        "projects": [],
        "repositories": [],
        "grants": [],
    }
    if workspace.owner:
        values["projects"] = await workspaces.list_projects(tx, page.principal, slug)
        values["repositories"] = await repositories.list_repositories(tx, page.principal, slug)
        values["grants"] = await workspaces.list_workspace_grants(tx, page.principal, slug)
    return values


async def members_page(request: Request) -> Response:
    page = await begin(request)
    slug = request.path_params["workspace"]
    async with page.transaction() as tx:
        values = await _load(tx, page, slug)
    return page.render("members.html", done=request.query_params.get("done"), **values)


async def change(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    action = str(form.get("action", ""))
    email = str(form.get("email", "")).strip()[:320]
    target = str(form.get("target", ""))[:300]
    role = str(form.get("role", ""))[:20]
    error = None
    async with page.transaction() as tx:
        try:
            await _apply(tx, page, slug, action, email, target, role)
        except (Invalid, Conflict, NotFound) as exc:
            error = page.say(exc)
        except RoleUnknown as exc:
            error = page.say(exc)
    if error is not None:
        async with page.transaction() as tx:
            values = await _load(tx, page, slug)
        asked = {"email": email, "target": target, "role": role, "action": action}
        return page.render("members.html", 400, error=error, asked=asked, **values)
    return page.redirect(f"/w/{slug}/members?done={action}")


def _target(target: str) -> tuple[str, str]:
    kind, _, name = target.partition(":")
    if kind not in KINDS or not name:
        raise Invalid("pick a project or a repository")
    return kind, name


async def _apply(
    tx: Queries, page: Page, slug: str, action: str, email: str, target: str, role: str
) -> None:
    who = page.principal
    if action == "add_member":
        await workspaces.put_member(tx, who, slug, email=email, owner=role == "owner")
    elif action == "remove_member":
        await workspaces.remove_member(tx, who, slug, email=email)
    elif action == "grant":
        kind, name = _target(target)
        if kind == "project":
            await workspaces.set_project_grant(
                tx, who, slug, name, email=email, role=Role.parse(role)
            )
        else:
            await repositories.set_repository_grant(
                tx, who, f"{slug}/{name}", email=email, role=Role.parse(role)
            )
    elif action == "revoke":
        kind, name = _target(target)
        if kind == "project":
            await workspaces.remove_project_grant(tx, who, slug, name, email=email)
        else:
            await repositories.remove_repository_grant(tx, who, f"{slug}/{name}", email=email)
    else:
        raise Invalid("unknown action")
