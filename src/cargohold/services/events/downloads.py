"""Download counts: pulls (manifest GETs) per package, tag and day.

A pull must not wait for a write, so each process counts in memory (`DownloadCounter`,
a dict increment) and `flush` adds the counts to the `downloads` table every few seconds
(`download_flush_interval`) and at shutdown, one upsert per package, tag and day, all in
one short transaction. Processes and nodes add to the same rows, so they never conflict;
a process that dies loses at most the counts it had not flushed yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import time

from cargohold.metadata.db import Database, in_list

DAY = 86400
BY_DIGEST = ""  # the tag of pulls by digest

# A package's pulls, and a tag's, as columns of queries over `packages p` (and `tags t`).
PACKAGE_DOWNLOADS = "(SELECT COALESCE(SUM(d.count), 0) FROM downloads d WHERE d.package_id = p.id)"
TAG_DOWNLOADS = (
    "(SELECT COALESCE(SUM(d.count), 0) FROM downloads d"
    " WHERE d.package_id = t.package_id AND d.tag = t.name)"
)

_UPSERT = (
    "INSERT INTO downloads (package_id, tag, day, count) VALUES (:p, :tag, :day, :n)"
    " ON CONFLICT (package_id, tag, day) DO UPDATE SET count = downloads.count + excluded.count"
)


def day_of(when: float) -> int:
    """Days since the epoch, in UTC."""
    return int(when // DAY)


@dataclass
class DownloadCounter:
    """This process's pulls that are not in the database yet."""

    counts: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def count(self, package: str, reference: str, now: float | None = None) -> None:
        """One pull of `package`, by `reference`: a tag, or a digest (whose colon no tag
        has). A dict increment on the pull's path: no I/O, nothing to wait for."""
        tag = BY_DIGEST if ":" in reference else reference
        key = (package, tag, int((time() if now is None else now) // DAY))
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1

    @property
    def pending(self) -> int:
        return sum(self.counts.values())

    def take(self) -> dict[tuple[str, str, int], int]:
        taken, self.counts = self.counts, {}
        return taken

    def put_back(self, taken: dict[tuple[str, str, int], int]) -> None:
        for key, n in taken.items():
            self.counts[key] = self.counts.get(key, 0) + n


async def flush(db: Database, counter: DownloadCounter) -> int:
    """Add the counted pulls to the table; how many. Pulls of packages that are gone since
    are dropped; when the database fails, the counts stay for the next flush."""
    taken = counter.take()
    if not taken:
        return 0
    try:
        names = sorted({package for package, _, _ in taken})
        ids: dict[str, int] = {}
        async with db.transaction() as tx:
            for start in range(0, len(names), 500):
                where, params = in_list("name", names[start : start + 500])
                rows = await tx.fetchall(f"SELECT id, name FROM packages WHERE {where}", params)
                ids.update({row["name"]: int(row["id"]) for row in rows})
            for (package, tag, day), n in sorted(taken.items()):
                if package in ids:
                    await tx.execute(_UPSERT, {"p": ids[package], "tag": tag, "day": day, "n": n})
    except BaseException:
        counter.put_back(taken)
        raise
    return sum(taken.values())
