"""The repositories of a workspace with their project, visibility and packages
(`/w/WS/repos`); owners create one there, and rename one or change its visibility at
`/w/WS/repos/SLUG/settings`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from cargohold.metadata.db import Queries
from cargohold.services.accounts.checked import repositories, workspaces
from cargohold.services.errors import Conflict, Forbidden, Invalid, NotFound
from cargohold.web.ui.page import Page, begin
from cargohold.web.ui.projects import packages_by_repository

VISIBILITIES = ("private", "public")


async def _load(tx: Queries, page: Page, slug: str) -> dict[str, Any]:
    repos = await repositories.list_repositories(tx, page.principal, slug)
    owner, projects = False, []
    try:
        owner = (await workspaces.show_workspace(tx, page.principal, slug)).owner
    except NotFound:  # no member: a reader through a grant
        owner = False
    if owner:
        projects = await workspaces.list_projects(tx, page.principal, slug)
    return {
        "workspace": slug,
        "owner": owner,
        "repositories": repos,
        "projects": projects,
        "packages": await packages_by_repository(tx, page, slug),
    }


async def repositories_page(request: Request) -> Response:
    page = await begin(request)
    slug = request.path_params["workspace"]
    async with page.transaction() as tx:
        values = await _load(tx, page, slug)
    return page.render("repositories.html", done=request.query_params.get("done"), **values)


async def create_repository(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    asked = {
        "slug": str(form.get("slug", "")).strip()[:200],
        "project": str(form.get("project", ""))[:40],
        "visibility": str(form.get("visibility", "private")),
    }
    async with page.transaction() as tx:  # NotFound below is then the project's
        if not (await workspaces.show_workspace(tx, page.principal, slug)).owner:
            raise Forbidden(f"only owners of workspace {slug} may do this")
    try:
        if asked["visibility"] not in VISIBILITIES:
            raise Invalid("a repository is private or public")
        async with page.transaction() as tx:
            await repositories.add_repository(
                tx,
                page.principal,
                slug,
                repository=asked["slug"],
                project=asked["project"],
                public=asked["visibility"] == "public",
                now=page.ctx.now(),
            )
    except (Invalid, Conflict, NotFound) as exc:
        async with page.transaction() as tx:
            values = await _load(tx, page, slug)
        return page.render("repositories.html", 400, error=page.say(exc), asked=asked, **values)
    return page.redirect(f"/w/{slug}/repos?done={quote(asked['slug'])}")


async def _settings_values(tx: Queries, page: Page, full_name: str) -> dict[str, Any]:
    # Owners only: the grants read refuses everyone else (Forbidden, or NotFound for
    # those who may not read the repository).
    await repositories.list_repository_grants(tx, page.principal, full_name)
    repository = await repositories.show_repository(tx, page.principal, full_name)
    return {"workspace": repository.workspace, "repository": repository}


async def repository_settings(request: Request) -> Response:
    page = await begin(request)
    full_name = f"{request.path_params['workspace']}/{request.path_params['repository']}"
    async with page.transaction() as tx:
        values = await _settings_values(tx, page, full_name)
    done = request.query_params.get("done")
    return page.render("repository_settings.html", done=done, **values)


async def change_repository(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    workspace = request.path_params["workspace"]
    full_name = f"{workspace}/{request.path_params['repository']}"
    action = str(form.get("action", ""))
    slug = str(form.get("slug", "")).strip()[:200]
    try:
        async with page.transaction() as tx:
            if action == "rename":
                renamed = await repositories.rename_repository(
                    tx, page.principal, full_name, slug=slug
                )
                full_name = renamed.full_name
            elif action == "visibility":
                visibility = str(form.get("visibility", ""))
                if visibility not in VISIBILITIES:
                    raise Invalid("a repository is private or public")
                await repositories.update_repository(
                    tx, page.principal, full_name, public=visibility == "public"
                )
            else:
                raise Invalid("unknown action")
    except (Invalid, Conflict) as exc:
        async with page.transaction() as tx:
            values = await _settings_values(tx, page, full_name)
        return page.render(
            "repository_settings.html", 400, error=page.say(exc), slug=slug, **values
        )
    repository = full_name.split("/", 1)[1]
    return page.redirect(f"/w/{workspace}/repos/{repository}/settings?done={action}")
