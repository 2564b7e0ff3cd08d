"""A tag's (or a manifest's) page, and deleting a tag (write) or an image version by
digest (admin), each after a confirmation that says what goes."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from cargohold.authz.roles import Role
from cargohold.oci.digest import is_digest
from cargohold.services.accounts.principals import require_package
from cargohold.services.errors import NotFound
from cargohold.services.registry import protection
from cargohold.services.registry.checked import browse, manifests, packages
from cargohold.web.ui.page import Page


async def dispatch(page: Page, name: str, kind: str, ref: str, deleting: bool) -> Response:
    if is_digest(ref) != (kind == "manifests"):  # tags by name, manifests by digest
        raise NotFound("no such page")
    if page.request.method == "POST":
        if not deleting:
            raise NotFound("no such page")
        return await _delete(page, name, kind, ref)
    if deleting:
        return await _confirm(page, name, kind, ref)
    return await _show(page, name, kind, ref)


async def _show(page: Page, name: str, kind: str, ref: str) -> Response:
    async with page.transaction() as tx:
        details = await browse.manifest_details(tx, page.principal, name, ref)
        info = await packages.show_package(tx, page.principal, name)
        tag = ref if kind == "tags" else None
        rules = await protection.protected_among(tx, name, [tag]) if tag is not None else {}
        rule = rules.get(tag) if tag is not None else None
    await browse.read_config(page.ctx.storage, details)  # outside the transaction
    return page.render(
        "manifest.html",
        name=name,
        package=info,
        tag=tag,
        details=details,
        can_write=details.role >= Role.WRITE,
        can_admin=details.role >= Role.ADMIN,
        rule=rule,
        may_delete_tag=tag is not None
        and (details.role >= Role.ADMIN or (details.role >= Role.WRITE and rule is None)),
    )


async def _confirm(page: Page, name: str, kind: str, ref: str) -> Response:
    need = Role.WRITE if kind == "tags" else Role.ADMIN
    async with page.transaction() as tx:
        await require_package(tx, page.principal, name, need)
        details = await browse.manifest_details(tx, page.principal, name, ref)
        info = await packages.show_package(tx, page.principal, name)
    return page.render(
        "confirm_delete.html", name=name, kind=kind, ref=ref, details=details, package=info
    )


async def _delete(page: Page, name: str, kind: str, ref: str) -> Response:
    await page.form()
    async with page.transaction() as tx:
        if kind == "tags":
            await manifests.remove_tag(tx, page.principal, name=name, tag=ref)
        else:
            await manifests.remove_image(tx, page.principal, name=name, digest=ref)
    return page.redirect(f"/p/{quote(name)}?deleted={quote(ref)}")
