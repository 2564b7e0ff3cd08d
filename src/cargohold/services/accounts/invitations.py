"""Invitations: a link that lets a person set the password of the account a site admin
made for them.

The link's text is `<id>_<secret>`; only a SHA-256 of the secret is stored, as for
sessions and tokens. A link is used once (setting the password deletes its row, in the
same transaction) and expires after `LIFETIME`. A person has at most one open invitation:
inviting them again replaces it. Cargohold sends no mail: the admin passes the link on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from cargohold.metadata.db import Queries
from cargohold.services.accounts import directory
from cargohold.services.accounts.directory import User
from cargohold.services.errors import NotFound

LIFETIME = 7 * 86400.0  # seconds an invitation link is good for
_TEXT = re.compile(r"([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
GONE = "this invitation link is used, expired or replaced; ask your administrator for a new one"


@dataclass(frozen=True, slots=True)
class Invitation:
    id: str
    user: User
    created_at: float
    created_by: str | None
    expires_at: float


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def invite(
    db: Queries, *, user: User, created_by: str | None, now: float
) -> tuple[Invitation, str]:
    """A new invitation for `user` (replacing any open one); returns it with its link's
    text, which is never stored. Expired invitations (of anyone) go on the way."""
    await db.execute("DELETE FROM invitations WHERE expires_at <= :now", {"now": now})
    await db.execute("DELETE FROM invitations WHERE user_id = :u", {"u": user.id})
    new_id = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    await db.execute(
        "INSERT INTO invitations (id, user_id, secret_hash, created_at, created_by, expires_at)"
        " VALUES (:id, :u, :hash, :now, :by, :expires)",
        {
            "id": new_id,
            "u": user.id,
            "hash": _hash(secret),
            "now": now,
            "by": created_by,
            "expires": now + LIFETIME,
        },
    )
    return Invitation(new_id, user, now, created_by, now + LIFETIME), f"{new_id}_{secret}"


async def find(db: Queries, text: str, *, now: float) -> Invitation:
    """The open invitation a link's text stands for; NotFound when it is not genuine,
    used, replaced or expired (which of these is not told)."""
    match = _TEXT.fullmatch(text.strip())
    if match is None:
        raise NotFound(GONE)
    found_id, secret = match.groups()
    row = await db.fetchone(
        "SELECT i.id, i.secret_hash, i.created_at, i.created_by, i.expires_at, i.user_id"
        " FROM invitations i WHERE i.id = :id",
        {"id": found_id},
    )
    if row is None or not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        raise NotFound(GONE)
    if row["expires_at"] <= now:
        raise NotFound(GONE)
    user = await directory.get_user(db, int(row["user_id"]))
    return Invitation(row["id"], user, row["created_at"], row["created_by"], row["expires_at"])


async def accept(db: Queries, text: str, *, password_hash: str, now: float) -> User:
    """Set the invited person's password (its hash, made beforehand off the event loop
    with `directory.hash_password`) and use the invitation up, in one transaction;
    NotFound when the link is no longer good (a second use finds no row)."""
    invitation = await find(db, text, now=now)
    used = await db.execute("DELETE FROM invitations WHERE id = :id", {"id": invitation.id})
    if not used:  # used meanwhile, by another request
        raise NotFound(GONE)
    await directory.set_password(
        db, user=invitation.user, password=None, password_hash=password_hash
    )
    return invitation.user


async def open_invitations(db: Queries, *, now: float) -> dict[int, float]:
    """When each person's open invitation expires, by user id."""
    rows = await db.fetchall(
        "SELECT user_id, expires_at FROM invitations WHERE expires_at > :now", {"now": now}
    )
    return {int(row["user_id"]): float(row["expires_at"]) for row in rows}
