"""The Ed25519 key that signs registry tokens: configured, or made once in the data dir
(mode 0600, readable by the server's user only)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cargohold.config import Settings


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    path = settings.signing_key_file or settings.data_dir / "signing-key.pem"
    if not path.exists():
        if settings.signing_key_file is not None:
            raise FileNotFoundError(f"signing key file {path} does not exist")
        _create(path)
    elif settings.signing_key_file is None and path.stat().st_mode & 0o177:
        path.chmod(0o600)  # ours, left readable to others by an earlier version
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # A temporary file of this process's own: workers starting together each write theirs.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(temporary, path)  # first process wins; the others read its key
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
