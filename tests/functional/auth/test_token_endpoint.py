"""GET and POST /token: what a token carries, how it is asked for, and when it is refused."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cargohold.services.accounts import tokens
from tests.functional.auth.world import (
    PASSWORD,
    PRIVATE,
    PUBLIC,
    Credential,
    World,
    basic_header,
    bearer,
    challenge,
    email,
)
from tests.functional.registry import Registry, error_code


def _claims(registry: Registry, token: str) -> dict[str, Any]:
    """The claims of a registry token, checked against the registry's own key."""
    payload: dict[str, Any] = jwt.decode(
        token,
        registry.context.public_key,
        algorithms=["EdDSA"],
        audience="cargohold",
        issuer="cargohold",
    )
    return payload


async def _user_id(registry: Registry, who: str) -> int:
    row = await registry.context.db.fetchone(
        "SELECT id FROM users WHERE email = :e", {"e": email(who)}
    )
    assert row is not None
    return int(row["id"])


async def _token(
    registry: Registry, credential: Credential | None, *scopes: str, **params: str
) -> dict[str, Any]:
    headers = credential.basic if credential is not None else {}
    query = [("service", "cargohold"), *(("scope", s) for s in scopes), *params.items()]
    response = await registry.client.get("/token", params=query, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def test_docker_login_sequence(registry: Registry, world: World) -> None:
    """GET /v2/ → 401 challenge → /token with Basic credentials and no scope → /v2/ → 200."""
    first = await registry.client.get("/v2/")
    assert first.status_code == 401
    params = challenge(first.headers["www-authenticate"])
    assert params == {"realm": "http://registry.test/token", "service": "cargohold"}

    credential = world.credential("read", "read")
    answer = await registry.client.get(
        "/token",
        params={"service": params["service"], "account": credential.username},
        headers=credential.basic,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    issued = datetime.fromisoformat(body["issued_at"])
    assert abs(issued.timestamp() - time.time()) < 60
    assert issued.utcoffset() is not None, "issued_at carries its time zone"

    again = await registry.client.get("/v2/", headers={"Authorization": f"Bearer {body['token']}"})
    assert again.status_code == 200


async def test_token_claims(registry: Registry, world: World) -> None:
    credential = world.credential("read", "read")
    body = await _token(registry, credential, f"repository:{PRIVATE}:pull")
    claims = _claims(registry, body["token"])
    assert set(claims) == {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access", "name"}
    assert claims["name"] == credential.username
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] <= claims["iat"] <= time.time() + 1
    assert claims["sub"] == f"user:{(await _user_id(registry, 'read'))}:{credential.token_id}"
    assert claims["access"] == [
        {"type": "repository", "name": PRIVATE, "actions": ["pull"], "role": "read"}
    ]
    other = await _token(registry, credential, f"repository:{PRIVATE}:pull")
    assert _claims(registry, other["token"])["jti"] != claims["jti"]


# (who, token scope, asked) -> (granted actions, role in the token); None: anonymous
GRANTS = [
    ("read", "read", "pull,push", ["pull"], "read"),
    ("read", "admin", "*", ["pull"], "read"),
    ("write", "admin", "*", ["delete", "pull", "push"], "write"),
    ("write", "read", "pull,push,delete", ["pull"], "read"),
    ("admin", "write", "pull,push,delete", ["delete", "pull", "push"], "write"),
    ("admin", "admin", "pull,push,delete", ["delete", "pull", "push"], "admin"),
    ("admin", "admin", "push", ["push"], "admin"),
    ("admin", "admin", "frobnicate", [], "admin"),
    ("owner", "admin", "*", ["delete", "pull", "push"], "admin"),
    ("none", "admin", "pull", [], "none"),
    ("other", "admin", "*", [], "none"),
    ("robot", "write", "*", ["delete", "pull", "push"], "write"),
    (None, None, "pull,push", [], "none"),
]


@pytest.mark.parametrize(
    ("who", "scope", "asked", "actions", "role"),
    GRANTS,
    ids=[f"{g[0] or 'anonymous'}-{g[1] or 'no'}_scope-{g[2]}" for g in GRANTS],
)
async def test_grant_is_what_was_asked_and_allowed(
    registry: Registry,
    world: World,
    who: str | None,
    scope: str | None,
    asked: str,
    actions: list[str],
    role: str,
) -> None:
    """A partial or empty grant is not an error: the token simply carries less."""
    credential = world.credential(who, scope or "admin") if who is not None else None
    body = await _token(registry, credential, f"repository:{PRIVATE}:{asked}")
    [entry] = _claims(registry, body["token"])["access"]
    assert entry == {"type": "repository", "name": PRIVATE, "actions": actions, "role": role}


async def test_anonymous_gets_pull_on_public_packages_only(registry: Registry) -> None:
    body = await _token(
        registry, None, f"repository:{PUBLIC}:pull,push,delete", f"repository:{PRIVATE}:pull"
    )
    access = _claims(registry, body["token"])["access"]
    assert access == [
        {"type": "repository", "name": PUBLIC, "actions": ["pull"], "role": "read"},
        {"type": "repository", "name": PRIVATE, "actions": [], "role": "none"},
    ]
    assert "refresh_token" not in await _token(registry, None, offline_token="true")


async def test_several_scopes_in_one_value_and_across_values(
    registry: Registry, world: World
) -> None:
    body = await _token(
        registry,
        world.credential("write", "admin"),
        f"repository:{PRIVATE}:pull repository:{PUBLIC}:pull",
        f"repository:{PRIVATE}:push",
        "registry:catalog:*",
        "repository:Not/A/Valid/Name:pull",  # not a repository name: left out
        "plugin:something:*",  # a resource type the registry does not know: left out
    )
    access = _claims(registry, body["token"])["access"]
    assert access == [
        {"type": "repository", "name": PRIVATE, "actions": ["pull", "push"], "role": "write"},
        {"type": "repository", "name": PUBLIC, "actions": ["pull"], "role": "read"},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]


@pytest.mark.settings(token_max_scopes=64)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_more_scopes_than_the_limit_are_refused_before_any_lookup(
    registry: Registry, world: World, method: str
) -> None:
    scopes = [f"repository:acme/app-{i}:pull" for i in range(65)]
    values = [" ".join(scopes[:40]), *scopes[40:]]  # space-separated scopes count one by one
    query = [("service", "cargohold"), *(("scope", v) for v in values)]
    credential = world.credential("read", "read")

    if method == "GET":
        response = await registry.client.get("/token", params=query, headers=credential.basic)
    else:
        form = [("grant_type", "password"), ("username", credential.username), *query]
        response = await registry.client.post(
            "/token",
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    within = await registry.client.get("/token", params=query[:-1], headers=credential.basic)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "65 scopes" in response.json()["error_description"]
    assert "at most 64" in response.json()["error_description"]
    assert error_code(response) == "UNSUPPORTED"
    assert within.status_code == 200


async def test_access_token_acts_as_a_robot_under_any_username(
    registry: Registry, world: World
) -> None:
    robot = world.credential("robot", "read")
    renamed = Credential("whatever-the-ci-calls-it", robot.secret)
    body = await _token(registry, renamed, f"repository:{PRIVATE}:pull,push")
    claims = _claims(registry, body["token"])
    assert claims["sub"] == f"robot:{robot.token_id}"
    assert claims["access"][0]["actions"] == ["pull"]


def _refused_with_basic_challenge(response: Any, code: str = "UNAUTHORIZED") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Basic realm="cargohold"'
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert body["errors"][0]["code"] == code
    assert "token" in body["error_description"]


@pytest.mark.parametrize(
    "credential",
    ["wrong-secret", "another-persons-email", "expired", "revoked", "swapped-prefix"],
)
async def test_bad_credentials_are_refused(
    registry: Registry, world: World, credential: str
) -> None:
    read = world.credential("read", "read")
    username, secret = {
        "wrong-secret": (read.username, read.secret[:-4] + "AAAA"),
        "another-persons-email": (email("admin"), read.secret),
        "expired": (email("admin"), world.credential("expired").secret),
        "revoked": (email("admin"), world.credential("revoked").secret),
        "swapped-prefix": (read.username, "cha_" + read.secret.removeprefix("chp_")),
    }[credential]
    response = await registry.client.get(
        "/token",
        params={"service": "cargohold", "scope": f"repository:{PUBLIC}:pull"},
        headers={"Authorization": basic_header(username, secret)},
    )
    _refused_with_basic_challenge(response)


async def test_revoking_refuses_at_once_but_issued_jwts_live_their_short_lifetime(
    registry: Registry, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = world.credential("admin", "admin")
    manifest = f"/v2/{PRIVATE}/manifests/v1"
    jwt_header = await bearer(registry.client, credential, [f"repository:{PRIVATE}:pull"])
    issued_at = time.time()
    assert (await registry.client.get(manifest, headers=credential.basic)).status_code == 200

    assert credential.token_id is not None
    await tokens.revoke_token(registry.context.db, credential.token_id, now=time.time())

    # The API token itself is refused at once, at /token and as Basic credentials on /v2.
    refused = await registry.client.get("/token", headers=credential.basic)
    _refused_with_basic_challenge(refused)
    basic = await registry.client.get(manifest, headers=credential.basic)
    assert basic.status_code == 401 and error_code(basic) == "UNAUTHORIZED"

    # A registry token issued before is checked without the database: it lives out its
    # lifetime, and not a second longer.
    assert (await registry.client.get(manifest, headers=jwt_header)).status_code == 200
    lifetime = registry.context.settings.token_lifetime
    monkeypatch.setattr(registry.context, "now", lambda: issued_at + lifetime + 1)
    expired = await registry.client.get(manifest, headers=jwt_header)
    assert expired.status_code == 401
    assert challenge(expired.headers["www-authenticate"])["error"] == "invalid_token"


@pytest.mark.settings(token_lifetime=60)
async def test_token_lifetime_is_a_setting(registry: Registry, world: World) -> None:
    body = await _token(registry, world.credential("read", "read"))
    claims = _claims(registry, body["token"])
    assert body["expires_in"] == 60 and claims["exp"] - claims["iat"] == 60


async def test_refresh_token_flow(registry: Registry, world: World) -> None:
    """docker login asks for an offline token and stores the refresh token; pushes then use
    POST /token with grant_type=refresh_token."""
    credential = world.credential("write", "write")
    login = await _token(registry, credential, offline_token="true", client_id="docker")
    refresh = login["refresh_token"]
    response = await registry.client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "cargohold",
            "client_id": "docker",
            "scope": f"repository:{PRIVATE}:pull,push",
        },
    )
    assert response.status_code == 200, response.text
    assert _claims(registry, response.json()["token"])["access"][0]["actions"] == ["pull", "push"]

    # the refresh token is no bearer token for /v2
    as_bearer = await registry.client.get("/v2/", headers={"Authorization": f"Bearer {refresh}"})
    assert as_bearer.status_code == 401

    # once the API token is revoked, its refresh tokens are worthless
    assert credential.token_id is not None
    await tokens.revoke_token(registry.context.db, credential.token_id, now=time.time())
    again = await registry.client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "refresh",
    ["", "garbage", "a.b.c"],
)
async def test_bad_refresh_tokens_are_refused(registry: Registry, refresh: str) -> None:
    response = await registry.client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


async def test_refresh_token_signed_by_another_key_is_refused(
    registry: Registry, world: World
) -> None:
    now = int(time.time())
    forged = jwt.encode(
        {
            "iss": "cargohold",
            "aud": "cargohold#refresh",
            "sub": f"user:{await _user_id(registry, 'site_admin')}",
            "iat": now,
            "exp": now + 600,
        },
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
    )
    response = await registry.client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": forged}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("secret", ["token", "password"])
async def test_password_grant(registry: Registry, world: World, secret: str) -> None:
    credential = world.credential("read", "read")
    response = await registry.client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": credential.username,
            "password": credential.secret if secret == "token" else PASSWORD,
            "service": "cargohold",
            "scope": f"repository:{PRIVATE}:pull",
        },
    )
    assert response.status_code == 200, response.text
    assert _claims(registry, response.json()["token"])["access"][0]["actions"] == ["pull"]


async def test_password_grant_with_a_wrong_password(registry: Registry, world: World) -> None:
    response = await registry.client.post(
        "/token",
        data={"grant_type": "password", "username": email("read"), "password": "not it at all"},
    )
    _refused_with_basic_challenge(response)


@pytest.mark.settings(password_login=False)
async def test_passwords_are_refused_where_the_site_forbids_them(
    registry: Registry, world: World
) -> None:
    response = await registry.client.get(
        "/token", headers={"Authorization": basic_header(email("read"), PASSWORD)}
    )
    _refused_with_basic_challenge(response)
    # API tokens still work
    await _token(registry, world.credential("read", "read"))


async def test_unsupported_grant_type(registry: Registry) -> None:
    response = await registry.client.post("/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_another_service_is_refused(registry: Registry, world: World) -> None:
    response = await registry.client.get(
        "/token",
        params={"service": "registry.example.com"},
        headers=world.credential("read", "read").basic,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.settings(auth="none")
async def test_no_tokens_without_authentication(registry: Registry) -> None:
    response = await registry.client.get("/token")
    assert response.status_code == 400
    assert "auth = none" in response.json()["error_description"]


async def test_basic_credentials_straight_on_v2(registry: Registry, world: World) -> None:
    credential = world.credential("read", "read")
    assert (await registry.client.get("/v2/", headers=credential.basic)).status_code == 200
    manifest = await registry.client.get(
        f"/v2/{PRIVATE}/manifests/v1", headers={**credential.basic, "Accept": "*/*"}
    )
    assert manifest.status_code == 200
    assert manifest.content == world.contents[PRIVATE].manifest
