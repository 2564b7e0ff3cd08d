"""People's accounts, as site admins manage them: list everyone, create an account (with a
password, or without one for a person who signs in with single sign-on), and invite a
person by email (an account without a password and a link to set one).

Only site admins may, with a personal token of the admin:package scope when a token asks.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.metadata.db import Queries
from cargohold.services.accounts import directory, invitations
from cargohold.services.accounts.directory import User
from cargohold.services.accounts.principals import Principal, require_person
from cargohold.services.errors import Conflict, Forbidden


@dataclass(frozen=True, slots=True)
class Person:
    user: User
    has_password: bool
    created_at: float
    invited_until: float | None  # an open invitation's expiry


def require_site_admin(principal: Principal, *, change: bool = False) -> User:
    """The site admin asking (no query): check it before hashing a password for them."""
    return _require_site_admin(principal, change=change)


def _require_site_admin(principal: Principal, *, change: bool = False) -> User:
    user = require_person(principal, change=change)
    if not user.is_admin:
        raise Forbidden("only site admins manage people's accounts")
    return user


async def list_people(db: Queries, principal: Principal, *, now: float) -> list[Person]:
    _require_site_admin(principal)
    rows = await db.fetchall(
        "SELECT id, email, display_name, is_admin, password_hash IS NOT NULL AS has_password,"
        " created_at FROM users ORDER BY email"
    )
    invited = await invitations.open_invitations(db, now=now)
    return [
        Person(
            User(int(row["id"]), row["email"], row["display_name"], bool(row["is_admin"])),
            bool(row["has_password"]),
            float(row["created_at"]),
            invited.get(int(row["id"])),
        )
        for row in rows
    ]


async def add_person(
    db: Queries,
    principal: Principal,
    *,
    email: str,
    display_name: str | None,
    password_hash: str | None,
    admin: bool,
    now: float,
) -> User:
    """An account, with a password (its hash: `directory.hash_password`, made off the
    event loop) or without one: then its person signs in with single sign-on, or is
    invited to set one."""
    _require_site_admin(principal, change=True)
    name = (display_name or "").strip()[:200] or None
    return await directory.create_user(
        db, email=email, display_name=name, password_hash=password_hash, is_admin=admin, now=now
    )


async def invite_person(
    db: Queries,
    principal: Principal,
    *,
    email: str,
    display_name: str | None,
    admin: bool,
    now: float,
) -> tuple[invitations.Invitation, str]:
    """An account without a password (unless it exists without one already: invited
    before, or made for single sign-on) and a new link to set it; a person who has a
    password already is not invited (Conflict)."""
    inviter = _require_site_admin(principal, change=True)
    email = directory.normalise_email(email)
    user, password_hash = await directory.find_password_hash(db, email)
    if user is None:
        name = (display_name or "").strip()[:200] or None
        user = await directory.create_user(
            db, email=email, display_name=name, is_admin=admin, now=now
        )
    elif password_hash is not None:
        raise Conflict(f"{email} has an account with a password already")
    return await invitations.invite(db, user=user, created_by=inviter.email, now=now)
