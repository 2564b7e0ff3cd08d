"""Credentials on every surface that reads them: `/v2` (Basic and bearer), `/token` (Basic,
and the OAuth2 password and refresh grants) and `/api/v1` (Basic and API tokens).

Credentials are the real ones, the real ones respelled (scheme case, spacing), or garbage:
Basic with odd bytes (not UTF-8, NUL, no colon, not base64, not ASCII), bearer garbage,
JWT-shaped garbage, forged JWTs (alg none, HS256 keyed with the public key, another
Ed25519 key), JWTs of the registry's own key that expired, are not valid yet, name another
audience or issuer, or carry odd claims; API tokens of the right shape with a wrong secret,
revoked or expired ones. Failed logins are counted as they would be (and blocked, 429, as
they add up), with the table of failures emptied before about half the cases.

Beyond the invariants of harness.py: garbage never gets in. A request with garbage
credentials is never answered 200 for a private package or for `/api/v1/user`, and what
`/token` gives for it is an anonymous token (no private grant, no refresh token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cargohold.services.accounts import directory, tokens
from tests.functional.api.people import email
from tests.fuzz.harness import PASSWORD, Fuzz
from tests.fuzz.strategies import (
    HEADER_BYTES,
    HUGE_NUMBERS,
    JSON_VALUES,
    JUNK,
    TEXT,
    Obj,
    Style,
    emit,
    pick,
    styles,
)

FUZZ = settings.get_profile("cargohold-active")
PRIVATE = "acme/web/api"
OTHER_KEY = Ed25519PrivateKey.generate()

# (method, path, query, body kind): where credentials are read.
TARGETS = [
    ("GET", "/v2/", "", None),
    ("GET", f"/v2/{PRIVATE}/manifests/v1", "", None),
    ("HEAD", f"/v2/{PRIVATE}/manifests/v1", "", None),
    ("GET", "/v2/acme/site/www/tags/list", "", None),
    ("POST", f"/v2/{PRIVATE}/blobs/uploads/", "", None),
    ("GET", "/v2/_catalog", "", None),
    ("GET", "/token", f"service=cargohold&scope=repository:{PRIVATE}:pull", None),
    ("GET", "/token", "service=cargohold&offline_token=true", None),
    ("POST", "/token", "", "password"),
    ("POST", "/token", "", "refresh"),
    ("GET", "/api/v1/user", "", None),
    ("GET", f"/api/v1/packages/{PRIVATE}", "", None),
    ("GET", "/api/v1/user/tokens", "", None),
    ("POST", "/api/v1/user/tokens", "", "json"),
]
PRIVATE_READS = {
    f"/v2/{PRIVATE}/manifests/v1",
    "/api/v1/user",
    f"/api/v1/packages/{PRIVATE}",
    "/api/v1/user/tokens",
}


USERNAMES = st.one_of(st.sampled_from([email("other"), email("writer")]), TEXT)
PASSWORDS = st.one_of(st.just(PASSWORD), TEXT)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _setup(fuzz: Fuzz) -> dict[str, Any]:
    """Real secrets to respell and to break: API tokens (one revoked, one expired), a
    registry JWT and a refresh token."""
    ctx = fuzz.ctx
    now = ctx.now()
    async with ctx.db.transaction() as tx:
        user = await directory.find_user(tx, email("writer"))
        made = {}
        for label, expires in (("revoked", now + 86400), ("expired", now - 10)):
            token, secret = await tokens.create_token(
                tx,
                kind="personal",
                name=label,
                scopes=["admin:package"],
                expires_at=expires,
                now=now - 100,
                user_id=user.id,
            )
            made[label] = secret
            if label == "revoked":
                await tx.execute(
                    "UPDATE tokens SET revoked_at = :now WHERE id = :id",
                    {"now": now, "id": token.id},
                )
    response = await fuzz.send(
        "GET",
        "/token",
        query="service=cargohold&offline_token=true",
        headers=fuzz.credentials["writer"],
    )
    assert response.status_code == 200, response.text
    refresh = response.json()["refresh_token"]
    secret = fuzz.credentials["writer"]["authorization"].removeprefix("Basic ")
    user_token = base64.b64decode(secret).decode().split(":", 1)[1]
    return {
        "api": user_token,
        "revoked": made["revoked"],
        "expired": made["expired"],
        "jwt": fuzz.bearer["writer"],
        "refresh": refresh,
        "key": ctx.signing_key,
    }


CLAIM_CHANGES = st.sampled_from(
    ["expired", "not-yet", "audience", "issuer", "no-exp", "claim", "access", "raw", "none"]
)
KINDS = st.sampled_from(
    [
        "none",
        "good basic",
        "good bearer jwt",
        "good bearer api",
        "respelled",
        "basic odd bytes",
        "basic not base64",
        "basic raw bytes",
        "basic wrong secret",
        "basic stale token",
        "basic password",
        "bearer garbage",
        "jwt-shaped",
        "jwt forged",
        "jwt claims",
        "api token shaped",
        "odd scheme",
    ]
)
FORGERIES = st.sampled_from(["other key", "hs256 with the public key", "alg none"])
SCHEME_CASES = st.sampled_from(["same", "lower", "upper"])
SPACES = st.sampled_from([b" ", b"  ", b"\t", b" \t "])
PADS = st.sampled_from([b"", b" ", b"\t"])
SEPARATORS = st.sampled_from([b":", b"", b"::", b"\x00"])
ODD_SCHEMES = st.sampled_from([b"Digest", b"Token", b"Negotiate", b"", b"Basic", b"Bearer"])
RAW_CREDENTIALS = st.one_of(
    TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"\xe9t\xe9:x", b"writer@example.com:\xff", b"\xff\xfe:\x00"]),
)
JWT_SEPARATORS = st.sampled_from([".", "..", ". "])


def _claims(now: int, data: st.DataObject) -> bytes:
    """The payload of a registry token, then one thing changed; written by hand, so it may
    hold what no JSON library writes (duplicate claims, 1e400, lone surrogates)."""
    claims = Obj.of(
        {
            "iss": "cargohold",
            "sub": "user:1",
            "aud": "cargohold",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "jti": "x",
            "access": [
                {
                    "type": "repository",
                    "name": PRIVATE,
                    "actions": ["pull", "push"],
                    "role": "admin",
                }
            ],
        }
    )
    fields = dict(claims.pairs)
    change = data.draw(CLAIM_CHANGES, label="claim change")
    if change == "expired":
        fields["exp"] = now - data.draw(st.sampled_from([1, 3600, 10**9]))
    elif change == "not-yet":
        fields["nbf"] = now + 3600
    elif change == "audience":
        fields["aud"] = data.draw(st.sampled_from(["other", ["cargohold", "x"], 1, None]))
    elif change == "issuer":
        fields["iss"] = data.draw(st.sampled_from(["evil", "", None]))
    elif change == "no-exp":
        del fields["exp"]
    elif change in ("claim", "raw"):
        name = data.draw(st.sampled_from(sorted(fields)), label="claim")
        fields[name] = data.draw(JUNK if change == "raw" else JSON_VALUES, label="value")
    elif change == "access":
        fields["access"] = data.draw(JUNK, label="access")
    tree = Obj([[key, value] for key, value in fields.items()])
    if change == "raw" and data.draw(st.booleans(), label="duplicate"):
        tree.pairs.append(["exp", data.draw(HUGE_NUMBERS)])
    return emit(tree, data.draw(styles(), label="style"))


def _jwt_of(payload: bytes, key: Any, how: str) -> str:
    """A compact JWS of `payload`: signed with `key` (EdDSA), or forged."""
    alg = {"hs256 with the public key": "HS256", "alg none": "none"}.get(how, "EdDSA")
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64url(payload)}".encode()
    if how == "alg none":
        return signing_input.decode() + "."
    if how == "hs256 with the public key":
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        mac = hmac.new(public, signing_input, hashlib.sha256).digest()
        return f"{signing_input.decode()}.{b64url(mac)}"
    signer = key if how == "own key" else OTHER_KEY
    return f"{signing_input.decode()}.{b64url(signer.sign(signing_input))}"


def credentials(data: st.DataObject, secrets: dict[str, Any]) -> tuple[bytes | None, bool]:
    """An Authorization header value, and whether it is garbage (can never be valid)."""
    writer = email("writer").encode()
    kind = data.draw(KINDS, label="credentials")
    good_basic = b"Basic " + base64.b64encode(writer + b":" + secrets["api"].encode())
    good_bearer = b"Bearer " + secrets["jwt"].encode()
    if kind == "none":
        return None, False
    if kind == "good basic":
        return good_basic, False
    if kind == "good bearer jwt":
        return good_bearer, False
    if kind == "good bearer api":
        return b"Bearer " + secrets["api"].encode(), False
    if kind == "respelled":
        scheme, _, value = pick(data, [good_basic, good_bearer], "good").partition(b" ")
        case = data.draw(SCHEME_CASES, label="case")
        scheme = (
            scheme.lower() if case == "lower" else scheme.upper() if case == "upper" else scheme
        )
        pad = data.draw(PADS, label="pad")
        return pad + scheme + data.draw(SPACES, label="space") + value + pad, False
    if kind == "basic odd bytes":
        user = data.draw(st.one_of(st.binary(max_size=40), st.just(writer)), label="user")
        secret = data.draw(st.binary(max_size=80), label="secret")
        sep = data.draw(SEPARATORS, label="separator")
        return b"Basic " + base64.b64encode(user + sep + secret), True
    if kind == "basic not base64":
        return b"Basic " + data.draw(HEADER_BYTES, label="value"), True
    if kind == "basic raw bytes":  # the credentials themselves, not encoded: é, NUL, ...
        return b"Basic " + data.draw(RAW_CREDENTIALS, label="raw"), True
    if kind == "basic wrong secret":
        api = secrets["api"]
        wrong = pick(data, [api[:-1] + ("A" if api[-1] != "A" else "B"), PASSWORD + "!"], "wrong")
        if data.draw(st.booleans(), label="text instead"):
            wrong = data.draw(TEXT, label="text")
        raw = writer + b":" + wrong.encode("utf-8", "surrogatepass")
        return b"Basic " + base64.b64encode(raw), True
    if kind == "basic stale token":
        stale = pick(data, [secrets["revoked"], secrets["expired"]], "stale")
        return b"Basic " + base64.b64encode(writer + b":" + stale.encode()), True
    if kind == "basic password":  # other@ has a password: good at /token, never at /api/v1
        password = pick(data, [PASSWORD, PASSWORD.upper()], "password")
        raw = email("other").encode() + b":" + password.encode()
        return b"Basic " + base64.b64encode(raw), password != PASSWORD
    if kind == "bearer garbage":
        return b"Bearer " + data.draw(HEADER_BYTES, label="value"), True
    if kind == "jwt-shaped":
        parts = [b64url(emit(data.draw(JUNK, label="part"), Style(ascii=False))) for _ in "abc"]
        if data.draw(st.booleans(), label="EdDSA header"):
            parts[0] = b64url(b'{"alg":"EdDSA","typ":"JWT"}')
        return b"Bearer " + data.draw(JWT_SEPARATORS).join(parts).encode(), True
    if kind in ("jwt forged", "jwt claims"):
        payload = _claims(int(time.time()), data)
        how = "own key" if kind == "jwt claims" else data.draw(FORGERIES, label="forgery")
        # A token of the registry's own key with odd claims may still be valid (the key
        # signed it); every other one is garbage.
        return b"Bearer " + _jwt_of(payload, secrets["key"], how).encode(), how != "own key"
    if kind == "api token shaped":
        api = secrets["api"]
        shaped = [
            "chp_" + "a" * 12 + "_" + "b" * 43,
            "cha_" + "0" * 12 + "_" + "-" * 43,
            api[:-3] + "xyz",
            "cha_" + api[4:],  # a personal token's text as an access token's
            "chp_",
            "chp_" + "a" * 5000,
        ]
        return b"Bearer " + pick(data, shaped, "token").encode(), True
    return data.draw(ODD_SCHEMES) + data.draw(st.sampled_from([b"", b" ", b"  "])), True


@FUZZ
@given(data=st.data())
def test_credentials(open_surface: Any, data: st.DataObject) -> None:
    fuzz: Fuzz = open_surface("auth")
    if "secrets" not in fuzz.extra:
        fuzz.extra["secrets"] = fuzz.run(_setup(fuzz))
    secrets: dict[str, Any] = fuzz.extra["secrets"]
    method, path, query, body_kind = data.draw(st.sampled_from(TARGETS), label="target")
    header, garbage = credentials(data, secrets)
    headers: list[tuple[bytes, bytes]] = []
    if header is not None:
        headers.append((b"authorization", header))
        if data.draw(st.booleans(), label="twice"):
            headers.append((b"authorization", pick(data, [header, b"Bearer x"], "second")))
    body = b""
    if body_kind == "password":
        username = data.draw(USERNAMES, label="username")
        password = data.draw(PASSWORDS, label="password")
        body = _form(
            grant_type="password", service="cargohold", username=username, password=password
        )
    elif body_kind == "refresh":
        refresh = pick(data, [secrets["refresh"], secrets["refresh"][:-2], "x"], "refresh")
        if data.draw(st.booleans(), label="text instead"):
            refresh = data.draw(TEXT, label="text")
        body = _form(grant_type="refresh_token", service="cargohold", refresh_token=refresh)
    elif body_kind == "json":
        body = json.dumps({"name": "fuzz", "scopes": ["read:package"], "expires_in": "1d"}).encode()
        headers.append((b"content-type", b"application/json"))
    if body_kind in ("password", "refresh"):
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    fresh = data.draw(st.booleans(), label="failures forgotten")
    fuzz.run(_case(fuzz, method, path, query, headers, body, garbage, fresh))


def _grants_nothing(answer: dict[str, Any], headers: Any) -> None:
    """A token given for garbage credentials is an anonymous one: no private grant, no
    refresh token."""
    assert "refresh_token" not in answer, f"{headers!r} got a refresh token"
    payload = answer["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for entry in claims.get("access", []):  # an entry without actions grants nothing
        granted = entry.get("name") == PRIVATE and entry.get("actions")
        assert not granted, f"{headers!r} got {entry} at /token"
    assert claims.get("sub") == "anonymous", f"{headers!r} got a token for {claims['sub']}"


def _form(**fields: str) -> bytes:
    from urllib.parse import quote

    return "&".join(
        f"{k}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in fields.items()
    ).encode()


async def _case(
    fuzz: Fuzz,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    garbage: bool,
    fresh: bool,
) -> None:
    if fresh:
        await fuzz.ctx.db.execute("DELETE FROM login_failures")
    before = await fuzz.state()
    response = await fuzz.send(method, path, query=query, headers=headers, body=body)
    after = await fuzz.state()
    fuzz.refused_left_nothing(before, after, response)
    status = response.status_code
    if garbage and status == 200 and path in PRIVATE_READS:
        raise AssertionError(f"garbage credentials {headers!r} got into {path}")
    if garbage and status == 200 and path == "/token" and not body:  # a form's own
        _grants_nothing(response.json(), headers)  # credentials may be good
    if status == 201 and path == "/api/v1/user/tokens":  # put it away again
        made = response.json()
        gone = await fuzz.send("DELETE", f"/api/v1/user/tokens/{made['id']}", headers=headers[:1])
        assert gone.status_code == 204, gone.text
    if status == 202 and method == "POST" and "/blobs/uploads/" in path:
        location = response.headers["location"]
        await fuzz.cancel(PRIVATE, location.rsplit("/", 1)[1], who="writer")
    await fuzz.check()
