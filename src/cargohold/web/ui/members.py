"""Members and roles of a workspace: its owners add and remove members, and grant roles
on projects and repositories. Everything goes through the workspace use cases, which
refuse anyone but an owner."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cargohold.authz.errors import RoleUnknown
from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts import directory
from cargohold.services.accounts.checked import repositories, workspaces
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.web.ui.page import Page, begin

ROLES = ("read", "write", "admin")


async def _load(tx: Queries, page: Page, slug: str) -> dict[str, Any]:
    workspace = await workspaces.show_workspace(tx, page.principal, slug)
    members = await workspaces.list_members(tx, page.principal, slug)
    projects: list[tuple[workspaces.Project, list[directory.RoleGrant]]] = []
    repos: list[tuple[repositories.RepositoryInfo, list[directory.RoleGrant]]] = []
    if workspace.owner:
        for project in await workspaces.list_projects(tx, page.principal, slug):
            grants = await workspaces.list_project_grants(tx, page.principal, slug, project.key)
            projects.append((project, grants))
        for repository in await repositories.list_repositories(tx, page.principal, slug):
            grants = await repositories.list_repository_grants(
                tx, page.principal, repository.full_name
            )
            repos.append((repository, grants))
    return {
        "workspace": workspace,
        "members": members,
        "projects": projects,
        "repositories": repos,
        "roles": ROLES,
    }


async def members_page(request: Request) -> Response:
    page = await begin(request)
    slug = request.path_params["workspace"]
    async with page.transaction() as tx:
        values = await _load(tx, page, slug)
    return page.render("members.html", **values)


async def change(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    action = str(form.get("action", ""))
    email = str(form.get("email", "")).strip()[:320]
    target = str(form.get("target", ""))[:300]
    error = None
    async with page.transaction() as tx:
        try:
            await _apply(tx, page, slug, action, email, target, str(form.get("role", "")))
        except (Invalid, Conflict, NotFound) as exc:
            error = page.say(exc)
        except RoleUnknown as exc:
            error = page.say(exc)
        values = await _load(tx, page, slug)
    if error is not None:
        return page.render("members.html", 400, error=error, **values)
    return page.redirect(f"/w/{slug}/members")


async def _apply(
    tx: Queries, page: Page, slug: str, action: str, email: str, target: str, role: str
) -> None:
    who = page.principal
    if action == "add_member":
        await workspaces.put_member(tx, who, slug, email=email, owner=role == "owner")
    elif action == "remove_member":
        await workspaces.remove_member(tx, who, slug, email=email)
    elif action == "grant_project":
        await workspaces.set_project_grant(
            tx, who, slug, target, email=email, role=Role.parse(role)
        )
    elif action == "revoke_project":
        await workspaces.remove_project_grant(tx, who, slug, target, email=email)
    elif action == "grant_repository":
        await repositories.set_repository_grant(
            tx, who, f"{slug}/{target}", email=email, role=Role.parse(role)
        )
    elif action == "revoke_repository":
        await repositories.remove_repository_grant(tx, who, f"{slug}/{target}", email=email)
    else:
        raise Invalid("unknown action")
