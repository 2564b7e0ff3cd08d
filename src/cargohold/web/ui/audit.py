"""A workspace's audit log, `/w/WS/audit`: its owners read who changed what, when and from
where, newest first, filtered by actor, action, package and time, paged by entry id.
Nothing here changes an entry."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.accounts.checked import audit
from cargohold.services.errors import Invalid
from cargohold.services.events.audit import Filters, parse_time
from cargohold.web.ui.page import begin

PAGE = 50
FIELDS = ("actor", "action", "package", "since", "until")


def _(message: str) -> str:
    """Marks a message for the catalog; the page translates it when it renders."""
    return message


# What each action is called on the page; an action without a name shows as its code.
ACTIONS = {
    "manifest.pushed": _("Image pushed"),
    "manifest.pulled": _("Image pulled"),
    "manifest.deleted": _("Image deleted"),
    "tag.moved": _("Tag moved"),
    "tag.deleted": _("Tag deleted"),
    "blob.deleted": _("Layer unlinked"),
    "package.created": _("Package created"),
    "package.moved": _("Package moved"),
    "package.deleted": _("Package deleted"),
    "member.added": _("Member added"),
    "member.changed": _("Member changed"),
    "member.removed": _("Member removed"),
    "grant.changed": _("Role granted"),
    "grant.removed": _("Role removed"),
    "repository.created": _("Repository created"),
    "repository.renamed": _("Repository renamed"),
    "repository.visibility_changed": _("Visibility changed"),
    "workspace.created": _("Workspace created"),
    "workspace.changed": _("Workspace changed"),
    "project.created": _("Project created"),
    "project.renamed": _("Project renamed"),
    "token.created": _("Token created"),
    "token.revoked": _("Token revoked"),
    "signin.succeeded": _("Signed in"),
    "signin.failed": _("Sign-in failed"),
    "retention.deleted": _("Deleted by a retention policy"),
    "retention.applied": _("Retention policy applied, nothing to delete"),
    "gc.deleted": _("Deleted by garbage collection"),
    "settings.changed": _("Settings changed"),
    "user.created": _("User created"),
    "user.password_changed": _("Password changed"),
}
SETTINGS = {
    "retention": _("Retention policy"),
    "protection": _("Tag protection"),
    "quota_bytes": _("Storage quota"),
    "create_on_push": _("Create on push"),
}
OUTCOMES = {"refused": _("Refused"), "failed": _("Failed")}


async def audit_page(request: Request) -> Response:
    page = await begin(request)
    workspace = request.path_params["workspace"]
    asked = {name: request.query_params.get(name, "").strip()[:320] for name in FIELDS}
    after = request.query_params.get("after", "")
    error = None
    try:
        filters = Filters(
            actor=asked["actor"] or None,
            action=asked["action"] or None,
            package=asked["package"] or None,
            since=parse_time(asked["since"], now=page.ctx.now()) if asked["since"] else None,
            until=parse_time(asked["until"], now=page.ctx.now()) if asked["until"] else None,
        )
    except Invalid as exc:
        filters, error = Filters(), page.say(exc)
    start = int(after) if after.isascii() and after.isdigit() and len(after) < 20 else None
    async with page.transaction() as tx:
        events, following = await audit.workspace_log(
            tx, page.principal, workspace, filters=filters, limit=PAGE, after=start
        )
    kept = {name: value for name, value in asked.items() if value}
    older = None
    if following is not None:
        older = f"/w/{workspace}/audit?{urlencode({**kept, 'after': following})}"
    return page.render(
        "audit.html",
        400 if error else 200,
        workspace=workspace,
        events=events,
        asked=asked,
        error=error,
        older=older,
        actions={code: page.gettext(label) for code, label in ACTIONS.items()},
        settings={code: page.gettext(label) for code, label in SETTINGS.items()},
        outcomes={code: page.gettext(label) for code, label in OUTCOMES.items()},
        retention_days=page.ctx.settings.audit_retention_days,
    )
