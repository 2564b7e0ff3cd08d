"""What a package still needs: its manifests as a graph, and the closure of a set of roots.

Garbage collection and retention share it. From a manifest, reachability follows the
children an index names and the referrers whose subject it is; layers and config
follow from the manifests that are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cargohold.metadata.db import Queries


@dataclass(frozen=True, slots=True)
class ManifestNode:
    id: int
    digest: str
    media_type: str
    size: int
    created_at: float
    is_child: bool
    subject: str | None
    artifact_type: str | None

    @property
    def is_root(self) -> bool:
        """An image pushed on its own (not yet named by an index, not attached to another
        manifest): it stays, tagged or not, until someone or a retention rule deletes it."""
        return not self.is_child and self.subject is None


@dataclass(frozen=True, slots=True)
class TagNode:
    name: str
    digest: str
    updated_at: float


@dataclass
class PackageGraph:
    manifests: dict[str, ManifestNode] = field(default_factory=dict)
    tags: list[TagNode] = field(default_factory=list)
    children: dict[str, set[str]] = field(default_factory=dict)
    referrers: dict[str, set[str]] = field(default_factory=dict)

    def add_manifest(self, node: ManifestNode, children: Iterable[str] = ()) -> None:
        self.manifests[node.digest] = node
        self.children.setdefault(node.digest, set()).update(children)
        if node.subject is not None:
            self.referrers.setdefault(node.subject, set()).add(node.digest)

    def closure(self, roots: Iterable[str]) -> set[str]:
        """The digests of present manifests reachable from `roots`."""
        seen: set[str] = set()
        pending = [digest for digest in roots if digest in self.manifests]
        while pending:
            digest = pending.pop()
            if digest in seen:
                continue
            seen.add(digest)
            for nxt in self.children.get(digest, set()) | self.referrers.get(digest, set()):
                if nxt in self.manifests and nxt not in seen:
                    pending.append(nxt)
        return seen

    def roots(self, *, untagged_images: bool = True) -> set[str]:
        """Tagged manifests, and (unless `untagged_images` is False) untagged images."""
        found = {tag.digest for tag in self.tags}
        if untagged_images:
            found |= {d for d, node in self.manifests.items() if node.is_root}
        return found


async def lock_package(tx: Queries, package_id: int) -> bool:
    """Hold the package against manifest pushes until the transaction ends (they take a
    shared lock on the same row); False when the package is gone."""
    row = await tx.fetchone(
        f"SELECT id FROM packages WHERE id = :p{tx.for_update}", {"p": package_id}
    )
    return row is not None


async def load_graph(db: Queries, package_id: int) -> PackageGraph:
    graph = PackageGraph()
    children: dict[int, list[str]] = {}
    for row in await db.fetchall(
        "SELECT r.manifest_id, r.digest FROM manifest_references r"
        " JOIN manifests m ON m.id = r.manifest_id"
        " WHERE m.package_id = :p AND r.kind = 'manifest'",
        {"p": package_id},
    ):
        children.setdefault(int(row["manifest_id"]), []).append(row["digest"])
    for row in await db.fetchall(
        "SELECT id, digest, media_type, size, created_at, is_child, subject_digest,"
        " artifact_type FROM manifests WHERE package_id = :p",
        {"p": package_id},
    ):
        node = ManifestNode(
            id=int(row["id"]),
            digest=row["digest"],
            media_type=row["media_type"],
            size=int(row["size"]),
            created_at=float(row["created_at"]),
            is_child=bool(row["is_child"]),
            subject=row["subject_digest"],
            artifact_type=row["artifact_type"],
        )
        graph.add_manifest(node, children.get(node.id, ()))
    for row in await db.fetchall(
        "SELECT t.name, m.digest, t.updated_at FROM tags t JOIN manifests m"
        " ON m.id = t.manifest_id WHERE t.package_id = :p",
        {"p": package_id},
    ):
        graph.tags.append(TagNode(row["name"], row["digest"], float(row["updated_at"])))
    return graph
