"""OpenID Connect trust policies (keyless CI): the records, unchecked.

A policy belongs to a workspace and says: ID tokens of this issuer, for this audience,
whose claims meet these conditions (`authz.claims`), may log in to the registry as a robot
with this role (read, write or admin) on one repository of the workspace, or on all of
them, for at most `lifetime` seconds (15 minutes by default, one hour at most). The role
caps what the robot does exactly as an access token's scopes cap it (`principals`): its
role on the packages of its repository (or workspace), public read elsewhere.

The checked use cases (`checked/oidc_policies.py`) let workspace owners manage them; the
CLI calls these directly.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from cargohold.authz.claims import validate_conditions
from cargohold.authz.errors import ClaimConditionInvalid, RoleUnknown
from cargohold.authz.roles import Role
from cargohold.config import Settings
from cargohold.metadata.db import Queries, Row
from cargohold.services.accounts import directory
from cargohold.services.accounts.openid import ProviderError, check_url
from cargohold.services.accounts.tokens import parse_duration
from cargohold.services.errors import Invalid, NotFound
from cargohold.services.events import outbox

DEFAULT_LIFETIME = 15 * 60
MAX_LIFETIME = 3600
MIN_LIFETIME = 60
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    workspace_id: int
    workspace: str
    repository_id: int | None  # None: every repository of the workspace
    repository: str | None  # the repository's slug
    issuer: str
    audience: str
    claims: dict[str, str]
    role: Role
    lifetime: int
    created_at: float
    created_by: str | None

    @property
    def target(self) -> str:
        """What it grants on: `WS/REPO`, or `WS` for the whole workspace."""
        return f"{self.workspace}/{self.repository}" if self.repository else self.workspace

    def describe(self) -> str:
        return f"policy {self.id} ({self.role.label} on {self.target})"


_SELECT = """
SELECT p.id, p.workspace_id, w.slug AS workspace, p.repository_id, r.slug AS repository,
  p.issuer, p.audience, p.claims, p.role, p.lifetime, p.created_at, p.created_by
FROM oidc_policies p
JOIN workspaces w ON w.id = p.workspace_id
LEFT JOIN repositories r ON r.id = p.repository_id
"""


def _policy(row: Row) -> Policy:
    return Policy(
        id=row["id"],
        workspace_id=int(row["workspace_id"]),
        workspace=row["workspace"],
        repository_id=row["repository_id"],
        repository=row["repository"],
        issuer=row["issuer"],
        audience=row["audience"],
        claims=json.loads(row["claims"]),
        role=Role(int(row["role"])),
        lifetime=int(row["lifetime"]),
        created_at=float(row["created_at"]),
        created_by=row["created_by"],
    )


def parse_lifetime(text: str | int | None) -> int:
    """A registry token lifetime: `15m` (the default), `1h`, `600s`, or seconds; 1 minute
    to 1 hour."""
    if text is None or text == "":
        return DEFAULT_LIFETIME
    seconds = text if isinstance(text, int) else int(parse_duration(text))
    if not MIN_LIFETIME <= seconds <= MAX_LIFETIME:
        raise Invalid("a trust policy's lifetime is 1 minute to 1 hour (e.g. 15m, 1h)")
    return seconds


def _role(role: str | Role) -> Role:
    try:
        parsed = role if isinstance(role, Role) else Role.parse(role)
    except RoleUnknown as exc:
        raise Invalid(str(exc)) from None
    if parsed == Role.NONE:
        raise Invalid("a trust policy grants read, write or admin")
    return parsed


def _text(value: str, what: str, *, limit: int = 500) -> str:
    value = value.strip()
    if not value or len(value) > limit or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid(f"the {what} needs 1 to {limit} printable characters")
    return value


def check_issuer(issuer: str, settings: Settings) -> str:
    """An issuer URL as trust policies take it: https (http only where
    `oidc_allow_http_issuers` is set), compared with tokens' `iss` exactly as written."""
    issuer = _text(issuer, "issuer")
    try:
        return check_url(issuer, settings, "issuer")
    except ProviderError as exc:
        raise Invalid(exc.message) from None


async def create_policy(
    db: Queries,
    settings: Settings,
    *,
    workspace: str,
    repository: str | None,
    issuer: str,
    audience: str,
    claims: Mapping[str, str],
    role: str | Role,
    lifetime: str | int | None,
    created_by: str | None,
    now: float,
) -> Policy:
    """Record a policy of `workspace` for one of its repositories (its slug) or, with None,
    for all of them."""
    issuer = check_issuer(issuer, settings)
    audience = _text(audience, "audience")
    try:
        conditions = validate_conditions(claims)
    except ClaimConditionInvalid as exc:
        raise Invalid(str(exc)) from None
    granted = _role(role)
    seconds = parse_lifetime(lifetime)
    workspace_id = await directory.find_workspace(db, workspace)
    repository_id = None
    if repository is not None:
        slug = repository.removeprefix(f"{workspace}/")
        repository_id = (await directory.find_repository(db, f"{workspace}/{slug}")).id
    policy_id = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    await db.execute(
        "INSERT INTO oidc_policies (id, workspace_id, repository_id, issuer, audience, claims,"
        " role, lifetime, created_at, created_by) VALUES (:id, :ws, :repo, :issuer, :aud,"
        " :claims, :role, :lifetime, :now, :by)",
        {
            "id": policy_id,
            "ws": workspace_id,
            "repo": repository_id,
            "issuer": issuer,
            "aud": audience,
            "claims": json.dumps(conditions, sort_keys=True),
            "role": int(granted),
            "lifetime": seconds,
            "now": now,
            "by": created_by[:320] if created_by else None,
        },
    )
    policy = await get_policy(db, policy_id)
    await outbox.record(
        db,
        "oidc_policy.created",
        workspace=policy.workspace,
        repository=policy.target if policy.repository else None,
        target=policy.describe(),
        data=_event_data(policy),
        at=now,
    )
    return policy


def _event_data(policy: Policy) -> dict[str, Any]:
    return {
        "policy": policy.id,
        "issuer": policy.issuer,
        "audience": policy.audience,
        "claims": policy.claims,
        "role": policy.role.label,
        "lifetime": policy.lifetime,
    }


async def get_policy(db: Queries, policy_id: str, *, workspace_id: int | None = None) -> Policy:
    """A policy by id (of this workspace, with `workspace_id`); NotFound otherwise."""
    row = await db.fetchone(f"{_SELECT} WHERE p.id = :id", {"id": policy_id[:16]})
    if row is None or (workspace_id is not None and int(row["workspace_id"]) != workspace_id):
        raise NotFound(f"no trust policy {policy_id[:20]!r}")
    return _policy(row)


async def list_policies(db: Queries, *, workspace_id: int) -> list[Policy]:
    rows = await db.fetchall(
        f"{_SELECT} WHERE p.workspace_id = :ws ORDER BY p.created_at, p.id", {"ws": workspace_id}
    )
    return [_policy(row) for row in rows]


async def delete_policy(db: Queries, policy_id: str, *, workspace_id: int | None = None) -> Policy:
    """Delete a policy (of this workspace, with `workspace_id`): its tokens no longer log in.
    Registry tokens already issued from it live out their lifetime."""
    policy = await get_policy(db, policy_id, workspace_id=workspace_id)
    await db.execute("DELETE FROM oidc_policies WHERE id = :id", {"id": policy.id})
    await outbox.record(
        db,
        "oidc_policy.deleted",
        workspace=policy.workspace,
        repository=policy.target if policy.repository else None,
        target=policy.describe(),
        data=_event_data(policy),
    )
    return policy


async def issuer_trusted(db: Queries, issuer: str) -> bool:
    """Whether any policy names this issuer (only then is anything fetched from it)."""
    row = await db.fetchone(
        "SELECT 1 AS found FROM oidc_policies WHERE issuer = :issuer LIMIT 1", {"issuer": issuer}
    )
    return row is not None


async def policies_for_issuer(
    db: Queries, issuer: str, *, workspaces: Collection[str] | None = None
) -> list[Policy]:
    """The policies naming this issuer, in the given workspaces (slugs) or in all."""
    rows = await db.fetchall(
        f"{_SELECT} WHERE p.issuer = :issuer ORDER BY p.created_at, p.id", {"issuer": issuer}
    )
    found = [_policy(row) for row in rows]
    if workspaces is not None:
        wanted = set(workspaces)
        found = [policy for policy in found if policy.workspace in wanted]
    return found


async def policies_by_id(db: Queries, ids: Collection[str]) -> list[Policy]:
    """The policies with these ids that still exist."""
    found = []
    for policy_id in list(ids)[:32]:
        try:
            found.append(await get_policy(db, policy_id))
        except NotFound:
            continue
    return found
