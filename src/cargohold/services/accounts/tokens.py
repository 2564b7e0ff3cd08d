"""API tokens (a person's) and access tokens (a repository's or workspace's robot).

A token is `<prefix><id>_<secret>`: the prefix lets secret scanners spot a
leaked one, the id finds its row, and only a SHA-256 of the secret is stored
(the secret is random and long, so a slow hash adds nothing). The whole token
is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from cargohold.authz.errors import TokenScopeInvalid
from cargohold.authz.roles import Role, parse_token_scopes, scope_ceiling
from cargohold.metadata.db import Queries, Row
from cargohold.services.errors import Invalid, NotFound
from cargohold.services.events import outbox

PERSONAL_PREFIX = "chp_"
ACCESS_PREFIX = "cha_"
_TOKEN = re.compile(r"(ch[pa]_)([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
KINDS = ("personal", "repository", "workspace")


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    kind: str
    name: str
    scopes: frozenset[str]
    user_id: int | None
    repository_id: int | None
    workspace_id: int | None
    expires_at: float | None
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def ceiling(self) -> Role:
        return scope_ceiling(self.scopes)

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(text: str) -> bool:
    return text.startswith((PERSONAL_PREFIX, ACCESS_PREFIX))


def _token(row: Row) -> Token:
    return Token(
        id=row["id"],
        kind=row["kind"],
        name=row["name"],
        scopes=frozenset(row["scopes"].split()),
        user_id=row["user_id"],
        repository_id=row["repository_id"],
        workspace_id=row["workspace_id"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


_COLUMNS = (
    "id, kind, name, scopes, user_id, repository_id, workspace_id, expires_at, created_at,"
    " last_used_at, revoked_at"
)


async def create_token(
    db: Queries,
    *,
    kind: str,
    name: str,
    scopes: list[str],
    expires_at: float | None,
    now: float,
    user_id: int | None = None,
    repository_id: int | None = None,
    workspace_id: int | None = None,
) -> tuple[Token, str]:
    """Make a token; returns it with the secret text, which is never stored."""
    if kind not in KINDS:
        raise Invalid(f"unknown token kind {kind!r}")
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("a token needs a name of 1 to 100 characters")
    try:
        valid_scopes = parse_token_scopes(scopes)
    except TokenScopeInvalid as exc:
        raise Invalid(str(exc)) from None
    if expires_at is not None and expires_at <= now:
        raise Invalid("the expiry must be in the future")
    token_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    prefix = PERSONAL_PREFIX if kind == "personal" else ACCESS_PREFIX
    await db.execute(
        f"INSERT INTO tokens ({_COLUMNS}, secret_hash) VALUES (:id, :kind, :name, :scopes,"
        " :user, :repo, :ws, :exp, :now, NULL, NULL, :hash)",
        {
            "id": token_id,
            "kind": kind,
            "name": name,
            "scopes": " ".join(sorted(valid_scopes)),
            "user": user_id,
            "repo": repository_id,
            "ws": workspace_id,
            "exp": expires_at,
            "now": now,
            "hash": _hash(secret),
        },
    )
    token = await get_token(db, token_id)
    await _record(db, "token.created", token, now)
    return token, f"{prefix}{token_id}_{secret}"


async def _record(db: Queries, action: str, token: Token, now: float) -> None:
    """`token.created` or `token.revoked`: the token's id, name, kind, scopes and holder,
    never its secret; in its workspace's log when it is a repository's or workspace's."""
    workspace = repository = holder = None
    if token.repository_id is not None:
        row = await db.fetchone(
            "SELECT w.slug AS workspace, r.slug FROM repositories r"
            " JOIN workspaces w ON w.id = r.workspace_id WHERE r.id = :r",
            {"r": token.repository_id},
        )
        repository = holder = f"{row['workspace']}/{row['slug']}" if row else None
    elif token.workspace_id is not None:
        row = await db.fetchone(
            "SELECT slug FROM workspaces WHERE id = :w", {"w": token.workspace_id}
        )
        workspace = holder = str(row["slug"]) if row else None
    elif token.user_id is not None:
        row = await db.fetchone("SELECT email FROM users WHERE id = :u", {"u": token.user_id})
        holder = str(row["email"]) if row else None
    kind = "API token" if token.kind == "personal" else f"{token.kind} access token"
    await outbox.record(
        db,
        action,
        workspace=workspace,
        repository=repository,
        target=f"{kind} {token.name!r} of {holder}",
        data={
            "id": token.id,
            "kind": token.kind,
            "name": token.name,
            "holder": holder,
            "scopes": sorted(token.scopes),
            "expires_at": token.expires_at,
        },
        at=now,
    )


async def get_token(db: Queries, token_id: str) -> Token:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM tokens WHERE id = :id", {"id": token_id})
    if row is None:
        raise NotFound(f"no token {token_id[:20]!r}")
    return _token(row)


async def check_token(db: Queries, text: str, *, now: float) -> Token | None:
    """The token a secret text belongs to, if it is genuine, unexpired and not revoked."""
    match = _TOKEN.fullmatch(text.strip())
    if match is None:
        return None
    prefix, token_id, secret = match.groups()
    row = await db.fetchone(
        f"SELECT {_COLUMNS}, secret_hash FROM tokens WHERE id = :id", {"id": token_id}
    )
    if row is None or not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        return None
    token = _token(row)
    if (prefix == PERSONAL_PREFIX) != (token.kind == "personal") or not token.usable(now):
        return None
    await db.execute(
        "UPDATE tokens SET last_used_at = :now WHERE id = :id", {"now": now, "id": token_id}
    )
    return token


async def revoke_token(db: Queries, token_id: str, *, now: float) -> None:
    changed = await db.execute(
        "UPDATE tokens SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
        {"now": now, "id": token_id},
    )
    if not changed:
        await get_token(db, token_id)
        return
    await _record(db, "token.revoked", await get_token(db, token_id), now)


async def list_tokens(
    db: Queries,
    *,
    user_id: int | None = None,
    repository_id: int | None = None,
    workspace_id: int | None = None,
) -> list[Token]:
    if user_id is not None:
        where, value = "user_id = :v AND kind = 'personal'", user_id
    elif repository_id is not None:
        where, value = "repository_id = :v", repository_id
    elif workspace_id is not None:
        where, value = "workspace_id = :v AND kind = 'workspace'", workspace_id
    else:
        raise Invalid("say whose tokens to list")
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM tokens WHERE {where} ORDER BY created_at", {"v": value}
    )
    return [_token(row) for row in rows]


def parse_duration(text: str) -> float:
    """`30d`, `12h`, `90m`, `3600s` or `1y` in seconds."""
    match = re.fullmatch(r"(\d{1,6})([smhdwy])", text.strip())
    if match is None:
        raise Invalid(f"invalid duration {text[:40]!r}; use e.g. 30d, 12h, 90m or 1y")
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
    return int(match[1]) * units[match[2]]


def token_expiry(text: str | None, *, now: float, max_days: int, allow_never: bool) -> float | None:
    """When a new token expires: `text` is a duration such as `30d` (the default) or
    `never`, which only sites that allow tokens without expiry accept."""
    if text == "never":
        if not allow_never:
            raise Invalid("this site requires tokens to expire; give a lifetime such as 90d")
        return None
    seconds = parse_duration(text or "30d")
    if seconds <= 0:
        raise Invalid("a token's lifetime must be positive")
    if seconds > max_days * 86400:
        raise Invalid(f"tokens may live at most {max_days} days here")
    return now + seconds
