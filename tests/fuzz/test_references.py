"""Every /v2 route with fuzzed names, digests, tags, upload ids and query strings, by every
kind of caller (the owner of globex, a writer and a reader of acme/web, an outsider,
nobody; Basic or bearer), each path piece sent raw or percent-encoded.

Beyond the invariants of harness.py: content is addressed by its digest, so a 200 for a
blob or a manifest named by digest carries exactly the bytes of that digest.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import CALLERS, KEPT, WRITABLE, Fuzz
from tests.fuzz.strategies import (
    ENCODINGS,
    TAGS,
    TEXT,
    digests,
    names,
    segment,
    sha256,
)

FUZZ = settings.get_profile("cargohold-active")
METHODS = ["GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS"]
NAMES = names((*KEPT, *WRITABLE, "acme/web/db", "globex/none"))
RESOURCES = [
    "blob",
    "manifest",
    "tags",
    "referrers",
    "uploads",
    "session",
    "catalog",
    "junk",
    "base",
]
SCRATCH_BLOB = b"a blob of globex/scratch"


async def _setup(fuzz: Fuzz) -> list[str]:
    response = await fuzz.send(
        "POST",
        f"/v2/{WRITABLE[2]}/blobs/uploads/",
        query=f"digest={sha256(SCRATCH_BLOB)}",
        headers=fuzz.credentials["other"],
        body=SCRATCH_BLOB,
    )
    assert response.status_code == 201, response.text
    known = {sha256(SCRATCH_BLOB)}
    for stored in fuzz.kept:
        known |= set(stored.blobs) | {stored.image.digest}
        known |= {child.digest for child in stored.children}
    return sorted(known)


def _query(data: st.DataObject, resource: str, known: list[str]) -> bytes:
    pairs: list[tuple[str, str]] = []
    keys = {
        "tags": ["n", "last"],
        "catalog": ["n", "last"],
        "referrers": ["artifactType"],
        "uploads": ["digest", "mount", "from"],
        "session": ["digest"],
    }.get(resource, [])
    for key in data.draw(st.lists(st.sampled_from([*keys, "x"]), max_size=3), label="keys"):
        if key in ("digest", "mount"):
            value = data.draw(digests(tuple(known)))
        elif key == "from":
            value = data.draw(names((*KEPT, *WRITABLE)))
        elif key == "n":
            value = data.draw(
                st.one_of(
                    st.integers(-5, 2000).map(str),
                    st.sampled_from(["", "9" * 30, "1e3", "²", "0x1", " 1"]),
                )
            )
        else:
            value = data.draw(st.one_of(TAGS, TEXT))
        pairs.append((key, value))
    how = data.draw(ENCODINGS, label="query encoding")
    return b"&".join(segment(k, how) + b"=" + segment(v, "all") for k, v in pairs)


@FUZZ
@given(data=st.data())
def test_references(open_surface: Any, data: st.DataObject) -> None:
    fuzz: Fuzz = open_surface("references")
    if "known" not in fuzz.extra:
        fuzz.extra["known"] = fuzz.run(_setup(fuzz))
    known: list[str] = fuzz.extra["known"]
    who = data.draw(st.sampled_from(CALLERS), label="caller")
    kind = data.draw(st.sampled_from(["basic", "bearer"]), label="auth")
    headers: dict[str, str | bytes] = dict(fuzz.auth(who, kind))
    method = data.draw(st.sampled_from(METHODS), label="method")
    resource = data.draw(st.sampled_from(RESOURCES), label="resource")
    name = data.draw(NAMES, label="name")
    how = data.draw(ENCODINGS, label="encoding")
    session = data.draw(st.booleans(), label="session") if resource == "session" else False
    if resource == "blob":
        tail = b"/blobs/" + segment(data.draw(digests(tuple(known)), label="digest"), how)
    elif resource == "manifest":
        reference = data.draw(st.one_of(TAGS, digests(tuple(known))), label="reference")
        tail = b"/manifests/" + segment(reference, how)
    elif resource == "tags":
        tail = b"/tags/list"
    elif resource == "referrers":
        tail = b"/referrers/" + segment(data.draw(digests(tuple(known)), label="digest"), how)
    elif resource == "uploads":
        tail = data.draw(st.sampled_from([b"/blobs/uploads/", b"/blobs/uploads"]))
    elif resource == "session":
        tail = b"/blobs/uploads/" + segment(
            data.draw(st.one_of(st.just("SESSION"), TEXT), label="upload id"), how
        )
    else:
        tail = segment(data.draw(TEXT, label="rest"), how)
    if resource == "catalog":
        path = b"/v2/_catalog"
    elif resource == "base":
        path = data.draw(st.sampled_from([b"/v2", b"/v2/", b"/v2//", b"/v2/_catalog/x"]))
    else:
        path = b"/v2/" + segment(name, how) + tail
    query = _query(data, resource, known)
    body = data.draw(st.one_of(st.just(b""), st.binary(max_size=64)), label="body")
    if data.draw(st.booleans(), label="content-length"):
        headers["content-length"] = str(len(body))
    fuzz.run(_case(fuzz, method, path, query, headers, body, session))


async def _case(
    fuzz: Fuzz,
    method: str,
    path: bytes,
    query: bytes,
    headers: dict[str, str | bytes],
    body: bytes,
    session: bool,
) -> None:
    opened: list[tuple[str, str]] = []
    if session:  # a real session of globex/app to aim at, opened by its owner
        response = await fuzz.send(
            "POST", f"/v2/{WRITABLE[0]}/blobs/uploads/", headers=fuzz.credentials["other"]
        )
        assert response.status_code == 202, response.text
        upload_id = response.headers["location"].rsplit("/", 1)[1]
        opened.append((WRITABLE[0], upload_id))
        path = path.replace(b"SESSION", upload_id.encode())
    before = await fuzz.state()
    response = await fuzz.send(method, path, query=query, headers=headers, body=body)
    after = await fuzz.state()
    fuzz.refused_left_nothing(before, after, response)
    _addressed(path, method, response)
    if response.status_code == 202 and method == "POST":
        location = response.headers["location"]
        name, _, upload_id = location.removeprefix("/v2/").rpartition("/blobs/uploads/")
        opened.append((name, upload_id))
    for name, upload_id in opened:
        await fuzz.cancel(name, upload_id)
    await fuzz.check(opened=[upload_id for _, upload_id in opened])


def _addressed(path: bytes, method: str, response: Any) -> None:
    """A 200 for content named by digest carries exactly that digest's bytes."""
    if response.status_code != 200 or method != "GET":
        return
    text = path.decode("latin-1")
    for marker in ("/blobs/", "/manifests/"):
        if marker in text and "/blobs/uploads" not in text:
            digest = text.rsplit(marker, 1)[1].replace("%3A", ":").replace("%3a", ":")
            if digest.startswith(("sha256:", "sha512:")):
                algorithm, _, _ = digest.partition(":")
                actual = f"{algorithm}:" + hashlib.new(algorithm, response.content).hexdigest()
                assert actual == digest, f"GET {text[:200]} answered the bytes of {actual}"
