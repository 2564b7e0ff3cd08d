"""Retention policies as package admins manage them: read, previewed, saved, removed and run now."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries
from cargohold.services.accounts.principals import Principal, require_package
from cargohold.services.errors import Conflict
from cargohold.services.events import outbox
from cargohold.services.events.actors import SYSTEM
from cargohold.services.lifecycle.retention import (
    SavedPolicy,
    apply_saved_policy,
    no_policy,
    plan_for,
    saved_policy,
)
from cargohold.services.lifecycle.retention_plan import Plan, Policy
from cargohold.services.registry import patterns
from cargohold.services.registry.packages import find_package


async def get_policy(db: Queries, principal: Principal, name: str) -> SavedPolicy:
    """The package's saved policy (read on the package); NotFound when it has none."""
    await require_package(db, principal, name, Role.READ)
    saved = await saved_policy(db, await find_package(db, name), name)
    if saved is None:
        raise no_policy(name)
    return saved


@dataclass(frozen=True, slots=True)
class PolicyState:
    saved: SavedPolicy
    last_run: float | None  # when the policy last ran since it was saved (None: not yet)
    by_hand: bool = False  # that run was an admin's "run now", not a garbage collection


async def policy_state(db: Queries, principal: Principal, name: str) -> PolicyState | None:
    """The package's saved policy (read on the package) and when it last ran since it was
    saved (None: not yet): the later of the end of the last garbage collection (each runs
    every policy first) and the last run by hand, read from the audit log. None when the
    package has no policy."""
    await require_package(db, principal, name, Role.READ)
    saved = await saved_policy(db, await find_package(db, name), name)
    if saved is None:
        return None
    row = await db.fetchone(
        "SELECT MAX(started_at) AS started, MAX(finished_at) AS at FROM gc_runs"
        " WHERE outcome = 'done' AND started_at >= :saved",
        {"saved": saved.updated_at},
    )
    collected, since = None, saved.updated_at
    if row is not None and row["at"] is not None:
        collected, since = float(row["at"]), max(since, float(row["started"]))
    # Only a run after the last collection's start can be later: the package's workspace's
    # events from the first one recorded since then (ix_events_workspace, newest first;
    # ix_events_at finds where to start), so the read is bounded by the last collection.
    event = await db.fetchone(
        "SELECT at, actor_kind FROM events WHERE workspace = :workspace"
        " AND id >= (SELECT id FROM events WHERE at >= :since ORDER BY at LIMIT 1)"
        " AND package = :package AND action IN ('retention.deleted', 'retention.applied')"
        " AND at >= :since ORDER BY id DESC LIMIT 1",
        {"workspace": outbox.workspace_of(name), "package": name, "since": since},
    )
    if event is not None and (collected is None or float(event["at"]) > collected):
        return PolicyState(saved, float(event["at"]), by_hand=event["actor_kind"] != SYSTEM)
    return PolicyState(saved, collected)


async def preview(
    db: Queries, principal: Principal, *, name: str, policy: Policy, now: float
) -> Plan:
    """What `policy` would delete from the package now, deleting nothing (admin)."""
    await require_package(db, principal, name, Role.ADMIN)
    _graph, planned = await plan_for(db, await find_package(db, name), policy, now)
    return planned


def _policy(saved: SavedPolicy | Policy | None) -> dict[str, Any] | None:
    if saved is None:
        return None
    policy = saved.policy if isinstance(saved, SavedPolicy) else saved
    return {**asdict(policy), "keep_pattern": list(policy.keep_pattern)}


async def _record(tx: Queries, name: str, before: SavedPolicy | None, after: Policy | None) -> None:
    """`settings.changed`: the package's retention policy, from what to what."""
    await outbox.record(
        tx,
        "settings.changed",
        package=name,
        target=f"retention policy of {name}" + ("" if after else ": removed"),
        data={"setting": "retention", "from": _policy(before), "to": _policy(after)},
    )


async def set_policy(
    tx: Queries,
    principal: Principal,
    *,
    name: str,
    policy: Policy,
    now: float,
    confirm_delete_all_tags: bool = False,
) -> tuple[SavedPolicy, Plan]:
    """Save the package's policy (admin), with what it would delete now. A policy that
    would delete every tag of a package that has tags needs `confirm_delete_all_tags`."""
    await require_package(tx, principal, name, Role.ADMIN)
    package_id = await find_package(tx, name)
    _graph, planned = await plan_for(tx, package_id, policy, now)
    if planned.deletes_every_tag and not confirm_delete_all_tags:
        raise Conflict(
            f"this policy would delete every tag of {name} ({len(planned.tags)} now);"
            " send confirm_delete_all_tags: true to save it anyway"
        )
    before = await saved_policy(tx, package_id, name)
    values = {
        "p": package_id,
        "n": policy.keep_newest,
        "k": patterns.join_patterns(policy.keep_pattern) or None,
        "u": policy.untagged_days,
        "t": policy.tag_days,
        "now": now,
        "by": principal.display,
    }
    await tx.execute(
        "INSERT INTO retention_policies (package_id, keep_newest, keep_pattern, untagged_days,"
        " tag_days, updated_at, updated_by) VALUES (:p, :n, :k, :u, :t, :now, :by)"
        " ON CONFLICT (package_id) DO UPDATE SET keep_newest = excluded.keep_newest,"
        " keep_pattern = excluded.keep_pattern, untagged_days = excluded.untagged_days,"
        " tag_days = excluded.tag_days, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        values,
    )
    if before is None or before.policy != policy:
        await _record(tx, name, before, policy)
    return SavedPolicy(name, policy, now, principal.display), planned


async def remove_policy(tx: Queries, principal: Principal, name: str) -> None:
    await require_package(tx, principal, name, Role.ADMIN)
    package_id = await find_package(tx, name)
    before = await saved_policy(tx, package_id, name)
    removed = await tx.execute(
        "DELETE FROM retention_policies WHERE package_id = :p", {"p": package_id}
    )
    if not removed:
        raise no_policy(name)
    await _record(tx, name, before, None)


async def run_policy(tx: Queries, principal: Principal, *, name: str, now: float) -> Plan:
    """Apply the package's saved policy now (admin); what it deleted."""
    await require_package(tx, principal, name, Role.ADMIN)
    planned = await apply_saved_policy(tx, await find_package(tx, name), name, now, dry_run=False)
    if planned is None:
        raise no_policy(name)
    if not planned.tags and not planned.manifests:
        # what it deleted is a `retention.deleted` event; a run that found nothing is
        # recorded too, so that the package's page can say when its policy last ran
        await outbox.record(
            tx,
            "retention.applied",
            package=name,
            target=f"{name}: nothing to delete",
            data={"tag_count": 0, "manifest_count": 0},
            at=planned.now,
        )
    return planned
