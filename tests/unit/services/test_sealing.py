"""Sealed secrets (services/sealing.py): they open with the key and purpose they were sealed
with, and with nothing else."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cargohold.services import sealing

KEY = sealing.derive_key(b"material of at least sixteen bytes", "webhook secret")


def test_a_sealed_secret_opens_with_its_key_and_purpose() -> None:
    sealed = sealing.seal(KEY, "whsec_abc", "webhook secret")
    assert sealed.startswith("v1.") and "whsec_abc" not in sealed
    assert sealing.unseal(KEY, sealed, "webhook secret") == "whsec_abc"


def test_the_same_secret_seals_differently_each_time() -> None:
    assert sealing.seal(KEY, "same", "p") != sealing.seal(KEY, "same", "p")


OTHER_KEY = sealing.derive_key(b"other material of sixteen bytes", "webhook secret")
REFUSED = [
    ("another key", OTHER_KEY, "webhook secret", lambda s: s),
    ("another purpose", KEY, "oidc client secret", lambda s: s),
    (
        "a changed byte",
        KEY,
        "webhook secret",
        lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],
    ),
    ("no version", KEY, "webhook secret", lambda s: s[3:]),
    ("not base64", KEY, "webhook secret", lambda s: "v1.???"),
]


@pytest.mark.parametrize(("why", "key", "purpose", "change"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_sealed_secret_does_not_open_otherwise(
    why: str, key: bytes, purpose: str, change: object
) -> None:
    sealed = sealing.seal(KEY, "whsec_abc", "webhook secret")
    with pytest.raises(sealing.Unsealable):
        sealing.unseal(key, change(sealed), purpose)  # type: ignore[operator]


def test_keys_derived_from_one_signing_key_are_the_same_on_every_node() -> None:
    signing = Ed25519PrivateKey.generate()
    first = sealing.key_from_signing_key(signing, "webhook secret")
    assert first == sealing.key_from_signing_key(signing, "webhook secret")
    assert first != sealing.key_from_signing_key(signing, "something else")
    assert first != sealing.key_from_signing_key(Ed25519PrivateKey.generate(), "webhook secret")
