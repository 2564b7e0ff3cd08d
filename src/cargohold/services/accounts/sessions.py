"""Sessions: sign-ins that outlive one request, each a row so that it can be ended.

Two kinds: `web`, the UI's session (its cookie carries the session's text), and
`refresh`, a refresh token from `/token` (docker's `offline_token`). A session's text is
`<id>_<secret>`, with the prefix `chr_` for refresh tokens; only a SHA-256 of the secret is
stored, as for API tokens, and the id names it in lists and for revocation.

A web session records how its person signed in (`method`): with single sign-on (`sso`) it
holds whatever `password_login` says; made with a password (`token_id` None, no method) it
is refused while password login is off;
one made with an API or access token never outlives that token. Signing out ends a UI
session; a password change ends every session of the person; a site admin ends any
(`cargohold user sign-out`, `cargohold token revoke`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from cargohold.metadata.db import Queries, Row
from cargohold.services.accounts.directory import User

WEB = "web"
REFRESH = "refresh"
KINDS = (WEB, REFRESH)
SSO = "sso"  # a web session's method: signed in with OpenID Connect single sign-on
REFRESH_PREFIX = "chr_"
_TEXT = re.compile(r"(?:chr_)?([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# last_used_at is written at most this often (seconds): a UI page costs no write per view.
LAST_USED_STEP = 60.0


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    kind: str
    user_id: int | None
    token_id: str | None  # the API or access token it was made with; None: a password
    token_name: str | None
    token_scopes: frozenset[str] | None  # None: made with a password, no cap
    client: str | None  # what the person signed in with (a browser's User-Agent)
    created_at: float
    last_used_at: float | None
    expires_at: float
    method: str | None = None  # `sso`; None: a password, or the token of `token_id`


_COLUMNS = (
    "s.id, s.kind, s.user_id, s.token_id, s.client, s.created_at, s.last_used_at,"
    " s.expires_at, s.method, t.name AS token_name, t.scopes AS token_scopes"
)
_FROM = "FROM sessions s LEFT JOIN tokens t ON t.id = s.token_id"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _session(row: Row) -> Session:
    scopes = row["token_scopes"]
    return Session(
        id=row["id"],
        kind=row["kind"],
        user_id=row["user_id"],
        token_id=row["token_id"],
        token_name=row["token_name"],
        token_scopes=frozenset(scopes.split()) if scopes is not None else None,
        client=row["client"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        method=row["method"],
    )


def session_id(text: str) -> str | None:
    """The id in a session's text, if it has the shape of one."""
    match = _TEXT.fullmatch(text.strip())
    return match[1] if match else None


async def start_session(
    db: Queries,
    *,
    kind: str,
    user_id: int | None,
    token_id: str | None = None,
    client: str | None = None,
    method: str | None = None,
    lifetime: float,
    now: float,
) -> tuple[Session, str]:
    """Record a new session; returns it with its text, which is never stored. Expired
    sessions (of anyone) are deleted on the way."""
    assert kind in KINDS and (user_id is not None or token_id is not None)
    await db.execute("DELETE FROM sessions WHERE expires_at <= :now", {"now": now})
    new_id = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    await db.execute(
        "INSERT INTO sessions (id, kind, user_id, token_id, secret_hash, client, created_at,"
        " last_used_at, expires_at, method) VALUES (:id, :kind, :user, :token, :hash, :client,"
        " :now, NULL, :expires, :method)",
        {
            "id": new_id,
            "kind": kind,
            "user": user_id,
            "token": token_id,
            "hash": _hash(secret),
            "client": client[:200] if client else None,
            "now": now,
            "expires": now + lifetime,
            "method": method,
        },
    )
    row = await db.fetchone(f"SELECT {_COLUMNS} {_FROM} WHERE s.id = :id", {"id": new_id})
    assert row is not None
    prefix = REFRESH_PREFIX if kind == REFRESH else ""
    return _session(row), f"{prefix}{new_id}_{secret}"


async def check_session(
    db: Queries, text: str, *, kind: str, now: float
) -> tuple[Session, User | None] | None:
    """The session a text stands for, with its person (None for an access token's), if it
    is genuine, of this kind and unexpired. One query; a write at most every minute."""
    match = _TEXT.fullmatch(text.strip())
    if match is None or text.strip().startswith(REFRESH_PREFIX) != (kind == REFRESH):
        return None
    found_id, secret = match.groups()
    row = await db.fetchone(
        f"SELECT {_COLUMNS}, s.secret_hash, u.email, u.display_name, u.is_admin {_FROM}"
        " LEFT JOIN users u ON u.id = s.user_id WHERE s.id = :id",
        {"id": found_id},
    )
    if row is None or not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        return None
    session = _session(row)
    if session.kind != kind or session.expires_at <= now:
        return None
    if session.last_used_at is None or session.last_used_at + LAST_USED_STEP <= now:
        await db.execute(
            "UPDATE sessions SET last_used_at = :now WHERE id = :id",
            {"now": now, "id": session.id},
        )
    user = None
    if session.user_id is not None:
        user = User(session.user_id, row["email"], row["display_name"], bool(row["is_admin"]))
    return session, user


async def end_session(db: Queries, session_id: str, *, user_id: int | None = None) -> bool:
    """End one session (of this person, with `user_id`); whether there was one."""
    if user_id is None:
        changed = await db.execute("DELETE FROM sessions WHERE id = :id", {"id": session_id})
    else:
        changed = await db.execute(
            "DELETE FROM sessions WHERE id = :id AND user_id = :u",
            {"id": session_id, "u": user_id},
        )
    return bool(changed)


async def end_sessions(db: Queries, *, user_id: int) -> int:
    """End every session and refresh token of a person; how many there were."""
    return await db.execute("DELETE FROM sessions WHERE user_id = :u", {"u": user_id})


async def list_sessions(db: Queries, *, user_id: int, now: float) -> list[Session]:
    """A person's unexpired sessions and refresh tokens, oldest first."""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} {_FROM} WHERE s.user_id = :u AND s.expires_at > :now"
        " ORDER BY s.created_at, s.id",
        {"u": user_id, "now": now},
    )
    return [_session(row) for row in rows]
