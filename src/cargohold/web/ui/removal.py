"""Before a member is removed from a workspace: who, and what they lose. The form it
shows posts to the members page (web/ui/members.py), which removes and says so."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.services.accounts.checked import workspaces
from cargohold.services.errors import Forbidden, NotFound
from cargohold.web.ui.page import begin


async def confirm_removal(request: Request) -> Response:
    page = await begin(request)
    slug = request.path_params["workspace"]
    email = request.query_params.get("email", "").strip().lower()[:320]
    async with page.transaction() as tx:
        workspace = await workspaces.show_workspace(tx, page.principal, slug)
        if not workspace.owner:
            raise Forbidden(f"only owners of workspace {slug} may do this")
        members = await workspaces.list_members(tx, page.principal, slug)
    member = next((m for m in members if m.user.email == email), None)
    if member is None:
        raise NotFound(f"{email[:80]} is not a member of {slug}")
    owners = sum(1 for m in members if m.owner)
    return page.render(
        "confirm_remove_member.html",
        workspace=workspace,
        member=member,
        last_owner=member.owner and owners <= 1,
        yourself=page.user is not None and page.user.id == member.user.id,
    )
