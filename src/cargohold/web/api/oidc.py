"""OpenID Connect: the trust policies of a workspace (owners), and the exchange of an ID
token for a registry token, for tools that do not speak the docker token flow."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field, model_validator

from cargohold.authz.errors import ScopeInvalid
from cargohold.authz.scopes import parse_resource_scopes
from cargohold.services.accounts import federation
from cargohold.services.accounts.checked import oidc_policies
from cargohold.services.accounts.oidc_policies import Policy
from cargohold.services.errors import Invalid
from cargohold.services.registry import bearer_tokens
from cargohold.web.api.deps import CurrentContext, CurrentPrincipal, DbTx, location
from cargohold.web.api.models import Body, Items, RoleName, label, timestamp
from cargohold.web.api.problems import responses

router = APIRouter(tags=["oidc"], responses=responses(401, 403, 404, 422))

_POLICIES = "/workspaces/{workspace}/oidc-policies"


class PolicyIn(Body):
    issuer: str = Field(
        max_length=500,
        description="The provider's issuer URL, exactly as tokens name it in `iss`"
        " (https://token.actions.githubusercontent.com, https://gitlab.com, ...).",
    )
    audience: str = Field(max_length=500, description="The `aud` tokens must carry.")
    claims: dict[str, str] = Field(
        min_length=1,
        max_length=20,
        description="Conditions on claims: an exact value or a glob (`*` within a `/`"
        " segment, `**` across them, `?` one character), e.g."
        ' {"repository": "acme/web", "ref": "refs/heads/main"}.',
    )
    repository: str | None = Field(
        default=None, max_length=128, description="The repository (its slug) it grants on."
    )
    workspace: bool = Field(
        default=False, description="true: it grants on every repository of the workspace."
    )
    role: RoleName
    lifetime: str = Field(
        default="15m",
        max_length=16,
        description="How long the registry token lives: 1m to 1h (15m, 1h, 600s).",
    )

    @model_validator(mode="after")
    def _one_target(self) -> PolicyIn:
        if (self.repository is None) == (not self.workspace):
            raise ValueError('give either "repository" or "workspace": true, not both')
        return self


class PolicyOut(BaseModel):
    id: str
    workspace: str
    repository: str | None = Field(description="null: every repository of the workspace.")
    issuer: str
    audience: str
    claims: dict[str, str]
    role: RoleName
    lifetime: int = Field(description="Seconds a registry token from this policy lives.")
    created_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, policy: Policy) -> PolicyOut:
        return cls(
            id=policy.id,
            workspace=policy.workspace,
            repository=policy.repository,
            issuer=policy.issuer,
            audience=policy.audience,
            claims=policy.claims,
            role=label(policy.role),
            lifetime=policy.lifetime,
            created_at=timestamp(policy.created_at),
            created_by=policy.created_by,
        )


@router.get(_POLICIES)
async def list_oidc_policies(
    workspace: str, tx: DbTx, principal: CurrentPrincipal
) -> Items[PolicyOut]:
    """The workspace's trust policies (owners)."""
    found = await oidc_policies.list_policies(tx, principal, workspace)
    return Items(items=[PolicyOut.of(policy) for policy in found])


@router.post(_POLICIES, status_code=status.HTTP_201_CREATED)
async def create_oidc_policy(
    workspace: str,
    body: PolicyIn,
    request: Request,
    response: Response,
    tx: DbTx,
    ctx: CurrentContext,
    principal: CurrentPrincipal,
) -> PolicyOut:
    """A trust policy: ID tokens of `issuer` for `audience` whose claims meet `claims` log
    in as a robot with `role` on the repository (or the workspace), for `lifetime` (owners,
    with an admin:package token)."""
    policy = await oidc_policies.create_policy(
        tx,
        principal,
        ctx.settings,
        workspace=workspace,
        repository=body.repository,
        issuer=body.issuer,
        audience=body.audience,
        claims=body.claims,
        role=body.role,
        lifetime=body.lifetime,
        now=ctx.now(),
    )
    path = f"/workspaces/{workspace}/oidc-policies/{policy.id}"
    response.headers["Location"] = location(request, path)
    return PolicyOut.of(policy)


@router.get(f"{_POLICIES}/{{policy_id}}")
async def get_oidc_policy(
    workspace: str, policy_id: str, tx: DbTx, principal: CurrentPrincipal
) -> PolicyOut:
    return PolicyOut.of(await oidc_policies.get_policy(tx, principal, workspace, policy_id))


@router.delete(
    f"{_POLICIES}/{{policy_id}}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_oidc_policy(
    workspace: str, policy_id: str, tx: DbTx, principal: CurrentPrincipal
) -> None:
    """Delete a trust policy: its tokens no longer log in. Registry tokens already issued
    from it live out their lifetime (at most an hour)."""
    await oidc_policies.delete_policy(tx, principal, workspace, policy_id)


class ExchangeIn(Body):
    token: str = Field(max_length=16384, description="The ID token your CI system issued.")
    scope: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Docker scopes (`repository:acme/web:pull,push`); none: every package"
        " the matching trust policies cover, with the actions of their roles.",
    )


class ExchangeOut(BaseModel):
    token: str = Field(description="A registry token: `Authorization: Bearer` on /v2.")
    access_token: str
    expires_in: int = Field(description="Seconds.")
    issued_at: str


@router.post("/oidc/exchange", tags=["oidc"])
async def exchange_oidc_token(
    body: ExchangeIn, response: Response, ctx: CurrentContext
) -> ExchangeOut:
    """Exchange an ID token for a short-lived registry token, as `/token` does for `docker
    login -u oidc`. No credentials besides the ID token; nothing long-lived is issued."""
    try:
        scopes = parse_resource_scopes(body.scope)
    except ScopeInvalid as exc:
        raise Invalid(str(exc)) from None
    names = {s.name.partition("/")[0] for s in scopes if s.type == "repository"}
    principal = await federation.login(
        ctx.db,
        ctx.federation,
        ctx.settings,
        body.token,
        workspaces=names or None,
        now=ctx.now(),
    )
    if not scopes:
        scopes = await bearer_tokens.granted_scopes(ctx, principal)
    issued = await bearer_tokens.issue(ctx, principal, scopes, offline=False)
    response.headers["Cache-Control"] = "no-store"
    return ExchangeOut.model_validate(issued.body())
