"""Retention policies of packages: saved, previewed, and run (docs/retention.md).

The rules are decided in `retention_plan` (pure). Running a policy holds the package
against manifest pushes, plans from the graph it loads in the same transaction, then
deletes tag rows and manifest rows (the database cascades to references and tags);
the bytes go at the next garbage collection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cargohold.metadata.db import Queries, in_list
from cargohold.services.context import Context
from cargohold.services.errors import NotFound
from cargohold.services.events import outbox
from cargohold.services.lifecycle import reachability
from cargohold.services.lifecycle.reachability import PackageGraph
from cargohold.services.lifecycle.retention_plan import Plan, Policy, plan
from cargohold.services.registry import protection


@dataclass(frozen=True, slots=True)
class SavedPolicy:
    package: str
    policy: Policy
    updated_at: float
    updated_by: str | None


async def saved_policy(db: Queries, package_id: int, name: str) -> SavedPolicy | None:
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


def no_policy(name: str) -> NotFound:
    return NotFound(f"package {name} has no retention policy")


async def plan_for(
    tx: Queries, package_id: int, policy: Policy, now: float
) -> tuple[PackageGraph, Plan]:
    graph = await reachability.load_graph(tx, package_id)
    protected = await protection.patterns_of(tx, package_id)
    return graph, plan(graph, policy, protected=protected, now=now)


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


async def apply_saved_policy(
    tx: Queries, package_id: int, name: str, now: float, *, dry_run: bool
) -> Plan | None:
    """Plan the saved policy and (unless `dry_run`) delete, holding the package against
    pushes; None when the package or its policy is gone."""
    if not await reachability.lock_package(tx, package_id):
        return None
    saved = await saved_policy(tx, package_id, name)
    if saved is None:
        return None
    graph, planned = await plan_for(tx, package_id, saved.policy, now)
    if not dry_run:
        await _execute(tx, package_id, graph, planned)
        await _record(tx, name, planned)
    return planned


LISTED = 1000  # the most tags and manifests one event lists (it counts them all)


async def _record(tx: Queries, name: str, planned: Plan) -> None:
    """One `retention.deleted` event per package and run, listing what went."""
    if not planned.tags and not planned.manifests:
        return
    await outbox.record(
        tx,
        "retention.deleted",
        package=name,
        target=f"{name}: {len(planned.tags)} tags, {len(planned.manifests)} images",
        data={
            "tag_count": len(planned.tags),
            "manifest_count": len(planned.manifests),
            "tags": [{"name": t.name, "digest": t.digest} for t in planned.tags[:LISTED]],
            "manifests": [
                {"digest": m.digest, "reason": m.reason} for m in planned.manifests[:LISTED]
            ],
        },
        at=planned.now,
    )


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
            planned = await apply_saved_policy(tx, package_id, name, ctx.now(), dry_run=dry_run)
        if planned is None:
            continue
        report.packages += 1
        report.tags_deleted += len(planned.tags)
        report.manifests_deleted += len(planned.manifests)
        report.plans.append(PackagePlan(name, planned))
    return report
