"""Manifests and indexes, built from real ones and then mutated: fields of the wrong type,
huge numbers, unicode with lone surrogates (escaped or as raw bytes), duplicate keys,
missing and extra fields, deep nesting, odd digests; odd bodies, Content-Types,
Content-Lengths and references. Each is PUT to globex/app as its owner.

Beyond the invariants of harness.py: an accepted manifest pulls back byte-identical, by
digest and by tag, with the media type it was pushed as, and its digest is the one
`Docker-Content-Digest` said; the referrers of the setup's manifests and the API's tag
list still answer; deleting it again by digest puts the manifests and tags back
as they were.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cargohold.oci import mediatypes as mt
from tests.functional.registry import descriptor, image_manifest
from tests.fuzz.harness import Fuzz
from tests.fuzz.strategies import (
    HEADER_BYTES,
    HUGE_NUMBERS,
    JUNK,
    ODD_TEXT,
    TAGS,
    TEXT,
    Nested,
    Obj,
    digests,
    emit,
    pick,
    sha256,
    sha512,
    styles,
)

NAME = "globex/app"
FUZZ = settings.get_profile("cargohold-active")
MEDIA_TYPES = sorted(mt.MANIFESTS)
CONTENT_TYPES = st.one_of(
    st.sampled_from(["SAME"] * 6 + ["SAME; charset", *MEDIA_TYPES]), st.none(), HEADER_BYTES
)
LENGTHS = st.one_of(st.sampled_from([b"exact"] * 4 + [b"none"]), HEADER_BYTES)
REFERENCES = st.sampled_from(["tag", "tag", "sha256", "sha256", "sha512", "digest"])
MUTATION_COUNTS = st.sampled_from([0, 1, 1, 1, 2, 2, 3, 4])
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@dataclass
class Bases:
    documents: list[tuple[str, dict[str, Any]]]  # (media type, document)
    digests: list[str]  # every digest the bases name
    keep: set[str]  # manifests the setup pushed, never deleted by a case


async def _setup(fuzz: Fuzz) -> Bases:
    """Blobs and child manifests in globex/app, and the documents the cases start from."""
    headers = fuzz.credentials["other"]
    config = b'{"architecture":"amd64","os":"linux"}'
    layers = [b"fuzz layer %d" % i * (i + 1) for i in range(3)]
    for blob in (config, *layers):
        response = await fuzz.send(
            "POST",
            f"/v2/{NAME}/blobs/uploads/",
            query=f"digest={sha256(blob)}",
            headers=headers,
            body=blob,
        )
        assert response.status_code == 201, response.text
    children = [image_manifest(layers[:1], config), image_manifest(layers[1:], config)]
    for child in children:
        response = await fuzz.send(
            "PUT",
            f"/v2/{NAME}/manifests/{child.digest}",
            headers={**headers, "content-type": child.media_type},
            body=child.manifest,
        )
        assert response.status_code == 201, response.text
    config_d = descriptor("application/vnd.oci.image.config.v1+json", config)
    docker_config = descriptor("application/vnd.docker.container.image.v1+json", config)
    platforms = [{"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux"}]
    child_ds = [
        descriptor(child.media_type, child.manifest, platform=platform)
        for child, platform in zip(children, platforms, strict=True)
    ]
    subject = {"mediaType": mt.OCI_MANIFEST, "digest": children[0].digest, "size": 1}
    documents = [
        (
            mt.OCI_MANIFEST,
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": config_d,
                "layers": [descriptor(LAYER, layer) for layer in layers],
                "annotations": {"org.opencontainers.image.title": "fuzz"},
            },
        ),
        (
            mt.OCI_MANIFEST,
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "artifactType": "application/vnd.example.sig",
                "config": descriptor(mt.OCI_EMPTY, config),
                "layers": [descriptor(LAYER, layers[0], annotations={"a": "b"})],
                "subject": subject,
            },
        ),
        (
            mt.DOCKER_MANIFEST,
            {
                "schemaVersion": 2,
                "mediaType": mt.DOCKER_MANIFEST,
                "config": docker_config,
                "layers": [descriptor(DOCKER_LAYER, layer) for layer in layers[:2]],
            },
        ),
        (
            mt.OCI_INDEX,
            {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": child_ds},
        ),
        (
            mt.DOCKER_MANIFEST_LIST,
            {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": child_ds},
        ),
    ]
    named = [sha256(blob) for blob in (config, *layers)] + [c.digest for c in children]
    return Bases(documents, named, {c.digest for c in children})


def _slots(node: Any, out: list[tuple[list[Any], int, bool]]) -> None:
    """Every place a value sits: (its container, its index, whether the container is an
    object's member list)."""
    if isinstance(node, Obj):
        for i, pair in enumerate(node.pairs):
            out.append((node.pairs, i, True))
            _slots(pair[1], out)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            out.append((node, i, False))
            _slots(item, out)


MUTATIONS = [  # the targeted ones more often: a random slot is seldom a size
    "size",
    "size",
    "annotation",
    "annotation",
    "annotation",
    "replace",
    "delete",
    "duplicate",
    "duplicate-same",
    "extra",
    "rename",
    "huge",
    "nest",
    "digest",
    "odd-text",
    "empty",
]


def _mutate(data: st.DataObject, tree: Obj, known: list[str]) -> None:
    slots: list[tuple[list[Any], int, bool]] = []
    _slots(tree, slots)
    kind = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    if not slots or kind == "extra":
        key = data.draw(st.one_of(st.sampled_from(["mediaType", "size", "x"]), TEXT))
        tree.pairs.append([key, data.draw(JUNK)])
        return
    if kind in ("size", "annotation"):
        targeted = _targeted(data, tree, kind)
        if targeted:
            return
    container, index, member = pick(data, slots, "slot")

    def get() -> Any:
        return container[index][1] if member else container[index]

    def put(value: Any) -> None:
        if member:
            container[index][1] = value
        else:
            container[index] = value

    if kind == "replace":
        put(data.draw(JUNK, label="junk"))
    elif kind == "delete":
        del container[index]
    elif kind == "duplicate" and member:
        container.insert(index + 1, [container[index][0], data.draw(JUNK)])
    elif kind == "duplicate-same":
        container.insert(index + 1, copy.deepcopy(container[index]))
    elif kind == "rename" and member:
        container[index][0] = data.draw(TEXT, label="key")
    elif kind == "huge":
        put(data.draw(HUGE_NUMBERS))
    elif kind == "nest":
        depth = data.draw(st.sampled_from([2, 50, 999, 1_001, 3_000, 100_000]))
        put(Nested(get(), depth, data.draw(st.sampled_from(["list", "object"]))))
    elif kind == "digest":
        put(data.draw(digests(tuple(known))))
    elif kind == "odd-text":
        value = get()
        text = data.draw(ODD_TEXT)
        at = data.draw(st.integers(0, len(value))) if isinstance(value, str) else 0
        put(value[:at] + text + value[at:] if isinstance(value, str) else text)
    else:  # empty, or a mutation that needs an object member on a list item
        put(data.draw(st.sampled_from(["", [], Obj(), None, 0])))


def _targeted(data: st.DataObject, tree: Obj, kind: str) -> bool:
    """A descriptor's size made huge or odd, or an annotation of odd text (lone
    surrogates, NUL, ...) put on the manifest or on one of its descriptors."""
    objects: list[Obj] = [tree]
    for _, value in tree.pairs:
        items = value if isinstance(value, list) else [value]
        objects += [item for item in items if isinstance(item, Obj)]
    if kind == "size":
        sized = [o for o in objects if any(key == "size" for key, _ in o.pairs)]
        if not sized:
            return False
        target = pick(data, sized, "descriptor")
        for pair in target.pairs:
            if pair[0] == "size":
                pair[1] = data.draw(HUGE_NUMBERS, label="size")
        return True
    target = pick(data, objects, "annotated")
    key = data.draw(st.one_of(ODD_TEXT, TEXT), label="annotation key")
    value = data.draw(st.one_of(ODD_TEXT, TEXT), label="annotation value")
    for pair in target.pairs:
        if pair[0] == "annotations" and isinstance(pair[1], Obj):
            pair[1].pairs.append([key, value])
            return True
    target.pairs.append(["annotations", Obj([[key, value]])])
    return True


WRAPS = ["none"] * 30 + [  # most bodies stay whole: the mutations inside are the point
    "bom",
    "trailing",
    "truncate",
    "empty",
    "null",
    "array",
    "utf16",
    "utf32",
    "oversize",
    "whitespace",
]


def _wrap(data: st.DataObject, body: bytes) -> bytes:
    how = data.draw(st.sampled_from(WRAPS), label="wrap")
    if how == "bom":
        return b"\xef\xbb\xbf" + body
    if how == "trailing":
        return body + data.draw(st.sampled_from([b"x", b"{}", b"\x00", b",", b" ]"]))
    if how == "truncate":
        return body[: data.draw(st.integers(0, max(0, len(body) - 1)))]
    if how == "empty":
        return b""
    if how == "null":
        return b"null"
    if how == "array":
        return b"[" + body + b"]"
    if how in ("utf16", "utf32"):
        return body.decode("utf-8", "replace").encode("utf-16" if how == "utf16" else "utf-32")
    if how == "oversize":  # over max_manifest_size (4 MiB): 413
        return body[:-1] + b', "pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    if how == "whitespace":
        return b" \n\t" * 100 + body + b"\r\n" * 100
    return body


@FUZZ
@given(data=st.data())
def test_manifests(open_surface: Any, data: st.DataObject) -> None:
    fuzz: Fuzz = open_surface("manifests")
    if "bases" not in fuzz.extra:
        fuzz.extra["bases"] = fuzz.run(_setup(fuzz))
    bases: Bases = fuzz.extra["bases"]
    media_type, document = pick(data, bases.documents, "base")
    tree = Obj.of(copy.deepcopy(document))
    for _ in range(data.draw(MUTATION_COUNTS, label="mutations")):
        _mutate(data, tree, bases.digests)
    body = _wrap(data, emit(tree, data.draw(styles(), label="style")))
    headers: dict[str, str | bytes] = {**fuzz.credentials["other"]}
    content_type = data.draw(CONTENT_TYPES, label="content-type")
    if content_type == "SAME":
        content_type = media_type
    elif content_type == "SAME; charset":
        content_type = media_type + "; charset=utf-8"
    if content_type is not None:
        headers["content-type"] = content_type
    length = data.draw(LENGTHS, label="content-length")
    if length == b"exact":
        headers["content-length"] = str(len(body))
    elif length != b"none":
        headers["content-length"] = length
    reference = data.draw(REFERENCES, label="reference kind")
    if reference == "tag":
        reference = data.draw(TAGS, label="tag")
    elif reference == "digest":
        reference = data.draw(digests(tuple(bases.digests)), label="digest")
    else:
        reference = sha256(body) if reference == "sha256" else sha512(body)
    chunked = data.draw(st.booleans(), label="chunked")
    fuzz.run(_case(fuzz, bases, reference, body, headers, chunked))


async def _case(
    fuzz: Fuzz,
    bases: Bases,
    reference: str,
    body: bytes,
    headers: dict[str, str | bytes],
    chunked: bool,
) -> None:
    from urllib.parse import quote

    ref = quote(reference.encode("utf-8", "surrogatepass"), safe=":")
    path = f"/v2/{NAME}/manifests/{ref}"
    before = await fuzz.state()
    sent = [body[i : i + 1000] for i in range(0, len(body), 1000)] if chunked else body
    response = await fuzz.send("PUT", path, headers=headers, body=sent)
    after = await fuzz.state()
    fuzz.refused_left_nothing(before, after, response, f"({len(body)} bytes)")
    if response.status_code == 201:
        await _pulls_back(fuzz, bases, reference, body, response.headers, before)
    await fuzz.check()


async def _pulls_back(
    fuzz: Fuzz,
    bases: Bases,
    reference: str,
    body: bytes,
    answer: Any,
    before: Any,
) -> None:
    digest = answer["docker-content-digest"]
    expected = reference if reference.startswith(("sha256:", "sha512:")) else sha256(body)
    assert digest == expected, f"pushed as {reference!r}: digest {digest}, not {expected}"
    headers = fuzz.credentials["other"]
    for subject in sorted(bases.keep):  # what lists it: referrers, the API's tags
        listed = await fuzz.send("GET", f"/v2/{NAME}/referrers/{subject}", headers=headers)
        assert listed.status_code == 200, listed.text
    tags = await fuzz.send("GET", f"/api/v1/packages/{NAME}/-/tags", headers=headers)
    assert tags.status_code == 200, tags.text
    by_digest = await fuzz.send("GET", f"/v2/{NAME}/manifests/{digest}", headers=headers)
    assert by_digest.status_code == 200, by_digest.text
    assert by_digest.content == body, "the manifest does not pull back byte-identical"
    assert by_digest.headers["content-type"] in mt.MANIFESTS
    if not reference.startswith(("sha256:", "sha512:")):
        by_tag = await fuzz.send("GET", f"/v2/{NAME}/manifests/{reference}", headers=headers)
        assert by_tag.status_code == 200, by_tag.text
        assert by_tag.content == body
        assert by_tag.headers["content-type"] == by_digest.headers["content-type"]
    if digest in bases.keep:  # the setup's own child: take the tag off again, if any
        if not reference.startswith(("sha256:", "sha512:")):
            gone = await fuzz.send("DELETE", f"/v2/{NAME}/manifests/{reference}", headers=headers)
            assert gone.status_code == 202, gone.text
        return
    gone = await fuzz.send("DELETE", f"/v2/{NAME}/manifests/{digest}", headers=headers)
    assert gone.status_code == 202, gone.text
    missing = await fuzz.send("GET", f"/v2/{NAME}/manifests/{digest}", headers=headers)
    assert missing.status_code == 404, missing.text
    after = await fuzz.state()
    for table in ("manifests", "tags"):
        then = {row[:2] for row in before.rows[table]}
        now = {row[:2] for row in after.rows[table]}
        assert then == now, f"push and delete of {digest} changed {table}: {then ^ now}"
