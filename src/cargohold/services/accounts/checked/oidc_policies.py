"""OpenID Connect trust policies, as workspace owners manage them.

Only owners of a workspace (and site admins) see and change its policies, with a
personal token that has the admin:package scope, as for access tokens: a policy lets
pipelines log in as a robot, so making one is making an access token. Anyone else is
told the workspace does not exist (members) or may not (others get NotFound too).
"""

from __future__ import annotations

from collections.abc import Mapping

from cargohold.config import Settings
from cargohold.metadata.db import Queries
from cargohold.services.accounts import oidc_policies
from cargohold.services.accounts.oidc_policies import Policy
from cargohold.services.accounts.principals import Principal, require_workspace


async def list_policies(db: Queries, principal: Principal, workspace: str) -> list[Policy]:
    found = await require_workspace(db, principal, workspace, owner=True)
    return await oidc_policies.list_policies(db, workspace_id=found.workspace_id)


async def get_policy(db: Queries, principal: Principal, workspace: str, policy_id: str) -> Policy:
    found = await require_workspace(db, principal, workspace, owner=True)
    return await oidc_policies.get_policy(db, policy_id, workspace_id=found.workspace_id)


async def create_policy(
    db: Queries,
    principal: Principal,
    settings: Settings,
    *,
    workspace: str,
    repository: str | None,
    issuer: str,
    audience: str,
    claims: Mapping[str, str],
    role: str,
    lifetime: str | int | None,
    now: float,
) -> Policy:
    """A trust policy of `workspace` for one repository (its slug), or for all of them
    (`repository` None)."""
    await require_workspace(db, principal, workspace, owner=True, change=True)
    return await oidc_policies.create_policy(
        db,
        settings,
        workspace=workspace,
        repository=repository,
        issuer=issuer,
        audience=audience,
        claims=claims,
        role=role,
        lifetime=lifetime,
        created_by=principal.display,
        now=now,
    )


async def delete_policy(
    db: Queries, principal: Principal, workspace: str, policy_id: str
) -> Policy:
    found = await require_workspace(db, principal, workspace, owner=True, change=True)
    return await oidc_policies.delete_policy(db, policy_id, workspace_id=found.workspace_id)
