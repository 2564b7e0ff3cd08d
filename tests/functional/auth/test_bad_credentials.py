"""Bad input on the auth paths: malformed headers and scopes, forged and stale tokens.

Every one gets a 4xx with the right challenge; the conftest fails any test that sees a 5xx.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.functional.auth.world import PRIVATE, World, basic_header, challenge
from tests.functional.registry import Registry, error_code

MANIFEST = f"/v2/{PRIVATE}/manifests/v1"
ROUTES = {"base": "/v2/", "manifest": MANIFEST, "catalog": "/v2/_catalog"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _urlsafe(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Authorization header -> the `error` its challenge carries (None: no error parameter)
MALFORMED_HEADERS: dict[str, tuple[str, str | None]] = {
    "basic-alone": ("Basic", None),
    "basic-empty": ("Basic ", None),
    "basic-not-base64": ("Basic !!!not base64!!!", None),
    "basic-no-colon": ("Basic " + _b64(b"read@example.com"), None),
    "basic-not-utf8": ("Basic " + _b64(b"\xff\xfe:\xfd"), None),
    "basic-empty-pair": ("Basic " + _b64(b":"), None),
    "basic-empty-secret": ("Basic " + _b64(b"read@example.com:"), None),
    "basic-wrong-secret": (basic_header("read@example.com", "hunter2hunter2"), None),
    "basic-unknown-token": (
        basic_header("read@example.com", "chp_aaaaaaaaaaaa_" + "A" * 43),
        None,
    ),
    "basic-token-too-short": (basic_header("read@example.com", "chp_aaaaaaaaaaaa_AAA"), None),
    "basic-huge": ("Basic " + _b64(b"a" * 5000 + b":" + b"b" * 5000), None),
    "basic-padding-only": ("Basic ====", None),
    "bearer-alone": ("Bearer", None),
    "bearer-empty": ("Bearer    ", None),
    "bearer-garbage": ("Bearer garbage", "invalid_token"),
    "bearer-three-dots": ("Bearer a.b.c", "invalid_token"),
    "bearer-two-words": ("Bearer abc def", "invalid_token"),
    "bearer-api-token": ("Bearer chp_aaaaaaaaaaaa_" + "A" * 43, "invalid_token"),
    "bearer-huge": ("Bearer " + "x" * 20000, "invalid_token"),
    "digest": ('Digest username="read", realm="cargohold"', None),
    "negotiate": ("Negotiate YIIFAQYGKwYBBQUCoIIE9TCCBPGg", None),
    "token-scheme": ("Token abc", None),
    "scheme-only-spaces": ("   ", None),
    "no-scheme": (_b64(b"read@example.com:secret"), None),
}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("header", list(MALFORMED_HEADERS))
async def test_malformed_authorization_headers(registry: Registry, header: str, route: str) -> None:
    value, error = MALFORMED_HEADERS[header]
    path = ROUTES[route]
    response = await registry.client.get(path, headers={"Authorization": value})
    assert response.status_code == 401, response.text
    assert error_code(response) == "UNAUTHORIZED"
    params = challenge(response.headers["www-authenticate"])
    assert params["realm"] == "http://registry.test/token"
    assert params["service"] == "cargohold"
    assert params.get("error") == error


@pytest.mark.parametrize(
    "value",
    [b"Basic \xff\xfe\xfd", b"Bearer \xe2\x82\xac", b"\x00\x01\x02", "Basic é".encode()],
    ids=["basic-latin1", "bearer-utf8", "control-bytes", "basic-utf8"],
)
async def test_header_bytes_outside_ascii(registry: Registry, value: bytes) -> None:
    response = await registry.raw("GET", MANIFEST, headers={"authorization": value})
    assert response.status_code == 401, response.text
    challenge(response.headers["www-authenticate"])


def _payload(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": "cargohold",
        "sub": "user:1",
        "aud": "cargohold",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
        "jti": "f" * 32,
        "access": [{"type": "repository", "name": PRIVATE, "actions": ["pull"], "role": "admin"}],
    }
    payload.update(changes)
    return payload


def _forge(kind: str, key: Ed25519PrivateKey) -> str:
    """A bearer token that is wrong in one way; `key` is the registry's own."""
    now = int(time.time())
    other_key = Ed25519PrivateKey.generate()
    header = _urlsafe(b'{"alg":"none","typ":"JWT"}')
    match kind:
        case "wrong-signature":
            return jwt.encode(_payload(), other_key, algorithm="EdDSA")
        case "alg-none":
            return f"{header}.{_urlsafe(json.dumps(_payload()).encode())}."
        case "alg-hs256":
            return jwt.encode(
                _payload(), "a shared secret that nobody else has, 48 bytes", algorithm="HS256"
            )
        case "expired":
            return jwt.encode(
                _payload(iat=now - 900, nbf=now - 900, exp=now - 600), key, algorithm="EdDSA"
            )
        case "not-yet-valid":
            return jwt.encode(_payload(nbf=now + 600, exp=now + 900), key, algorithm="EdDSA")
        case "another-service":
            return jwt.encode(_payload(aud="registry.example.com"), key, algorithm="EdDSA")
        case "another-issuer":
            return jwt.encode(_payload(iss="auth.example.com"), key, algorithm="EdDSA")
        case "refresh-token":
            return jwt.encode(_payload(aud="cargohold#refresh"), key, algorithm="EdDSA")
        case "no-expiry":
            payload = _payload()
            del payload["exp"]
            return jwt.encode(payload, key, algorithm="EdDSA")
        case "malformed-access":
            return jwt.encode(_payload(access="repository:acme/web:*"), key, algorithm="EdDSA")
        case "malformed-access-entry":
            entry = {"type": "repository", "name": PRIVATE, "actions": "pull"}
            return jwt.encode(_payload(access=[entry]), key, algorithm="EdDSA")
        case "tampered":
            genuine = jwt.encode(_payload(), key, algorithm="EdDSA")
            head, _, signature = genuine.split(".")
            body = _urlsafe(json.dumps(_payload(sub="user:999")).encode())
            return f"{head}.{body}.{signature}"
    raise AssertionError(kind)


FORGED = [
    "wrong-signature",
    "alg-none",
    "alg-hs256",
    "expired",
    "not-yet-valid",
    "another-service",
    "another-issuer",
    "refresh-token",
    "no-expiry",
    "malformed-access",
    "malformed-access-entry",
    "tampered",
]


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("kind", FORGED)
async def test_bad_bearer_tokens(registry: Registry, kind: str, route: str) -> None:
    assert registry.context.signing_key is not None
    token = _forge(kind, registry.context.signing_key)
    path = ROUTES[route]
    response = await registry.client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert error_code(response) == "UNAUTHORIZED"
    params = challenge(response.headers["www-authenticate"])
    assert params["error"] == "invalid_token"
    assert params["realm"] == "http://registry.test/token"
    assert params["service"] == "cargohold"


async def test_the_forging_baseline_is_accepted(registry: Registry) -> None:
    """The forged tokens differ from this one in one way each: it is let in."""
    assert registry.context.signing_key is not None
    token = jwt.encode(_payload(), registry.context.signing_key, algorithm="EdDSA")
    response = await registry.client.get(
        MANIFEST, headers={"Authorization": f"Bearer {token}", "Accept": "*/*"}
    )
    assert response.status_code == 200, response.text


MALFORMED_SCOPES = [
    "repository",
    "repository:acme/web",
    "repository::pull",
    ":acme/web:pull",
    "repository:acme/web:",
    "repository:acme/web:pull,",
    "repository:acme/web:PULL",
    "Repository:acme/web:pull",
    "repository:acme/web:pull;rm -rf /",
    "repository:" + "a" * 2000 + ":pull",
    "repository:acme/web:pull\x00",
    "repository:acme/web:pull bogus",
]


@pytest.mark.parametrize("scope", MALFORMED_SCOPES)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_malformed_scopes_at_token(
    registry: Registry, world: World, scope: str, method: str
) -> None:
    credential = world.credential("read", "read")
    if method == "GET":
        response = await registry.client.get(
            "/token", params={"scope": scope}, headers=credential.basic
        )
    else:
        response = await registry.client.post(
            "/token",
            data={
                "grant_type": "password",
                "username": credential.username,
                "password": credential.secret,
                "scope": scope,
            },
        )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_scope"
    assert body["errors"][0]["code"] == "UNSUPPORTED"


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic !!!", "Basic " + _b64(b"nocolon"), "Digest x", "Basic"],
)
async def test_malformed_authorization_at_token(registry: Registry, header: str) -> None:
    response = await registry.client.get("/token", headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nnot a part\r\n"),
        ("multipart/form-data", b"no boundary at all"),
        ("application/x-www-form-urlencoded", b"grant_type=password&username=%ZZ&scope=%"),
    ],
    ids=["multipart-broken", "multipart-no-boundary", "urlencoded-bad-escapes"],
)
async def test_malformed_token_forms(registry: Registry, content_type: str, body: bytes) -> None:
    response = await registry.client.post(
        "/token", content=body, headers={"Content-Type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"\xff\xfe\xfd"),
        ("application/json", b'{"grant_type": "password", "username": "x", "password": "y"}'),
    ],
    ids=["not-utf8", "json"],
)
async def test_token_forms_without_a_grant_type_get_an_anonymous_token(
    registry: Registry, content_type: str, body: bytes
) -> None:
    """A POST without a grant_type is read like a GET: no Authorization, no one."""
    response = await registry.client.post(
        "/token", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    payload = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert payload["sub"] == "anonymous" and payload["access"] == []
