"""The projects of a workspace with their repositories and packages (`/w/WS/projects`);
owners create a project there and rename one at `/w/WS/projects/KEY/settings`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cargohold.metadata.db import Queries
from cargohold.services.accounts.checked import repositories, workspaces
from cargohold.services.errors import Conflict, Forbidden, Invalid, NotFound
from cargohold.services.registry.checked import browse
from cargohold.web.ui.page import Page, begin

# The packages listed under each repository; the repository's page lists them all.
PACKAGES_SHOWN = 500


async def packages_by_repository(tx: Queries, page: Page, workspace: str) -> dict[str, list[str]]:
    """The names of the packages the person may pull, by repository slug."""
    found = await browse.list_packages(
        tx, page.principal, workspace=workspace, sort="name", limit=PACKAGES_SHOWN
    )
    names: dict[str, list[str]] = defaultdict(list)
    for item in found.items:
        names[item.repository.split("/", 1)[1]].append(item.name)
    return names


async def _load(tx: Queries, page: Page, slug: str) -> dict[str, Any]:
    repos = await repositories.list_repositories(tx, page.principal, slug)
    try:
        workspace = await workspaces.show_workspace(tx, page.principal, slug)
        projects = await workspaces.list_projects(tx, page.principal, slug)
        owner = workspace.owner
    except NotFound:  # no member: the projects of the repositories they were granted
        keys = sorted({repo.project for repo in repos})
        projects = [workspaces.Project(slug, key, key, 0.0) for key in keys]
        owner = False
    by_project: dict[str, list[repositories.RepositoryInfo]] = defaultdict(list)
    for repo in repos:
        by_project[repo.project].append(repo)
    return {
        "workspace": slug,
        "owner": owner,
        "projects": projects,
        "repositories": by_project,
        "packages": await packages_by_repository(tx, page, slug),
    }


async def projects_page(request: Request) -> Response:
    page = await begin(request)
    slug = request.path_params["workspace"]
    async with page.transaction() as tx:
        values = await _load(tx, page, slug)
    return page.render("projects.html", done=request.query_params.get("done"), **values)


async def create_project(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    key = str(form.get("key", "")).strip()[:40]
    name = str(form.get("name", "")).strip()[:200]
    try:
        async with page.transaction() as tx:
            await workspaces.add_project(
                tx, page.principal, slug, key=key, name=name or None, now=page.ctx.now()
            )
    except (Invalid, Conflict) as exc:
        async with page.transaction() as tx:
            values = await _load(tx, page, slug)
        asked = {"key": key, "name": name}
        return page.render("projects.html", 400, error=page.say(exc), asked=asked, **values)
    return page.redirect(f"/w/{slug}/projects?done={key}")


async def _settings_values(tx: Queries, page: Page, slug: str, key: str) -> dict[str, Any]:
    workspace = await workspaces.show_workspace(tx, page.principal, slug)
    if not workspace.owner:
        raise Forbidden(f"only owners of workspace {slug} may do this")
    project = await workspaces.show_project(tx, page.principal, slug, key)
    return {"workspace": slug, "project": project}


async def project_settings(request: Request) -> Response:
    page = await begin(request)
    slug, key = request.path_params["workspace"], request.path_params["project"]
    async with page.transaction() as tx:
        values = await _settings_values(tx, page, slug, key)
    done = request.query_params.get("done")
    return page.render("project_settings.html", done=done, **values)


async def rename_project(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    slug, key = request.path_params["workspace"], request.path_params["project"]
    name = str(form.get("name", ""))[:300]
    try:
        async with page.transaction() as tx:
            await workspaces.rename_project(tx, page.principal, slug, key, name=name)
    except Invalid as exc:
        async with page.transaction() as tx:
            values = await _settings_values(tx, page, slug, key)
        return page.render("project_settings.html", 400, error=page.say(exc), name=name, **values)
    return page.redirect(f"/w/{slug}/projects/{key}/settings?done=renamed")
