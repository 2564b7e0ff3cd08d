"""The home page (your workspaces) and the package lists of a workspace, a project and a
repository: search by name, sort, and keyset paging."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.accounts.checked import repositories, workspaces
from cargohold.services.errors import Invalid, NotFound
from cargohold.services.lifecycle.checked import usage
from cargohold.services.registry.checked import browse
from cargohold.services.registry.checked import packages as packages_of
from cargohold.web.ui.page import begin

PAGE_SIZE = 50


async def home(request: Request) -> Response:
    """What the person can reach: the workspaces they belong to, and the packages granted
    to them through a project or repository of a workspace they do not belong to."""
    page = await begin(request)
    if page.user is None:
        return page.redirect("/sign-in")
    async with page.transaction() as tx:
        found = await workspaces.list_workspaces(tx, page.principal)
        quotas = await usage.quota_levels(tx, page.principal)
        granted, more = await packages_of.granted_packages(tx, page.principal, limit=PAGE_SIZE)
    return page.render(
        "home.html", workspaces=found, quotas=quotas, granted=granted, more_granted=more
    )


async def packages(request: Request) -> Response:
    page = await begin(request)
    params = request.path_params
    workspace = params["workspace"]
    project, repository = params.get("project"), params.get("repository")
    search = request.query_params.get("q", "")[:200]
    sort = request.query_params.get("sort", "name")
    sort = sort if sort in browse.SORTS else "name"
    cursor = request.query_params.get("after")
    async with page.transaction() as tx:
        listing = partial(
            browse.list_packages,
            tx,
            page.principal,
            workspace=workspace,
            project=project,
            repository=repository,
            search=search,
            sort=sort,
            limit=PAGE_SIZE,
        )
        try:
            found = await listing(cursor=cursor)
        except Invalid:  # a stale cursor: start again
            found = await listing()
        shown = None
        if repository is not None and page.user is not None:
            shown = await repositories.show_repository(
                tx, page.principal, f"{workspace}/{repository}"
            )
        owner = False
        if page.user is not None:
            try:
                owner = (await workspaces.show_workspace(tx, page.principal, workspace)).owner
            except NotFound:  # not a member: a reader of public packages
                owner = False
    return page.render(
        "packages.html",
        workspace=workspace,
        project=project,
        repository=repository,
        repository_info=shown,
        owner=owner,
        page_items=found.items,
        next_cursor=found.next_cursor,
        search=search,
        sort=sort,
        sorts=browse.SORTS,
    )
