"""Creating a workspace (`/new-workspace`: anyone signed in, who then owns it) and its
settings (`/w/WS/settings`: its owners rename it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.accounts.checked import workspaces
from cargohold.services.accounts.principals import require_person
from cargohold.services.errors import Conflict, Forbidden, Invalid
from cargohold.web.ui.page import begin


async def new_workspace_form(request: Request) -> Response:
    page = await begin(request)
    require_person(page.principal)
    return page.render("workspace_new.html", asked={})


async def create_workspace(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    asked = {
        "slug": str(form.get("slug", "")).strip()[:100],
        "name": str(form.get("name", "")).strip()[:300],
    }
    try:
        async with page.transaction() as tx:
            await workspaces.add_workspace(
                tx,
                page.principal,
                slug=asked["slug"],
                name=asked["name"] or None,
                owner_email=None,
                create_on_push=False,
                now=page.ctx.now(),
            )
    except (Invalid, Conflict) as exc:
        return page.render("workspace_new.html", 400, error=page.say(exc), asked=asked)
    return page.redirect(f"/w/{asked['slug']}/settings?done=created")


async def settings_page(request: Request) -> Response:
    page = await begin(request)
    slug = request.path_params["workspace"]
    async with page.transaction() as tx:
        workspace = await workspaces.show_workspace(tx, page.principal, slug)
    if not workspace.owner:
        raise Forbidden(f"only owners of workspace {slug} may do this")
    done = request.query_params.get("done")
    return page.render("workspace_settings.html", workspace=workspace, done=done)


async def rename_workspace(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    slug = request.path_params["workspace"]
    name = str(form.get("name", ""))[:300]
    try:
        async with page.transaction() as tx:
            await workspaces.update_workspace(tx, page.principal, slug, name=name)
    except Invalid as exc:
        async with page.transaction() as tx:
            workspace = await workspaces.show_workspace(tx, page.principal, slug)
        return page.render(
            "workspace_settings.html", 400, workspace=workspace, error=page.say(exc), name=name
        )
    return page.redirect(f"/w/{slug}/settings?done=renamed")
