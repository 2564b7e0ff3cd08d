"""Creating a package, a package's page, and the routes below a package (`/-/`)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from cargohold.authz.roles import Role
from cargohold.services import outbound
from cargohold.services.accounts.checked import repositories
from cargohold.services.accounts.principals import require_person
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.services.lifecycle.checked import retention
from cargohold.services.registry import protection
from cargohold.services.registry.checked import browse, mirrors, packages
from cargohold.web.ui import settings, tags
from cargohold.web.ui.messages import Refused
from cargohold.web.ui.page import Page, begin

TAG_PAGE = 50


async def new_package_form(request: Request) -> Response:
    page = await begin(request)
    require_person(page.principal)
    async with page.transaction() as tx:
        choices = await repositories.admin_repositories(tx, page.principal)
    chosen = request.query_params.get("repository", "")
    return page.render("package_new.html", repositories=choices, chosen=chosen, name="")


async def create_package(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    require_person(page.principal)
    repository = str(form.get("repository", ""))[:300]
    short = str(form.get("name", "")).strip().strip("/")[:200]
    workspace = repository.split("/", 1)[0]
    name = f"{workspace}/{short}"
    error = None
    async with page.transaction() as tx:
        try:
            if not short or "/" not in repository:
                raise Refused(page.gettext("Enter a name and choose a repository."))
            await packages.add_package(
                tx, page.principal, name=name, repository=repository, now=page.ctx.now()
            )
        except (Invalid, Conflict, NotFound) as exc:
            error = page.say(exc)
        choices = await repositories.admin_repositories(tx, page.principal)
    if error is not None:
        return page.render(
            "package_new.html",
            400,
            repositories=choices,
            chosen=repository,
            name=short,
            error=error,
        )
    return page.redirect(f"/p/{quote(name)}/-/created")  # a reload makes nothing twice


async def _created(page: Page, name: str) -> Response:
    """Where creating a package lands: how to push to it."""
    async with page.transaction() as tx:
        info = await packages.show_package(tx, page.principal, name)
    return page.render("package_created.html", name=name, repository=info.repository)


async def package_routes(request: Request) -> Response:
    """`/p/NAME`, and `/p/NAME/-/tags/TAG`, `/p/NAME/-/manifests/DIGEST` (each with
    `/delete`), `/p/NAME/-/settings` (and `/delete`): a name may contain `/`, never a `-`
    component."""
    path = request.path_params["rest"]
    name, sep, rest = path.partition("/-/")
    page = await begin(request)
    if not sep:
        if request.method == "POST":
            raise NotFound("no such page")
        return await _package(page, name)
    parts = rest.split("/")
    if parts == ["created"] and request.method != "POST":
        return await _created(page, name)
    if len(parts) in (2, 3) and parts[0] in ("tags", "manifests"):
        deleting = len(parts) == 3
        if deleting and parts[2] != "delete":
            raise NotFound("no such page")
        return await tags.dispatch(page, name, parts[0], parts[1], deleting)
    if parts[0] == "settings":
        return await settings.dispatch(page, name, parts)
    raise NotFound("no such page")


async def _package(page: Page, name: str) -> Response:
    after = page.request.query_params.get("after")
    search = page.request.query_params.get("q", "")[:200]
    sort = page.request.query_params.get("sort", "pushed")
    sort = sort if sort in browse.TAG_SORTS else "pushed"
    async with page.transaction() as tx:
        info = await packages.show_package(tx, page.principal, name)
        details = await browse.package_details(
            tx, page.principal, name, limit=TAG_PAGE, after=after, search=search, sort=sort
        )
        protected = await protection.protected_among(tx, name, [t.name for t in details.tags])
        policy = await retention.policy_state(tx, page.principal, name)
        mirror = await mirrors.origin(tx, page.principal, name)
    details = await browse.read_platforms(page.ctx.storage, details)  # outside the transaction
    return page.render(
        "package.html",
        package=info,
        details=details,
        can_write=details.role >= Role.WRITE,
        can_admin=details.role >= Role.ADMIN,
        protected=protected,
        policy=policy,
        mirrored_from=None if mirror is None else outbound.redact(mirror.upstream),
        deleted=page.request.query_params.get("deleted", "")[:200],
        after=after,
        search=search,
        sort=sort,
    )
