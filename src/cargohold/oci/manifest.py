"""Parse and validate manifests; the stored bytes are never re-serialised."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from cargohold.oci import mediatypes as mt
from cargohold.oci.digest import Digest
from cargohold.oci.errors import DigestInvalid, ManifestInvalid
from cargohold.oci.text import is_encodable

MAX_SIZE = 2**63 - 1  # a descriptor's size is an int64


@dataclass(frozen=True, slots=True)
class Platform:
    """Where an index's child runs. Read as pushed: the registry never refused an odd
    platform object, so a missing part is empty and any other value is its text."""

    os: str = ""
    architecture: str = ""
    variant: str = ""

    @classmethod
    def of(cls, value: dict[str, Any]) -> Platform:
        return cls(
            str(value.get("os", "")),
            str(value.get("architecture", "")),
            str(value["variant"]) if value.get("variant") else "",
        )

    def __str__(self) -> str:
        """`os/architecture/variant`, leaving out the parts that are empty."""
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    @property
    def is_foreign(self) -> bool:
        """Foreign and non-distributable layers live elsewhere and are not pushed."""
        return bool(self.urls) and (
            self.media_type == mt.DOCKER_FOREIGN_LAYER
            or self.media_type.startswith(mt.OCI_NONDISTRIBUTABLE_PREFIX)
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest (a config and layers) or an index (child manifests)."""

    media_type: str
    config: Descriptor | None = None  # an image's; an index has none
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()  # an index's manifests
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """The blobs it references: the config first, then the layers."""
        return (self.config, *self.layers) if self.config else self.layers

    @property
    def pushed_blobs(self) -> tuple[Descriptor, ...]:
        """The blobs that must be in the package: the config always (only a layer may be
        foreign, whatever a config's media type and urls say), and each layer that is not
        foreign."""
        layers = tuple(layer for layer in self.layers if not layer.is_foreign)
        return (self.config, *layers) if self.config else layers

    @property
    def blob_size(self) -> int:
        """The bytes of its config and layers, as their descriptors say; an index's is 0."""
        return sum(descriptor.size for descriptor in self.blobs)

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """The platforms of an index's children, in order; a child without one is left out."""
        return tuple(child.platform for child in self.children if child.platform is not None)

    @property
    def config_media_type(self) -> str | None:
        return self.config.media_type if self.config else None

    @property
    def referrer_artifact_type(self) -> str | None:
        """What the referrers API reports: artifactType, else the config media type."""
        return self.artifact_type or self.config_media_type


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    raw_digest = value.get("digest")
    if not isinstance(raw_digest, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    try:
        digest = Digest.parse(raw_digest)
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}.digest: {exc.message}") from None
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise ManifestInvalid(
            f"{where}.size must be a non-negative integer of at most {MAX_SIZE} (int64)"
        )
    annotations = value.get("annotations")
    if annotations is not None and not _is_string_map(annotations):
        raise ManifestInvalid(f"{where}.annotations must map strings to strings")
    artifact_type = value.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid(f"{where}.artifactType must be a string")
    platform = value.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalid(f"{where}.platform must be an object")
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}.urls must be a list of strings")
    return Descriptor(
        media_type,
        digest,
        size,
        artifact_type,
        annotations,
        Platform.of(platform) if platform is not None else None,
        tuple(urls),
    )


def _is_string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _descriptor_list(document: dict[str, Any], key: str, required: bool) -> list[Descriptor]:
    items = document.get(key)
    if items is None:
        if required:
            raise ManifestInvalid(f"manifest has no {key!r} list")
        return []
    if not isinstance(items, list):
        raise ManifestInvalid(f"{key!r} must be a list of descriptors")
    return [_descriptor(item, f"{key}[{i}]") for i, item in enumerate(items)]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: with a key twice, two parsers may read
    two different manifests (one keeps the first value, another the last)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ManifestInvalid(
                    f"the key {key[:100]!r} appears twice in one JSON object; a manifest"
                    " names each key once"
                )
            seen.add(key)
    return document


def _no_constant(name: str) -> Any:
    raise ManifestInvalid(f"manifest is not valid JSON: {name} is not a JSON number")


# In text decoded strictly as UTF-8, a lone surrogate can only come from a `\\u` escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _invalid_text(text: str, document: dict[str, Any]) -> str | None:
    """Where the first string of the document that is not valid Unicode is (a key or a
    value holding a lone surrogate), or None when every string is valid."""
    if not _SURROGATE_ESCAPE.search(text):
        return None
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if not is_encodable(value):
                return where
        elif isinstance(value, dict):
            for key in value:
                if not is_encodable(key):
                    return f"a key of {where or 'the manifest'}"
            stack.extend((f"{where}.{k}" if where else k, v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return None


def parse_manifest(payload: bytes, content_type: str | None) -> Manifest:
    """Validate a manifest body against the media type it was sent with.

    The media type is the `mediaType` field when present; it must then agree
    with `Content-Type`. Without the field, `Content-Type` decides.
    """
    try:
        text = payload.decode()
    except UnicodeDecodeError as exc:
        raise ManifestInvalid(
            f"manifest is not valid JSON: it must be UTF-8 text, and byte {exc.start} is not"
        ) from None
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except ValueError as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise ManifestInvalid("manifest JSON is nested too deeply") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    where = _invalid_text(text, document)
    if where is not None:
        raise ManifestInvalid(
            f"{where[:200]} is not valid Unicode: a \\u escape from \\ud800 to \\udfff must be"
            " half of a surrogate pair, not alone"
        )
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    sent = (content_type or "").split(";")[0].strip() or None
    if declared and sent and declared != sent:
        raise ManifestInvalid(
            f"Content-Type {sent[:100]!r} does not match the manifest's mediaType"
            f" {declared[:100]!r}"
        )
    media_type = declared or sent
    if media_type not in mt.MANIFESTS:
        raise ManifestInvalid(
            f"unsupported manifest media type {(media_type or '')[:100]!r}; send one of "
            + ", ".join(sorted(mt.MANIFESTS)),
            detail={"mediaType": (media_type or "")[:100]},
        )
    version = document.get("schemaVersion")
    if type(version) is not int or version != 2:  # neither 2.0 nor true
        raise ManifestInvalid("schemaVersion must be the integer 2")
    annotations = document.get("annotations") or {}
    if not _is_string_map(annotations):
        raise ManifestInvalid("annotations must map strings to strings")
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType must be a string")
    subject = (
        _descriptor(document["subject"], "subject") if document.get("subject") is not None else None
    )
    if media_type in mt.INDEXES:
        children = _descriptor_list(document, "manifests", required=True)
        return Manifest(
            media_type,
            children=tuple(children),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    config = _descriptor(document.get("config"), "config")
    layers = _descriptor_list(document, "layers", required=media_type == mt.DOCKER_MANIFEST)
    return Manifest(
        media_type,
        config=config,
        layers=tuple(layers),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )
