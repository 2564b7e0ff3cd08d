"""Retention policies of packages: saved, previewed, and run (docs/retention.md).

The rules are decided in `retention_plan` (pure). Running a policy holds the package
against manifest pushes, plans from the graph it loads in the same transaction, then
deletes tag rows and manifest rows (the database cascades to references and tags);
the bytes go at the next garbage collection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries, in_list
from cargohold.services import patterns, protection, reachability
from cargohold.services.access import Principal, require_package
from cargohold.services.context import Context
from cargohold.services.errors import Conflict, NotFound
from cargohold.services.packages import find_package
from cargohold.services.reachability import PackageGraph
from cargohold.services.retention_plan import Plan, Policy, plan


@dataclass(frozen=True, slots=True)
class SavedPolicy:
    package: str
    policy: Policy
    updated_at: float
    updated_by: str | None


async def _saved(db: Queries, package_id: int, name: str) -> SavedPolicy | None:
    row = await db.fetchone(
        "SELECT keep_newest, keep_pattern, untagged_days, tag_days, updated_at, updated_by"
        " FROM retention_policies WHERE package_id = :p",
        {"p": package_id},
    )
    if row is None:
        return None
    policy = Policy(
        keep_newest=row["keep_newest"],
        keep_pattern=tuple(p for p in (row["keep_pattern"] or "").split(",") if p),
        untagged_days=row["untagged_days"],
        tag_days=row["tag_days"],
    )
    return SavedPolicy(name, policy, float(row["updated_at"]), row["updated_by"])


def _no_policy(name: str) -> NotFound:
    return NotFound(f"package {name} has no retention policy")


async def get_policy(db: Queries, principal: Principal, name: str) -> SavedPolicy:
    """The package's saved policy (read on the package); NotFound when it has none."""
    await require_package(db, principal, name, Role.READ)
    saved = await _saved(db, await find_package(db, name), name)
    if saved is None:
        raise _no_policy(name)
    return saved


async def _plan_for(
    tx: Queries, package_id: int, policy: Policy, now: float
) -> tuple[PackageGraph, Plan]:
    graph = await reachability.load_graph(tx, package_id)
    protected = await protection.patterns_of(tx, package_id)
    return graph, plan(graph, policy, protected=protected, now=now)


async def preview(
    db: Queries, principal: Principal, *, name: str, policy: Policy, now: float
) -> Plan:
    """What `policy` would delete from the package now, deleting nothing (admin)."""
    await require_package(db, principal, name, Role.ADMIN)
    _graph, planned = await _plan_for(db, await find_package(db, name), policy, now)
    return planned


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
    _graph, planned = await _plan_for(tx, package_id, policy, now)
    if planned.deletes_every_tag and not confirm_delete_all_tags:
        raise Conflict(
            f"this policy would delete every tag of {name} ({len(planned.tags)} now);"
            " send confirm_delete_all_tags: true to save it anyway"
        )
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
    return SavedPolicy(name, policy, now, principal.display), planned


async def remove_policy(tx: Queries, principal: Principal, name: str) -> None:
    await require_package(tx, principal, name, Role.ADMIN)
    removed = await tx.execute(
        "DELETE FROM retention_policies WHERE package_id = :p",
        {"p": await find_package(tx, name)},
    )
    if not removed:
        raise _no_policy(name)


async def _execute(tx: Queries, package_id: int, graph: PackageGraph, planned: Plan) -> None:
    await _delete_in(tx, "tags", "name", package_id, [tag.name for tag in planned.tags])
    ids = [graph.manifests[m.digest].id for m in planned.manifests]
    await _delete_in(tx, "manifests", "id", package_id, ids)  # cascades to tags, references


async def _delete_in(
    tx: Queries, table: str, column: str, package_id: int, values: Sequence[object]
) -> None:
    for start in range(0, len(values), 500):
        where, params = in_list(column, values[start : start + 500])
        await tx.execute(
            f"DELETE FROM {table} WHERE package_id = :p AND {where}", {**params, "p": package_id}
        )


async def _apply(
    tx: Queries, package_id: int, name: str, now: float, *, dry_run: bool
) -> Plan | None:
    """Plan the saved policy and (unless `dry_run`) delete, holding the package against
    pushes; None when the package or its policy is gone."""
    if not await reachability.lock_package(tx, package_id):
        return None
    saved = await _saved(tx, package_id, name)
    if saved is None:
        return None
    graph, planned = await _plan_for(tx, package_id, saved.policy, now)
    if not dry_run:
        await _execute(tx, package_id, graph, planned)
    return planned


async def run_policy(tx: Queries, principal: Principal, *, name: str, now: float) -> Plan:
    """Apply the package's saved policy now (admin); what it deleted."""
    await require_package(tx, principal, name, Role.ADMIN)
    planned = await _apply(tx, await find_package(tx, name), name, now, dry_run=False)
    if planned is None:
        raise _no_policy(name)
    return planned


@dataclass(frozen=True, slots=True)
class PackagePlan:
    package: str
    plan: Plan


@dataclass
class RetentionReport:
    packages: int = 0
    tags_deleted: int = 0
    manifests_deleted: int = 0
    plans: list[PackagePlan] = field(default_factory=list)


async def apply_policies(ctx: Context, *, dry_run: bool) -> RetentionReport:
    """Run every saved policy, each package in a transaction of its own (garbage
    collection calls this before it sweeps). With `dry_run`, count without deleting."""
    rows = await ctx.db.fetchall(
        "SELECT p.id, p.name FROM retention_policies r JOIN packages p ON p.id = r.package_id"
        " ORDER BY p.name"
    )
    report = RetentionReport()
    for row in rows:
        package_id, name = int(row["id"]), str(row["name"])
        async with ctx.db.transaction() as tx:
            planned = await _apply(tx, package_id, name, ctx.now(), dry_run=dry_run)
        if planned is None:
            continue
        report.packages += 1
        report.tags_deleted += len(planned.tags)
        report.manifests_deleted += len(planned.manifests)
        report.plans.append(PackagePlan(name, planned))
    return report
