"""Hypothesis strategies shared by the fuzz surfaces: JSON documents written by hand (so
they can hold what `json.dumps` never writes: duplicate keys, lone surrogates, numbers of
400 digits, NaN), digests, names, tags, header values and path pieces."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# ---------------------------------------------------------------------- JSON, by hand


@dataclass
class Obj:
    """A JSON object as its list of members, so a key may appear twice."""

    pairs: list[list[Any]] = field(default_factory=list)

    @classmethod
    def of(cls, mapping: dict[str, Any]) -> Obj:
        return cls([[key, to_tree(value)] for key, value in mapping.items()])


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is: `1e400`, `NaN`, 400 digits, a truncated literal."""

    text: bytes


def to_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return Obj.of(value)
    if isinstance(value, list):
        return [to_tree(item) for item in value]
    return value


@dataclass(frozen=True)
class Nested:
    """A value inside `depth` arrays or objects (written without recursion)."""

    value: Any
    depth: int
    kind: str  # "list" or "object"


@dataclass(frozen=True)
class Style:
    ascii: bool = True  # \\u escapes for everything outside ASCII (else raw UTF-8)
    surrogates_raw: bool = False  # lone surrogates as their (invalid) UTF-8 bytes
    spaces: bytes = b""


def emit(node: Any, style: Style = Style()) -> bytes:
    if isinstance(node, Obj):
        sep = b"," + style.spaces
        members = (
            emit(str(key) if not isinstance(key, str) else key, style)
            + b":"
            + style.spaces
            + emit(value, style)
            for key, value in node.pairs
        )
        return b"{" + sep.join(members) + b"}"
    if isinstance(node, list):
        return b"[" + (b"," + style.spaces).join(emit(item, style) for item in node) + b"]"
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, Nested):
        if node.kind == "list":
            return b"[" * node.depth + emit(node.value, style) + b"]" * node.depth
        return b'{"x":' * node.depth + emit(node.value, style) + b"}" * node.depth
    if isinstance(node, str):
        text = json.dumps(node, ensure_ascii=style.ascii)
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate, outside ASCII escapes
            if style.surrogates_raw:
                return text.encode("utf-8", "surrogatepass")  # bytes that are not UTF-8
            return json.dumps(node).encode()  # as a \ud800 escape
    return json.dumps(node).encode()


def styles() -> st.SearchStrategy[Style]:
    return st.builds(
        Style,
        ascii=st.booleans(),
        surrogates_raw=st.booleans(),
        spaces=st.sampled_from([b"", b" ", b"\n\t", b"\r\n  "]),
    )


# ---------------------------------------------------------------------- values

# Every code point, lone surrogates included; plus the ones that break things most often.
ODD_TEXT = st.sampled_from(
    [
        "\ud800",
        "\udfff",
        "a\udc80b",
        "\x00",
        "\u2028",
        "\ufeff",
        "\U0001f600",
        "\uff21",  # fullwidth A
        "\u0661\u0662\u0663",  # Arabic-Indic digits: str.isdigit() says yes
        "²",  # isdigit() too, and int() refuses it
        "e\u0301",
        "'; DROP TABLE blobs; --",
        "../../etc/passwd",
        "%00",
        "{{7*7}}",
        "<script>alert(1)</script>",
        " ",
        "",
    ]
)
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),  # surrogates too
    ODD_TEXT,
    st.text(alphabet="abc:/.-_@", max_size=20),
)
HUGE_NUMBERS = st.sampled_from(
    [
        Raw(b"1" + b"0" * 400),
        Raw(b"-" + b"9" * 5000),
        Raw(b"1e400"),
        Raw(b"-1e400"),
        Raw(b"1E+999999999"),
        Raw(b"NaN"),
        Raw(b"Infinity"),
        Raw(b"-Infinity"),
        Raw(b"0.0000000000000000000000001"),
        Raw(b"-0"),
        Raw(b"1.0"),
        Raw(b"01"),
        Raw(b"0x10"),
        Raw(b"1_000"),
        10**400,
        2**63,
        2**63 - 1,
        2**64,
        -1,
        -(2**63),
        0,
        1.5,
        True,
        False,
        None,
    ]
)
SCALARS = st.one_of(
    TEXT,
    HUGE_NUMBERS,
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)


JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(TEXT, inner), max_size=4).map(
            lambda pairs: Obj([[k, v] for k, v in pairs])
        ),
    ),
    max_leaves=8,
) | st.builds(
    Nested,
    SCALARS,
    st.sampled_from([10, 100, 900, 1_100, 5_000, 50_000]),
    st.sampled_from(["list", "object"]),
)


# ---------------------------------------------------------------------- digests

HEX = "0123456789abcdef"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


BAD_DIGESTS = st.one_of(
    st.sampled_from(
        [
            "sha256:",
            ":" + "a" * 64,
            "sha256:" + "A" * 64,
            "sha256:" + "a" * 63,
            "sha256:" + "a" * 65,
            "sha512:" + "a" * 64,
            "sha384:" + "a" * 96,
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "SHA256:" + "a" * 64,
            "sha256+b64:" + "a" * 43,
            "sha256:" + "a" * 10_000,
            "sha256:" + "\uff41" * 64,  # fullwidth a
            "sha256:" + "\u0661" * 64,  # Arabic-Indic digit one
            "sha256::" + "a" * 64,
            "sha256:" + "a" * 63 + "\n",
            "sha256:" + "a" * 63 + "\x00",
            " sha256:" + "a" * 64,
            "sha256:" + "a" * 32 + "/" + "a" * 31,
            "sha256:%61" + "a" * 63,
            "sha256:" + "\ud800" * 64,
        ]
    ),
    st.builds(
        lambda algo, enc: f"{algo}:{enc}",
        st.sampled_from(["sha256", "sha512", "sha1", "blake3", "", "a+b", "x" * 300]),
        st.text(alphabet=HEX + "ABCDEFxyz=_-", max_size=140),
    ),
    TEXT,
)
VALID_UNKNOWN_DIGESTS = st.one_of(
    st.text(alphabet=HEX, min_size=64, max_size=64).map(lambda h: "sha256:" + h),
    st.text(alphabet=HEX, min_size=128, max_size=128).map(lambda h: "sha512:" + h),
)


@functools.cache
def digests(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Digests the world holds, valid ones it does not, and broken ones (made once per
    list: a strategy made anew for every draw costs more than the request)."""
    return st.one_of(st.sampled_from(known), VALID_UNKNOWN_DIGESTS, BAD_DIGESTS)


# ---------------------------------------------------------------------- names and tags

VALID_NAMES = st.from_regex(
    r"[a-z0-9]{1,8}((\.|_|__|-+)[a-z0-9]{1,6}){0,2}(/[a-z0-9]{1,8}((\.|_|__|-+)[a-z0-9]{1,6}){0,2}){0,3}",
    fullmatch=True,
)
BAD_NAMES = st.one_of(
    st.sampled_from(
        [
            "",
            "/",
            ".",
            "..",
            "globex/../acme/web/api",
            "globex/./app",
            "globex//app",
            "Globex/App",
            "globex/app/",
            "/globex/app",
            "globex/app/_catalog",
            "globex/-app",
            "globex/app-",
            "globex/a__b___c",
            "a" * 256,
            "a/" * 200 + "a",
            "globex/app%2fx",
            "globex/app\x00",
            "globex/äpp",
            "globex/\ud800",
            "globex/app/blobs/uploads",
            "globex/app/manifests/latest",
            "globex/app/-/tags",
        ]
    ),
    TEXT,
)


@functools.cache
def names(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(known), VALID_NAMES, BAD_NAMES)


VALID_TAGS = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", fullmatch=True)
BAD_TAGS = st.one_of(
    st.sampled_from(
        [
            "",
            ".hidden",
            "-dash",
            "a" * 129,
            "v1:2",
            "v1/2",
            "v\u00e9",
            "v\ud800",
            "v1\n",
            "latest ",
            "%2e%2e",
            "sha256",
        ]
    ),
    TEXT,
)
TAGS = st.one_of(st.sampled_from(["latest", "v1", "multi", "fuzz"]), VALID_TAGS, BAD_TAGS)


def pick(data: st.DataObject, options: list[Any] | tuple[Any, ...], label: str) -> Any:
    """One of a list known only at run time, drawn by index (no strategy made per draw)."""
    return options[data.draw(st.integers(0, len(options) - 1), label=label)]


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)

# ---------------------------------------------------------------------- paths and headers


def segment(text: str, how: str) -> bytes:
    """A piece of a raw path: as is (what bytes it has), or percent-encoded."""
    data = text.encode("utf-8", "surrogatepass")
    if how == "raw" and all(32 < b < 127 and b not in b"?#%" for b in data):
        return data
    safe = "/" if how != "all" else ""
    return quote(data, safe=safe).encode()


ENCODINGS = st.sampled_from(["raw", "quote", "all"])

HEADER_BYTES = st.one_of(
    st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"",
            b" ",
            b"\x00",
            b"\xff\xfe",
            b"\xc3\xa9",
            "é".encode("latin-1"),
            b"9" * 5000,
            b"-1",
            b"1e3",
            b"0x10",
            b"\xd9\xa1",  # Arabic-Indic one, in UTF-8
        ]
    ),
)
