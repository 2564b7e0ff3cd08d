"""What the web UI reads: package lists with search, sort and keyset paging, a package's
storage and manifests, one manifest in detail; and deleting an image version.

Every use case checks the principal first, exactly like the management API: a package
the principal may not pull is NotFound, and never appears in a list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from cargohold.authz.roles import Role
from cargohold.metadata.db import Queries, Row, in_list
from cargohold.oci import mediatypes as mt
from cargohold.oci.digest import is_digest
from cargohold.oci.errors import ManifestInvalid
from cargohold.oci.image_config import FIELDS, ImageConfig, read_image_config
from cargohold.oci.manifest import Descriptor, Manifest, Platform, parse_manifest
from cargohold.services.accounts.principals import (
    CAN_READ,
    Principal,
    reader_params,
    require_package,
)
from cargohold.services.errors import Invalid, NotFound
from cargohold.services.events.downloads import TAG_DOWNLOADS
from cargohold.services.registry.checked.packages import scope_conditions
from cargohold.services.registry.manifests import HoldingIndex, holding_indexes
from cargohold.services.registry.quotas import PACKAGE_BYTES
from cargohold.storage.base import Backend, ObjectNotFound
from cargohold.storage.paths import blob_key

SORTS = ("name", "pushed", "size")


MAX_CONFIG = 1024 * 1024  # an image config bigger than this is not shown


# Storage of a package: each blob it links, once, plus its manifests; what the workspace's
# quota counts (services/usage.py).
_SIZE = PACKAGE_BYTES


_PUSHED = """COALESCE((SELECT MAX(x.at) FROM (
  SELECT t.updated_at AS at FROM tags t WHERE t.package_id = p.id
  UNION ALL SELECT m4.created_at AS at FROM manifests m4 WHERE m4.package_id = p.id) x), 0)"""


_LIST = f"""
SELECT * FROM (
  SELECT p.name, r.slug AS repository, pr.key AS project, w.slug AS workspace,
    {_PUSHED} AS pushed, {_SIZE} AS size
  FROM packages p
  JOIN package_links pl ON pl.package_id = p.id
  JOIN repositories r ON r.id = pl.repository_id
  JOIN workspaces w ON w.id = r.workspace_id
  JOIN projects pr ON pr.id = r.project_id
  WHERE {{where}}
) q
"""


# Keyset paging for each sort: the cursor is the last row's sort value and name.
_ORDER = {
    "name": ("q.name > :after_name", "q.name"),
    "pushed": (
        "(q.pushed < :after_value OR (q.pushed = :after_value AND q.name > :after_name))",
        "q.pushed DESC, q.name",
    ),
    "size": (
        "(q.size < :after_value OR (q.size = :after_value AND q.name > :after_name))",
        "q.size DESC, q.name",
    ),
}


@dataclass(frozen=True, slots=True)
class PackageRow:
    name: str
    workspace: str
    repository: str  # WORKSPACE/REPO
    project: str
    pushed_at: float | None
    size: int


@dataclass(frozen=True, slots=True)
class PackagePage:
    items: list[PackageRow]
    next_cursor: str | None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cursor(row: PackageRow, sort: str) -> str:
    value = {"name": 0, "pushed": row.pushed_at or 0, "size": row.size}[sort]
    return json.dumps([value, row.name])


def _parse_cursor(text: str | None) -> tuple[float, str] | None:
    if not text:
        return None
    try:
        value, name = json.loads(text)
        return float(value), str(name)
    except (ValueError, TypeError):
        raise Invalid("that page no longer exists; start from the first page") from None


async def list_packages(
    db: Queries,
    principal: Principal,
    *,
    workspace: str,
    project: str | None = None,
    repository: str | None = None,
    search: str = "",
    sort: str = "name",
    limit: int = 50,
    cursor: str | None = None,
) -> PackagePage:
    """One page of the packages the principal may pull in a workspace (or one of its
    projects or repositories), filtered by a name substring and sorted by name, last
    push (newest first) or size (largest first). Only one page of rows is read."""
    if sort not in SORTS:
        raise Invalid(f"sort by one of {', '.join(SORTS)}")
    where, params, member = await scope_conditions(db, principal, workspace, project, repository)
    where.append(CAN_READ)
    params.update(reader_params(principal))
    if search.strip():
        where.append("p.name LIKE :pattern ESCAPE '\\'")
        params["pattern"] = f"%{_escape_like(search.strip().lower()[:200])}%"
    after = _parse_cursor(cursor)
    keyset, order = _ORDER[sort]
    sql = _LIST.format(where=" AND ".join(where))
    page_sql = sql
    if after is not None:
        page_sql += f" WHERE {keyset}"
        params.update(after_value=after[0], after_name=after[1])
    rows = await db.fetchall(f"{page_sql} ORDER BY {order} LIMIT :n", {**params, "n": limit + 1})
    if not rows and not member and not await db.fetchall(f"{sql} LIMIT 1", params):
        raise NotFound(f"no workspace {workspace[:80]!r}")
    items = [
        PackageRow(
            name=row["name"],
            workspace=row["workspace"],
            repository=f"{row['workspace']}/{row['repository']}",
            project=row["project"],
            pushed_at=row["pushed"] or None,
            size=int(row["size"] or 0),
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return PackagePage(items, _cursor(items[-1], sort) if more and items else None)


@dataclass(frozen=True, slots=True)
class ManifestRow:
    digest: str
    media_type: str
    size: int
    created_at: float
    tags: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    artifact_type: str | None = None
    readable: bool = True  # False: an index whose stored bytes the model refuses
    config: Descriptor | None = None  # an image's JSON config, to read its platform from


@dataclass(frozen=True, slots=True)
class TagRow:
    name: str
    updated_at: float
    manifest: ManifestRow
    pushed_by: str | None = None
    downloads: int = 0  # pulls by this tag, all time


def _parsed(media_type: str, payload: bytes) -> Manifest | None:
    """A stored manifest as the model reads it. The registry stored only what this model
    accepted; should it refuse one all the same, the page shows what the row says."""
    try:
        return parse_manifest(payload, media_type)
    except ManifestInvalid:
        return None


def _manifest(row: Row, size: int | None = None) -> ManifestRow:
    """A manifest row as lists show it; an index with the platforms of its children."""
    is_index = row["media_type"] in mt.INDEXES
    parsed = _parsed(row["media_type"], bytes(row["payload"]))
    index = parsed if is_index else None
    config = parsed.config if parsed and not is_index else None
    return ManifestRow(
        digest=row["digest"],
        media_type=row["media_type"],
        size=int(row["size"]) if size is None else size,
        created_at=row["created_at"],
        platforms=[str(platform) for platform in index.platforms] if index else [],
        artifact_type=row["artifact_type"],
        readable=index is not None or not is_index,
        config=config if config and _readable_config(config) else None,
    )


def _readable_config(config: Descriptor) -> bool:
    return config.size <= MAX_CONFIG and config.media_type.endswith("json")


async def _linked_configs(db: Queries, name: str, rows: list[ManifestRow]) -> list[ManifestRow]:
    """The rows, keeping the config of an image only when the package links it: the store
    holds every package's blobs, and a manifest may name any digest."""
    digests = sorted({str(row.config.digest) for row in rows if row.config})
    if not digests:
        return rows
    chosen, params = in_list("pb.digest", digests, "config")
    linked = {
        found["digest"]
        for found in await db.fetchall(
            "SELECT pb.digest FROM packages p JOIN package_blobs pb ON pb.package_id = p.id"
            f" WHERE p.name = :name AND {chosen}",
            {"name": name, **params},
        )
    }
    return [
        row if row.config is None or str(row.config.digest) in linked else replace(row, config=None)
        for row in rows
    ]


async def _read_json(storage: Backend, config: Descriptor) -> dict[str, Any] | None:
    chunks: list[bytes] = []
    try:
        async for chunk in storage.read(blob_key(config.digest)):
            chunks.append(chunk)
        parsed = json.loads(b"".join(chunks))
    except (ObjectNotFound, ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


async def read_platforms(storage: Backend, details: PackageDetails) -> PackageDetails:
    """The package's rows with the platform of each single-platform image, read from its
    image config's os/architecture/variant (call it outside the transaction; only configs
    the package links, see `package_details`). A config that cannot be read leaves none."""
    configs: dict[str, str] = {}
    for row in [tag.manifest for tag in details.tags] + details.untagged:
        if row.config is not None and str(row.config.digest) not in configs:
            document = await _read_json(storage, row.config)
            image = read_image_config(document) if document is not None else None
            configs[str(row.config.digest)] = (
                str(Platform(image.os, image.architecture, image.variant)) if image else ""
            )

    def shown(row: ManifestRow) -> ManifestRow:
        platform = configs.get(str(row.config.digest), "") if row.config else ""
        return replace(row, platforms=[platform]) if platform and not row.platforms else row

    return replace(
        details,
        tags=[replace(tag, manifest=shown(tag.manifest)) for tag in details.tags],
        untagged=[shown(row) for row in details.untagged],
    )


# The size of an image: its manifest, config and layers; of an index, its children's too.
# Only blobs the package links count: a foreign layer may name any digest, and the size of
# another package's blob must not show.
_IMAGE_SIZE = """(m.size + COALESCE((SELECT SUM(b.size) FROM package_blobs pb
  JOIN blobs b ON b.digest = pb.digest WHERE pb.package_id = m.package_id AND pb.digest IN (
  SELECT mr.digest FROM manifest_references mr WHERE mr.manifest_id = m.id AND mr.kind = 'blob'
  UNION SELECT cr.digest FROM manifest_references ch
    JOIN manifests c ON c.package_id = m.package_id AND c.digest = ch.digest
    JOIN manifest_references cr ON cr.manifest_id = c.id AND cr.kind = 'blob'
    WHERE ch.manifest_id = m.id AND ch.kind = 'manifest')), 0)
  + COALESCE((SELECT SUM(c2.size) FROM manifest_references ch2
    JOIN manifests c2 ON c2.package_id = m.package_id AND c2.digest = ch2.digest
    WHERE ch2.manifest_id = m.id AND ch2.kind = 'manifest'), 0))"""


@dataclass(frozen=True, slots=True)
class PackageDetails:
    tags: list[TagRow]
    next_tag: str | None  # the cursor of the next page
    untagged: list[ManifestRow]
    storage: int
    role: Role
    pull_tag: str | None = None  # `latest` if it exists, else the last pushed; None: no tags


TAG_SORTS = ("pushed", "name")


def natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """A tag name's place in natural order: runs of digits compare as numbers, so
    build-2 comes before build-10."""
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", name)
        if part
    )


async def _tag_page(
    db: Queries, name: str, search: str, sort: str, after: str | None, limit: int
) -> tuple[list[str], str | None]:
    """The names of one page of a package's tags, filtered by a name substring, and the
    cursor of the next page. By last push (newest first, then by name) it reads one page
    of rows, keyset after the cursor `[updated_at, name]`; by name in natural order it
    reads the names of the matching tags (no manifests) and pages after the cursor name."""
    if sort not in TAG_SORTS:
        raise Invalid(f"sort by one of {', '.join(TAG_SORTS)}")
    where = ["p.name = :name"]
    params: dict[str, object] = {"name": name}
    if search.strip():
        where.append("t.name LIKE :pattern ESCAPE '\\'")
        params["pattern"] = f"%{_escape_like(search.strip()[:200])}%"
    base = "SELECT t.name, t.updated_at FROM packages p JOIN tags t ON t.package_id = p.id"
    if sort == "name":
        rows = await db.fetchall(f"{base} WHERE {' AND '.join(where)}", params)
        names = sorted((row["name"] for row in rows), key=natural_key)
        if after:
            names = [n for n in names if natural_key(n) > natural_key(after)]
        return names[:limit], names[limit - 1] if len(names) > limit else None
    cursor = _parse_cursor(after)
    if cursor is not None:
        where.append(
            "(t.updated_at < :after_value"
            " OR (t.updated_at = :after_value AND t.name > :after_name))"
        )
        params.update(after_value=cursor[0], after_name=cursor[1])
    rows = await db.fetchall(
        f"{base} WHERE {' AND '.join(where)} ORDER BY t.updated_at DESC, t.name LIMIT :n",
        {**params, "n": limit + 1},
    )
    page = rows[:limit]
    more = len(rows) > limit and page
    return [row["name"] for row in page], (
        json.dumps([page[-1]["updated_at"], page[-1]["name"]]) if more else None
    )


async def _pull_tag(db: Queries, name: str) -> str | None:
    """The tag a pull command names: `latest` if the package has it, else the tag pushed
    last; None for a package without tags."""
    row = await db.fetchone(
        "SELECT t.name FROM packages p JOIN tags t ON t.package_id = p.id"
        " WHERE p.name = :name ORDER BY CASE WHEN t.name = 'latest' THEN 0 ELSE 1 END,"
        " t.updated_at DESC, t.name LIMIT 1",
        {"name": name},
    )
    return str(row["name"]) if row else None


async def package_details(
    db: Queries,
    principal: Principal,
    name: str,
    *,
    limit: int = 50,
    after: str | None = None,
    search: str = "",
    sort: str = "pushed",
) -> PackageDetails:
    """One page of tags (see `_tag_page`) with their manifests, the tag a pull command
    should name, the untagged image versions (not a child of an index, not a referrer),
    and the storage the package takes, each blob counted once."""
    role = await require_package(db, principal, name, Role.READ)
    names, next_tag = await _tag_page(db, name, search, sort, after, limit)
    chosen, chosen_params = in_list("t.name", names or [""], "tag")
    rows = await db.fetchall(
        "SELECT t.name AS tag, t.updated_at, t.pushed_by, m.digest, m.media_type, m.payload,"
        f" m.created_at, {TAG_DOWNLOADS} AS downloads,"
        f" m.artifact_type, {_IMAGE_SIZE} AS size FROM packages p"
        " JOIN tags t ON t.package_id = p.id JOIN manifests m ON m.id = t.manifest_id"
        f" WHERE p.name = :name AND {chosen}",
        {"name": name, **chosen_params},
    )
    rows = sorted(rows, key=lambda row: names.index(row["tag"]))
    tags = [
        TagRow(
            row["tag"],
            row["updated_at"],
            _manifest(row),
            row["pushed_by"],
            int(row["downloads"]),
        )
        for row in rows
    ]
    untagged = await db.fetchall(
        "SELECT m.digest, m.media_type, m.payload, m.created_at, m.artifact_type,"
        f" {_IMAGE_SIZE} AS size FROM packages p JOIN manifests m ON m.package_id = p.id"
        " WHERE p.name = :name AND m.subject_digest IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)"
        " AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests i"
        "   ON i.id = mr.manifest_id WHERE i.package_id = m.package_id AND mr.kind = 'manifest'"
        "   AND mr.digest = m.digest)"
        " ORDER BY m.created_at DESC LIMIT 50",
        {"name": name},
    )
    storage = await db.fetchone(
        f"SELECT {_SIZE} AS size FROM packages p WHERE p.name = :name", {"name": name}
    )
    linked = await _linked_configs(
        db, name, [tag.manifest for tag in tags] + [_manifest(row) for row in untagged]
    )
    tags = [replace(tag, manifest=row) for tag, row in zip(tags, linked, strict=False)]
    return PackageDetails(
        tags=tags,
        next_tag=next_tag,
        pull_tag=await _pull_tag(db, name),
        untagged=linked[len(tags) :],
        storage=int(storage["size"] or 0) if storage else 0,
        role=role,
    )


@dataclass
class ManifestDetails:
    name: str
    digest: str
    media_type: str
    size: int
    created_at: float
    tags: list[str]
    subject: str | None
    artifact_type: str | None
    manifest: Manifest | None = None  # None only for stored bytes the model refuses
    referrers: dict[str, list[ManifestRow]] = field(default_factory=dict)
    role: Role = Role.READ
    image: ImageConfig | None = None  # the config's fields, when read
    config_linked: bool = False  # whether the package links the config blob
    config_unreadable: bool = False  # a config to show that could not be read
    indexes: list[HoldingIndex] = field(default_factory=list)  # naming it as a platform
    child_sizes: dict[str, int] = field(default_factory=dict)  # an index's: digest -> bytes

    @property
    def compressed_size(self) -> int | None:
        """What pulling it downloads, compressed: an image's config and layers; an index's
        platforms' (a blob two of them share counted once). None when unreadable."""
        if self.manifest is None:
            return None
        if not self.is_index:
            return self.manifest.blob_size
        return sum(self.child_blobs.values())

    child_blobs: dict[str, int] = field(default_factory=dict)  # their blobs: digest -> bytes

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def annotations(self) -> dict[str, str]:
        return self.manifest.annotations if self.manifest else {}

    @property
    def children(self) -> tuple[Descriptor, ...]:
        """An index's manifests, each with its platform when the index names one."""
        return self.manifest.children if self.manifest else ()

    @property
    def config(self) -> Descriptor | None:
        return self.manifest.config if self.manifest else None

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers if self.manifest else ()

    @property
    def shown_config(self) -> ImageConfig:
        """The config's fields as read, or all empty when none was."""
        return self.image or ImageConfig()

    @property
    def unreadable_config_fields(self) -> frozenset[str]:
        """The fields of the config to mark unreadable: all of them when the config itself
        could not be read."""
        if self.config_unreadable:
            return FIELDS
        return self.image.unreadable if self.image else frozenset()


async def manifest_details(
    db: Queries, principal: Principal, name: str, reference: str
) -> ManifestDetails:
    """A manifest by tag or digest: for an index its platforms, for an image its config
    descriptor and layers and the indexes that name it as a platform; its annotations, and
    its referrers grouped by artifact type.
    The config's contents come from `read_config`, outside the transaction."""
    role = await require_package(db, principal, name, Role.READ)
    column = (
        "m.digest = :ref"
        if is_digest(reference)
        else (
            "m.id = (SELECT t.manifest_id FROM tags t WHERE t.package_id = p.id AND t.name = :ref)"
        )
    )
    row = await db.fetchone(
        "SELECT m.id, m.package_id, m.digest, m.media_type, m.payload, m.size, m.created_at,"
        " m.subject_digest, m.artifact_type FROM packages p JOIN manifests m"
        f" ON m.package_id = p.id WHERE p.name = :name AND {column}",
        {"name": name, "ref": reference},
    )
    if row is None:
        raise NotFound(f"no tag or manifest {reference[:150]!r} in {name}")
    tags = await db.fetchall(
        "SELECT name FROM tags WHERE manifest_id = :m ORDER BY name LIMIT 100", {"m": row["id"]}
    )
    details = ManifestDetails(
        name=name,
        digest=row["digest"],
        media_type=row["media_type"],
        size=int(row["size"]),
        created_at=row["created_at"],
        tags=[tag["name"] for tag in tags],
        subject=row["subject_digest"],
        artifact_type=row["artifact_type"],
        manifest=_parsed(row["media_type"], bytes(row["payload"])),
        role=role,
    )
    if details.config is not None:
        details.config_linked = bool(
            await db.fetchone(
                "SELECT 1 FROM package_blobs WHERE package_id = :p AND digest = :d",
                {"p": row["package_id"], "d": str(details.config.digest)},
            )
        )
    details.indexes = await holding_indexes(db, package_id=row["package_id"], digest=row["digest"])
    if details.is_index and details.children:
        chosen, params = in_list("digest", [str(c.digest) for c in details.children], "child")
        for child in await db.fetchall(
            f"SELECT digest, media_type, payload FROM manifests WHERE package_id = :p AND {chosen}",
            {"p": row["package_id"], **params},
        ):
            image = _parsed(child["media_type"], bytes(child["payload"]))
            if image is not None and not image.is_index:
                details.child_sizes[child["digest"]] = image.blob_size
                details.child_blobs.update((str(b.digest), b.size) for b in image.blobs)
    referrers = await db.fetchall(
        "SELECT digest, media_type, payload, size, created_at, artifact_type FROM manifests"
        " WHERE package_id = (SELECT id FROM packages WHERE name = :name)"
        " AND subject_digest = :d ORDER BY artifact_type, digest LIMIT 200",
        {"name": name, "d": row["digest"]},
    )
    for referrer in referrers:
        kind = referrer["artifact_type"] or referrer["media_type"]
        details.referrers.setdefault(kind, []).append(_manifest(referrer))
    return details


async def read_config(storage: Backend, details: ManifestDetails) -> None:
    """Read an image's JSON config blob from the store into `details.image` (call it
    outside the transaction, after `manifest_details` checked access). Only a config the
    package links is read: the store holds every package's blobs, and a manifest may name
    any digest. One that cannot be read (not linked, gone, not a JSON object) sets
    `config_unreadable`, the same whichever it is."""
    config = details.config
    if config is None or not _readable_config(config):
        return
    if not details.config_linked:
        details.config_unreadable = True
        return
    parsed = await _read_json(storage, config)
    if parsed is not None:
        details.image = read_image_config(parsed)
    else:
        details.config_unreadable = True


def artifact_kind(artifact_type: str) -> str:
    """What kind of referrer an artifact type is: signature, sbom, attestation or other."""
    lowered = artifact_type.lower()
    if "signature" in lowered or "cosign" in lowered or "notary" in lowered:
        return "signature"
    if "spdx" in lowered or "cyclonedx" in lowered or "sbom" in lowered or "syft" in lowered:
        return "sbom"
    if "in-toto" in lowered or "attestation" in lowered or "provenance" in lowered:
        return "attestation"
    return "other"
