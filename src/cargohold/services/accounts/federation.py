"""Logging in with an OpenID Connect ID token: keyless CI (docs/access.md, docs/ci.md).

A pipeline sends the ID token its CI system gave it as the password of the user name
`oidc` (`docker login -u oidc --password-stdin`, Basic on `/token` and `/v2`), or to
`POST /api/v1/oidc/exchange`. The token is matched against the trust policies
(`oidc_policies`) of the workspaces it asks for (all workspaces when it names none, as
`docker login` does):

1. its algorithm and issuer are read without trusting them (`id_tokens.peek`); an issuer
   that no policy names is refused before anything is fetched;
2. its signature and times are checked against the issuer's published keys
   (`id_tokens.verify`);
3. each policy of the issuer in those workspaces accepts it when the token's audience
   holds the policy's audience and its claims meet the policy's conditions.

The pipeline becomes a robot (`Principal.federation`) holding each accepting policy's
role on its repository or workspace; the registry token it gets lives as long as the
shortest of their lifetimes. Nothing long-lived comes of it: no refresh token, no API
token, no session.

Every login of a genuine token (its signature verified) is recorded in the audit log as
`oidc.exchanged`, per policy that accepted it, or, refused, per workspace whose policies
refused it, with the pipeline's identity (repository, branch, run) from its claims.
Forged and malformed tokens are refused without a record, so that nobody can fill the
audit log without a token of a trusted issuer. A token used again (Basic credentials on
every `/v2` request) is checked each time and recorded once per process.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from cargohold.authz.claims import mismatch
from cargohold.config import Settings
from cargohold.metadata.db import Database
from cargohold.services.accounts import id_tokens, oidc_policies
from cargohold.services.accounts.id_tokens import IdTokenRefused, Verified
from cargohold.services.accounts.oidc_policies import Policy
from cargohold.services.accounts.openid import Providers
from cargohold.services.accounts.principals import FederatedGrant, Federation, Principal
from cargohold.services.errors import ServiceError
from cargohold.services.events import actors, outbox

log = logging.getLogger("cargohold.oidc")

USERNAME = "oidc"
ACTION = "oidc.exchanged"
_SEEN_MAX = 4096

# Where each CI system puts the pipeline's identity: GitHub Actions, GitLab, Bitbucket.
IDENTITY_CLAIMS: dict[str, tuple[str, ...]] = {
    "repository": ("repository", "project_path", "repositoryUuid"),
    "branch": ("ref", "branchName"),
    "run": ("run_id", "pipeline_id", "pipelineUuid"),
    "job": ("job_id", "stepUuid"),
    "environment": ("environment", "deploymentEnvironmentUuid"),
    "workflow": ("workflow_ref",),
}


class Refused(ServiceError):
    """The ID token does not log in; the message says why, for the pipeline's log."""

    status = 401


def is_oidc_login(username: str) -> bool:
    """Whether Basic credentials carry an ID token: the user name `oidc`."""
    return username.strip().lower() == USERNAME


@dataclass(slots=True)
class FederationState:
    """Per process: the OpenID providers, and the logins already recorded."""

    providers: Providers = field(default_factory=Providers)
    recorded: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def first_time(self, key: str) -> bool:
        if key in self.recorded:
            self.recorded.move_to_end(key)
            return False
        self.recorded[key] = None
        while len(self.recorded) > _SEEN_MAX:
            self.recorded.popitem(last=False)
        return True


def identity(claims: dict[str, Any]) -> dict[str, str]:
    """The pipeline's repository, branch, run, job, environment and workflow, as its CI
    system's claims name them."""
    found = {}
    for name, candidates in IDENTITY_CLAIMS.items():
        for claim in candidates:
            value = claims.get(claim)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                found[name] = str(value)[:200]
                break
    return found


def label(verified: Verified) -> str:
    """The pipeline for people to read: `REPOSITORY@BRANCH run RUN`, or the subject."""
    who = identity(verified.claims)
    if "repository" not in who:
        return verified.subject[:200]
    text = who["repository"]
    if "branch" in who:
        text += f"@{who['branch']}"
    if "run" in who:
        text += f" run {who['run']}"
    return text[:300]


def _why_not(policy: Policy, verified: Verified) -> str | None:
    if policy.audience not in verified.audiences:
        shown = ", ".join(repr(a[:100]) for a in verified.audiences[:5]) or "none"
        return f"the token's audience ({shown}) is not the one the policy expects"
    return mismatch(policy.claims, verified.claims)


@dataclass(frozen=True, slots=True)
class _Outcome:
    accepted: list[Policy]
    refused: dict[str, tuple[Policy, str]]  # policy id -> (policy, why)


def _match(policies: list[Policy], verified: Verified) -> _Outcome:
    accepted, refused = [], {}
    for policy in policies:
        why = _why_not(policy, verified)
        if why is None:
            accepted.append(policy)
        else:
            refused[policy.id] = (policy, why)
    return _Outcome(accepted, refused)


def _workspaces_text(workspaces: Collection[str] | None) -> str:
    if not workspaces:
        return ""
    names = ", ".join(repr(w[:64]) for w in sorted(workspaces)[:5])
    return f" of workspace {names}" if len(workspaces) == 1 else f" of workspaces {names}"


async def login(
    db: Database,
    state: FederationState,
    settings: Settings,
    token: str,
    *,
    workspaces: Collection[str] | None,
    now: float,
) -> Principal:
    """The robot an ID token logs in as, for the workspaces asked for (None: all); `Refused`
    with the reason otherwise. Call outside a transaction: it may fetch the issuer's keys,
    and it records the outcome in one of its own."""
    try:
        found = id_tokens.peek(token, settings)
    except IdTokenRefused as exc:
        raise Refused(exc.message) from None
    issuer = found.issuer
    shown_issuer = repr(issuer[:200])
    if not await oidc_policies.issuer_trusted(db, issuer):
        raise Refused(f"no trust policy accepts tokens of the issuer {shown_issuer}")
    candidates = await oidc_policies.policies_for_issuer(db, issuer, workspaces=workspaces)
    if not candidates:
        raise Refused(
            f"no trust policy{_workspaces_text(workspaces)} accepts tokens of the issuer"
            f" {shown_issuer}"
        )
    try:
        verified = await id_tokens.verify(found, state.providers, settings, now=now)
    except IdTokenRefused as exc:
        if exc.genuine:
            await _record_refused(db, state, found.token, candidates, found.claims, exc.message)
        else:
            log.info("refused an ID token of %s: %s", issuer[:200], exc.message)
        raise Refused(exc.message) from None
    outcome = _match(candidates, verified)
    if not outcome.accepted:
        reasons = "; ".join(f"policy {pid}: {why}" for pid, (_, why) in outcome.refused.items())
        message = f"no trust policy{_workspaces_text(workspaces)} accepts this token: {reasons}"
        await _record_refused(
            db,
            state,
            found.token,
            candidates,
            verified.claims,
            message,
            reasons={pid: why for pid, (_, why) in outcome.refused.items()},
        )
        raise Refused(message)
    federation = Federation(
        issuer=issuer,
        subject=verified.subject,
        label=label(verified),
        grants=tuple(
            FederatedGrant(p.id, p.workspace_id, p.repository_id, p.role) for p in outcome.accepted
        ),
        lifetime=min(p.lifetime for p in outcome.accepted),
    )
    await _record_accepted(db, state, found.token, outcome.accepted, verified)
    return Principal(federation=federation)


def _token_key(token: str, outcome: str, policies: Collection[Policy]) -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f"{digest}|{outcome}|{','.join(sorted(p.id for p in policies))}"


def _actor(name: str, actor_id: str | None) -> actors.Actor:
    """The pipeline as the actor of its event, from where the request came."""
    request = actors.current()
    return actors.Actor(
        kind=actors.TOKEN,
        id=actor_id,
        name=f"oidc: {name}"[:320],
        client_address=request.client_address,
        request_id=request.request_id,
    )


async def _record_accepted(
    db: Database, state: FederationState, token: str, accepted: list[Policy], verified: Verified
) -> None:
    if not state.first_time(_token_key(token, outbox.OK, accepted)):
        return
    who = identity(verified.claims)
    async with db.transaction() as tx:
        for policy in accepted:
            await outbox.record(
                tx,
                ACTION,
                workspace=policy.workspace,
                repository=policy.target if policy.repository else None,
                target=policy.describe(),
                data={
                    "policy": policy.id,
                    "issuer": verified.issuer,
                    "subject": verified.subject,
                    "role": policy.role.label,
                    "lifetime": policy.lifetime,
                    **who,
                },
                actor=_actor(label(verified), f"oidc:{policy.id}"),
            )


async def _record_refused(
    db: Database,
    state: FederationState,
    token: str,
    candidates: list[Policy],
    claims: dict[str, Any],
    message: str,
    *,
    reasons: dict[str, str] | None = None,
) -> None:
    if not state.first_time(_token_key(token, outbox.REFUSED, candidates)):
        return
    subject = claims.get("sub") if isinstance(claims.get("sub"), str) else None
    who = identity(claims)
    name = who.get("repository") or subject or "unknown pipeline"
    by_workspace: dict[str, list[Policy]] = {}
    for policy in candidates:
        by_workspace.setdefault(policy.workspace, []).append(policy)
    async with db.transaction() as tx:
        for workspace, policies in by_workspace.items():
            why = {p.id: (reasons or {}).get(p.id, message) for p in policies}
            await outbox.record(
                tx,
                ACTION,
                outcome=outbox.REFUSED,
                workspace=workspace,
                target="; ".join(f"policy {pid}: {text}" for pid, text in why.items())[:1000],
                data={
                    "policies": [p.id for p in policies],
                    "issuer": claims.get("iss"),
                    "subject": subject,
                    "reasons": why,
                    **who,
                },
                actor=_actor(str(name), None),
            )
