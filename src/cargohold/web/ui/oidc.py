"""The trust policies of a workspace (owners): which CI pipelines may log in with an
OpenID Connect ID token, and what they may do. List, create, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cargohold.authz.claims import parse_condition
from cargohold.authz.errors import ClaimConditionInvalid
from cargohold.metadata.db import Queries
from cargohold.services.accounts.checked import oidc_policies, repositories
from cargohold.services.accounts.principals import require_person
from cargohold.services.errors import Conflict, Invalid, NotFound
from cargohold.web.ui.messages import Refused
from cargohold.web.ui.page import Page, begin

ROLES = ("read", "write", "admin")
LIFETIMES = ("5m", "15m", "30m", "1h")
EVERY_REPOSITORY = ""  # the target select's value for the whole workspace
# Where each CI system puts what a policy usually checks: shown as examples on the page.
EXAMPLES = (
    ("Bitbucket Pipelines", "repositoryUuid={…}\nbranchName=main"),
    ("GitHub Actions", "repository=acme/web\nref=refs/heads/main"),
    ("GitLab", "project_path=acme/web\nref_protected=true"),
)


async def _render(
    page: Page, tx: Queries, workspace: str, status: int = 200, **extra: Any
) -> Response:
    found = await oidc_policies.list_policies(tx, page.principal, workspace)
    repos = await repositories.list_repositories(tx, page.principal, workspace)
    return page.render(
        "oidc_policies.html",
        status,
        workspace=workspace,
        policies=found,
        repositories=[repo.slug for repo in repos],
        roles=ROLES,
        lifetimes=LIFETIMES,
        examples=EXAMPLES,
        every=EVERY_REPOSITORY,
        **extra,
    )


async def policies_page(request: Request) -> Response:
    page = await begin(request)
    require_person(page.principal)
    created = request.query_params.get("created")
    async with page.transaction() as tx:
        return await _render(page, tx, request.path_params["workspace"], created=created)


def _conditions(page: Page, text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            name, pattern = parse_condition(line.strip())
        except ClaimConditionInvalid:
            raise Refused(
                page.gettext("Write each condition as NAME=VALUE on a line of its own.")
            ) from None
        found[name] = pattern
    return found


async def create_policy(request: Request) -> Response:
    page = await begin(request)
    form = await page.form()
    require_person(page.principal)
    workspace = request.path_params["workspace"]
    values = {k: str(form.get(k, "")) for k in ("issuer", "audience", "claims", "target")}
    async with page.transaction() as tx:
        try:
            target = values["target"]
            created = await oidc_policies.create_policy(
                tx,
                page.principal,
                page.ctx.settings,
                workspace=workspace,
                repository=None if target == EVERY_REPOSITORY else target,
                issuer=values["issuer"],
                audience=values["audience"],
                claims=_conditions(page, values["claims"]),
                role=str(form.get("role", "read")),
                lifetime=str(form.get("lifetime", "15m")),
                now=page.ctx.now(),
            )
        except (Invalid, Conflict, NotFound) as exc:
            if isinstance(exc, NotFound) and "workspace" in exc.message:
                raise
            return await _render(page, tx, workspace, 400, error=page.say(exc), form=values)
    return page.redirect(f"/w/{workspace}/oidc?created={created.id}")


async def delete_policy(request: Request) -> Response:
    page = await begin(request)
    await page.form()
    workspace = request.path_params["workspace"]
    async with page.transaction() as tx:
        await oidc_policies.delete_policy(
            tx, page.principal, workspace, request.path_params["policy"]
        )
    return page.redirect(f"/w/{workspace}/oidc")
