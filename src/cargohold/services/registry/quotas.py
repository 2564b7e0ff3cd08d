"""Workspace quotas on the push path, and the size units they are written in.

A quota (`workspaces.quota_bytes`) caps what blob uploads and mounts may add to a
workspace; manifests are not checked. The check reads the workspace's row first
and pays for the usage query only when the workspace has a quota. A package's workspace is the
first component of its name, so a workspace's packages are the names in the range
[`slug/`, `slug0`) (`0` follows `/`), which the unique index on names reads directly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from cargohold.metadata.db import Params, Queries
from cargohold.oci.errors import Denied
from cargohold.services.errors import Invalid, NotFound
from cargohold.services.events import outbox

# Sizes: a number with an optional unit; kB, MB, GB, TB are powers of 1000 (K, M, G,
# T too), KiB, MiB, GiB, TiB powers of 1024 (Ki, Mi, Gi, Ti too); case does not matter.
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


_FACTORS = {"": 1, "b": 1}


for _power, _letter in enumerate("kmgtp", start=1):
    _FACTORS[_letter] = _FACTORS[f"{_letter}b"] = 1000**_power
    _FACTORS[f"{_letter}i"] = _FACTORS[f"{_letter}ib"] = 1024**_power


MAX_QUOTA = 2**63 - 1


_BINARY = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def parse_size(text: str) -> int | None:
    """Bytes from `10GiB`, `500 MB`, `1.5TiB` or `4096`; None for `none` (no quota)."""
    cleaned = text.strip().lower()
    if cleaned == "none":
        return None
    match = _SIZE.fullmatch(cleaned)
    if match is None or match[2] not in _FACTORS:
        raise Invalid(
            f"{text[:40]!r} is not a size: write a number with a unit such as 500MB or"
            " 10GiB (kB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024), or none"
        )
    try:
        size = int(Decimal(match[1]) * _FACTORS[match[2]])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise Invalid(f"{text[:40]!r} is not a size") from None
    if size > MAX_QUOTA:
        raise Invalid(f"{text[:40]!r} is larger than any store")
    return size


def format_bytes(size: int) -> str:
    """A size in binary units for messages: `512 B`, `300.0 MiB`, `10.2 GiB`."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _BINARY:
        value /= 1024
        if value < 1024 or unit == _BINARY[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def percent(used: int, quota: int) -> float:
    """How much of a quota is used, in percent (a zero quota is full)."""
    return 100.0 if quota <= 0 else round(used * 100 / quota, 1)


def workspace_of(name: str) -> str | None:
    """The workspace a package belongs to: the first component of a `WORKSPACE/NAME`."""
    slug, sep, _ = name.partition("/")
    return slug if sep else None


def workspace_range(slug: str) -> dict[str, str]:
    return {"lo": f"{slug}/", "hi": f"{slug}0"}


IN_WORKSPACE = "SELECT id FROM packages WHERE name >= :lo AND name < :hi"


# The usage of the packages `{packages}` selects, and what their own figures add up to
# (`linked_bytes`: a blob counted once per package that links it).
_TOTALS = """
SELECT
  COALESCE((SELECT SUM(ub.size) FROM blobs ub WHERE ub.digest IN (
    SELECT upb.digest FROM package_blobs upb WHERE upb.package_id IN ({packages}))), 0)
    AS blob_bytes,
  COALESCE((SELECT SUM(um.size) FROM manifests um WHERE um.package_id IN ({packages})), 0)
    AS manifest_bytes
"""


# The usage of package `p`, for lists (each blob it links once, and its manifests).
PACKAGE_BYTES = """(
  COALESCE((SELECT SUM(ub.size) FROM package_blobs upb JOIN blobs ub ON ub.digest = upb.digest
    WHERE upb.package_id = p.id), 0)
  + COALESCE((SELECT SUM(um.size) FROM manifests um WHERE um.package_id = p.id), 0)
)"""


_LINKED_IN_WORKSPACE = """
SELECT 1 FROM packages p JOIN package_blobs pb ON pb.package_id = p.id
WHERE p.name >= :lo AND p.name < :hi AND pb.digest = :digest LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Totals:
    blob_bytes: int
    manifest_bytes: int

    @property
    def bytes(self) -> int:
        return self.blob_bytes + self.manifest_bytes


async def totals_of(db: Queries, packages: str, params: Params) -> Totals:
    row = await db.fetchone(_TOTALS.format(packages=packages), params)
    assert row is not None
    return Totals(int(row["blob_bytes"]), int(row["manifest_bytes"]))


async def workspace_bytes(db: Queries, slug: str) -> int:
    """What a workspace's packages take: each distinct blob once, and every manifest."""
    return (await totals_of(db, IN_WORKSPACE, workspace_range(slug))).bytes


def _advice() -> str:
    return (
        "delete images (space returns after garbage collection) or ask an admin to raise the quota"
    )


async def quota_of(db: Queries, slug: str) -> int | None:
    row = await db.fetchone("SELECT quota_bytes FROM workspaces WHERE slug = :s", {"s": slug})
    return None if row is None or row["quota_bytes"] is None else int(row["quota_bytes"])


async def check_room(db: Queries, *, name: str) -> None:
    """Refuse to start an upload into a workspace that is at or over its quota."""
    slug = workspace_of(name)
    quota = None if slug is None else await quota_of(db, slug)
    if slug is None or quota is None:
        return
    used = await workspace_bytes(db, slug)
    if used >= quota:
        raise Denied(
            f"workspace {slug} is at its storage quota: {format_bytes(used)} of"
            f" {format_bytes(quota)} used; {_advice()}",
            detail={"workspace": slug, "used": used, "quota": quota},
        )


async def check_quota(db: Queries, *, name: str, digest: str, size: int) -> None:
    """Refuse a blob that would take package `name`'s workspace over its quota. A blob
    some package of the workspace already links adds nothing, and is always accepted."""
    slug = workspace_of(name)
    quota = None if slug is None else await quota_of(db, slug)
    if slug is None or quota is None:
        return
    if await db.fetchone(_LINKED_IN_WORKSPACE, {**workspace_range(slug), "digest": digest}):
        return
    used = await workspace_bytes(db, slug)
    if used + size > quota:
        raise Denied(
            f"workspace {slug} would exceed its storage quota: this {format_bytes(size)}"
            f" layer would bring it to {format_bytes(used + size)} of {format_bytes(quota)};"
            f" {_advice()}",
            detail={"workspace": slug, "used": used, "size": size, "quota": quota},
        )


async def hold_quota(tx: Queries, *, name: str, digest: str, size: int) -> None:
    """In the transaction that links a blob: when the workspace has a quota, lock its row
    and check again, so pushes finishing at the same moment cannot pass it together (they
    queue on the row; workspaces without a quota pay one read and no lock)."""
    slug = workspace_of(name)
    if slug is None or await quota_of(tx, slug) is None:
        return
    await tx.fetchone(f"SELECT id FROM workspaces WHERE slug = :s{tx.for_update}", {"s": slug})
    await check_quota(tx, name=name, digest=digest, size=size)


async def set_quota(db: Queries, *, workspace: str, quota_bytes: int | None) -> Quota:
    """Set (None: remove) a workspace's quota; returns its usage against it."""
    if quota_bytes is not None and not 0 <= quota_bytes <= MAX_QUOTA:
        raise Invalid(f"a quota is 0 to {MAX_QUOTA} bytes")
    before = await quota_of(db, workspace)
    changed = await db.execute(
        "UPDATE workspaces SET quota_bytes = :q WHERE slug = :s",
        {"q": quota_bytes, "s": workspace},
    )
    if not changed:
        raise NotFound(f"no workspace {workspace[:80]!r}")
    if before != quota_bytes:
        shown = "none" if quota_bytes is None else format_bytes(quota_bytes)
        await outbox.record(
            db,
            "settings.changed",
            workspace=workspace,
            target=f"storage quota of {workspace}: {shown}",
            data={"setting": "quota_bytes", "from": before, "to": quota_bytes},
        )
    return Quota(await workspace_bytes(db, workspace), quota_bytes)


@dataclass(frozen=True, slots=True)
class Quota:
    bytes: int
    quota_bytes: int | None

    @property
    def percent(self) -> float | None:
        return None if self.quota_bytes is None else percent(self.bytes, self.quota_bytes)
