"""Secrets the registry must use again, not just check (a webhook's signing secret): sealed
with AES-256-GCM before they are stored, under a key derived (HKDF-SHA256) from a setting or
from the registry's signing key, which every node of a cluster shares.

A sealed value is `v1.` and the base64 of nonce + ciphertext + tag; the purpose is bound in
as associated data, so a value sealed for one purpose does not open for another.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."
_NONCE = 12


class Unsealable(Exception):
    """A sealed value that this key does not open (another key, or changed bytes)."""


def derive_key(material: bytes, purpose: str) -> bytes:
    """A 32-byte key for `purpose` from secret `material`."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"cargohold sealing",
        info=purpose.encode(),
    ).derive(material)


def key_from_signing_key(signing_key: Ed25519PrivateKey, purpose: str) -> bytes:
    raw = signing_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return derive_key(raw, purpose)


def seal(key: bytes, plaintext: str, purpose: str) -> str:
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), purpose.encode())
    return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def unseal(key: bytes, value: str, purpose: str) -> str:
    if not value.startswith(_PREFIX):
        raise Unsealable("not a sealed value")
    try:
        raw = base64.b64decode(value[len(_PREFIX) :], validate=True)
        opened = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode())
    except (ValueError, InvalidTag):
        raise Unsealable("the key does not open this value") from None
    return opened.decode()
