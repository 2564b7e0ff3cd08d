"""What an ID token says about itself, read before it is trusted, and its times."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.config import Settings
from cargohold.services.accounts.id_tokens import IdTokenRefused, check_times, peek

SETTINGS = Settings(oidc_clock_skew=60, oidc_max_token_age=3600)
NOW = 1_800_000_000.0
KEY = ec.generate_private_key(ec.SECP256R1())


def _token(algorithm: str = "ES256", **claims: Any) -> str:
    body = {"iss": "https://issuer.example", "sub": "s", "aud": "a", **claims}
    key: Any = "a shared secret " * 5 if algorithm.startswith("HS") else KEY
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": "k1"})


def test_peek_reads_the_algorithm_key_id_and_issuer() -> None:
    found = peek(_token(), SETTINGS)
    assert (found.algorithm, found.key_id, found.issuer) == (
        "ES256",
        "k1",
        "https://issuer.example",
    )


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_shared_secret_algorithms_are_refused_before_anything_else(algorithm: str) -> None:
    with pytest.raises(IdTokenRefused, match="a shared secret"):
        peek(_token(algorithm), SETTINGS)


def test_an_algorithm_outside_the_allow_list_is_refused() -> None:
    with pytest.raises(IdTokenRefused, match="'ES256' is not accepted here"):
        peek(_token(), Settings(oidc_algorithms=["RS256"]))


def test_a_token_without_an_issuer_is_refused() -> None:
    token = jwt.encode({"sub": "s"}, KEY, algorithm="ES256")
    with pytest.raises(IdTokenRefused, match="names no issuer"):
        peek(token, SETTINGS)


@pytest.mark.parametrize("text", ["", "not a token", "a.b.c", "eyJ.eyJ.x"])
def test_text_that_is_no_jwt_is_refused(text: str) -> None:
    with pytest.raises(IdTokenRefused, match="not an ID token"):
        peek(text, SETTINGS)


def test_a_huge_token_is_refused_unread() -> None:
    with pytest.raises(IdTokenRefused, match="larger than"):
        peek("x" * 20000, SETTINGS)


TIMES: list[tuple[dict[str, Any], str | None]] = [
    ({"iat": NOW - 10, "exp": NOW + 300}, None),
    ({"iat": NOW - 10, "exp": NOW - 30}, None),  # within the clock skew
    ({"iat": NOW - 600, "exp": NOW - 61}, "expired"),
    ({"iat": NOW, "exp": NOW + 300, "nbf": NOW + 30}, None),
    ({"iat": NOW, "exp": NOW + 300, "nbf": NOW + 120}, "not valid yet"),
    ({"iat": NOW + 120, "exp": NOW + 300}, "issued in the future"),
    ({"iat": NOW - 3700, "exp": NOW + 300}, "more than 3600 s ago"),
    ({"exp": NOW + 300}, "lacks exp or iat"),
    ({"iat": NOW}, "lacks exp or iat"),
    ({"iat": "yesterday", "exp": NOW + 300}, "not a number"),
    ({"iat": True, "exp": NOW + 300}, "not a number"),
]


@pytest.mark.parametrize(("claims", "refused"), TIMES)
def test_times_hold_within_the_clock_skew_and_the_greatest_age(
    claims: dict[str, Any], refused: str | None
) -> None:
    if refused is None:
        check_times(claims, SETTINGS, NOW)
        return
    with pytest.raises(IdTokenRefused, match=refused) as caught:
        check_times(claims, SETTINGS, NOW)
    assert caught.value.genuine


def test_the_clock_is_the_one_given() -> None:
    check_times({"iat": time.time(), "exp": time.time() + 60}, SETTINGS, time.time())
