"""Single sign-on for people: OpenID Connect authorization code flow with PKCE.

The web UI sends the browser to the provider (`start`: a fresh state, nonce and PKCE
verifier, which the UI keeps in a signed cookie), and the provider sends it back with a
code, which `finish` exchanges at the token endpoint (through the outbound guard) for an
ID token. That token is checked like any (`id_tokens`: the signature against the
provider's keys, the times), then its audience (the client id), its authorized party and
its nonce. Then the person:

- a provider identity (issuer, subject) linked before signs in to its account;
- otherwise an account with the same email address is linked, but only when the provider
  says it verified that address (`email_verified` true): an unverified address could be
  anyone's;
- otherwise, with `sso_create_accounts`, an account is made (verified addresses only);
  without it only people whose account exists (made by an admin: invited) may sign in.

`sso_allowed_domains` limits every sign-in to those email domains. The email, when the
ID token lacks it, comes from the userinfo endpoint (with the same subject). The caller
starts a web session for the person as a password sign-in does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from cargohold.config import Settings
from cargohold.metadata.db import Queries
from cargohold.services.accounts import directory, id_tokens
from cargohold.services.accounts.directory import User
from cargohold.services.accounts.federation import FederationState
from cargohold.services.accounts.id_tokens import IdTokenRefused, Verified
from cargohold.services.accounts.openid import Discovery, ProviderError, fetch
from cargohold.services.errors import NotFound, ServiceError
from cargohold.services.events import outbox


class SignInRefused(ServiceError):
    """Single sign-on did not sign anyone in. `reason` says which rule refused, for the
    UI to say in the reader's language: provider, unverified, domain, no_account."""

    status = 403

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Started:
    """Where to send the browser, and what to keep until it comes back."""

    url: str
    state: str
    nonce: str
    verifier: str


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _discover(state: FederationState, settings: Settings) -> Discovery:
    assert settings.sso_issuer is not None
    try:
        found = await state.providers.discover(settings.sso_issuer, settings)
    except ProviderError as exc:
        raise SignInRefused("provider", exc.message) from None
    if found.authorization_endpoint is None or found.token_endpoint is None:
        raise SignInRefused(
            "provider", f"{settings.sso_issuer} names no authorization or token endpoint"
        )
    return found


async def start(state: FederationState, settings: Settings, *, redirect_uri: str) -> Started:
    """The provider's authorization URL for a new sign-in."""
    discovery = await _discover(state, settings)
    assert discovery.authorization_endpoint is not None
    nonce, verifier, request_state = (secrets.token_urlsafe(32) for _ in range(3))
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.sso_client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(settings.sso_scopes),
            "state": request_state,
            "nonce": nonce,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    joiner = "&" if "?" in discovery.authorization_endpoint else "?"
    return Started(
        f"{discovery.authorization_endpoint}{joiner}{query}", request_state, nonce, verifier
    )


async def _post_form(
    url: str, form: dict[str, str], settings: Settings, auth: str | None
) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    if auth is not None:
        headers["Authorization"] = auth
    try:
        content = urlencode(form).encode()
        reply = await fetch("POST", url, settings, headers=headers, content=content)
    except ProviderError as exc:
        raise SignInRefused("provider", exc.message) from None
    try:
        body = json.loads(reply.body)
    except ValueError:
        body = None
    if reply.status != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise SignInRefused(
            "provider",
            f"the provider's token endpoint answered HTTP {reply.status}"
            + (f" ({str(error)[:80]})" if error else ""),
        )
    return body


def _client_auth(settings: Settings) -> tuple[dict[str, str], str | None]:
    """client_secret_basic with a secret; a public client (PKCE alone) sends its id."""
    assert settings.sso_client_id is not None
    if not settings.sso_client_secret:
        return {"client_id": settings.sso_client_id}, None
    pair = f"{quote(settings.sso_client_id, safe='')}:{quote(settings.sso_client_secret, safe='')}"
    return {}, "Basic " + base64.b64encode(pair.encode()).decode()


async def _id_token(
    state: FederationState,
    settings: Settings,
    discovery: Discovery,
    *,
    code: str,
    redirect_uri: str,
    verifier: str,
    now: float,
) -> tuple[Verified, str | None]:
    assert discovery.token_endpoint is not None
    client, auth = _client_auth(settings)
    answer = await _post_form(
        discovery.token_endpoint,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            **client,
        },
        settings,
        auth,
    )
    token = answer.get("id_token")
    if not isinstance(token, str):
        raise SignInRefused("provider", "the provider's token endpoint sent no ID token")
    try:
        found = id_tokens.peek(token, settings)
        if found.issuer != settings.sso_issuer:
            raise IdTokenRefused(f"the ID token comes from another issuer ({found.issuer[:100]!r})")
        verified = await id_tokens.verify(found, state.providers, settings, now=now)
    except IdTokenRefused as exc:
        raise SignInRefused("provider", exc.message) from None
    access = answer.get("access_token")
    return verified, access if isinstance(access, str) else None


def _check_client(verified: Verified, settings: Settings, nonce: str) -> None:
    client_id = settings.sso_client_id
    if client_id not in verified.audiences:
        raise SignInRefused("provider", "the ID token is not meant for this registry (aud)")
    azp = verified.claims.get("azp")
    if (azp is not None or len(verified.audiences) > 1) and azp != client_id:
        raise SignInRefused("provider", "the ID token was issued to another client (azp)")
    if not isinstance(verified.claims.get("nonce"), str) or not secrets.compare_digest(
        verified.claims["nonce"], nonce
    ):
        raise SignInRefused("provider", "the ID token is not the answer to this sign-in (nonce)")


async def _userinfo(
    discovery: Discovery, settings: Settings, access_token: str, subject: str
) -> dict[str, Any]:
    """The person's claims from the userinfo endpoint; nothing when there is none."""
    if discovery.userinfo_endpoint is None:
        return {}
    try:
        reply = await fetch(
            "GET",
            discovery.userinfo_endpoint,
            settings,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        info = json.loads(reply.body) if reply.status == 200 else None
    except (ProviderError, ValueError):
        return {}
    if not isinstance(info, dict) or info.get("sub") != subject:
        return {}
    return info


def _verified_email(claims: dict[str, Any]) -> bool:
    return claims.get("email_verified") in (True, "true")


@dataclass(frozen=True, slots=True)
class Person:
    """Who the provider says signed in."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


async def identify(
    state: FederationState,
    settings: Settings,
    *,
    code: str,
    redirect_uri: str,
    nonce: str,
    verifier: str,
    now: float,
) -> Person:
    """Exchange the code and check the ID token: who signed in at the provider. Talks to
    the provider: call it outside any transaction."""
    discovery = await _discover(state, settings)
    verified, access = await _id_token(
        state,
        settings,
        discovery,
        code=code,
        redirect_uri=redirect_uri,
        verifier=verifier,
        now=now,
    )
    _check_client(verified, settings, nonce)
    if len(verified.subject) > 255:
        raise SignInRefused("provider", "the provider's subject identifier is too long")
    claims = dict(verified.claims)
    if "email" not in claims and access is not None:
        info = await _userinfo(discovery, settings, access, verified.subject)
        for claim in ("email", "email_verified", "name"):
            if claim in info:
                claims[claim] = info[claim]
    email, name = claims.get("email"), claims.get("name")
    return Person(
        issuer=verified.issuer,
        subject=verified.subject,
        email=email.strip().lower()[:320] if isinstance(email, str) and email.strip() else None,
        email_verified=_verified_email(claims),
        name=name[:200] if isinstance(name, str) and name.strip() else None,
    )


def _check_domain(person: Person, settings: Settings) -> None:
    allowed = settings.sso_allowed_domains
    if not allowed:
        return
    domain = (person.email or "").rpartition("@")[2]
    if domain not in allowed:
        raise SignInRefused(
            "domain",
            f"{person.email or 'an account without an email address'} may not sign in here;"
            f" single sign-on is open to {', '.join('@' + d for d in allowed)}",
        )


async def account(tx: Queries, person: Person, settings: Settings, *, now: float) -> User:
    """The account of the person who signed in: linked before, linked now by verified
    email, or made now (`sso_create_accounts`); `SignInRefused` otherwise."""
    _check_domain(person, settings)
    row = await tx.fetchone(
        "SELECT user_id FROM sso_identities WHERE issuer = :i AND subject = :s",
        {"i": person.issuer, "s": person.subject},
    )
    if row is not None:
        await tx.execute(
            "UPDATE sso_identities SET last_used_at = :now WHERE issuer = :i AND subject = :s",
            {"now": now, "i": person.issuer, "s": person.subject},
        )
        return await directory.get_user(tx, int(row["user_id"]))
    if person.email is None:
        raise SignInRefused("unverified", "the provider did not say which email address signed in")
    if not person.email_verified:
        raise SignInRefused(
            "unverified",
            f"the provider has not verified the email address {person.email}; an account is"
            " linked by a verified email address only",
        )
    try:
        user = await directory.find_user(tx, person.email)
    except NotFound:
        if not settings.sso_create_accounts:
            raise SignInRefused(
                "no_account",
                f"there is no account for {person.email}; ask an administrator to invite"
                f" you (cargohold user create {person.email})",
            ) from None
        user = await directory.create_user(
            tx, email=person.email, display_name=person.name, now=now
        )
    await tx.execute(
        "INSERT INTO sso_identities (issuer, subject, user_id, created_at, last_used_at)"
        " VALUES (:i, :s, :u, :now, :now)",
        {"i": person.issuer, "s": person.subject, "u": user.id, "now": now},
    )
    await outbox.record(
        tx,
        "user.sso_linked",
        target=user.email,
        data={"email": user.email, "issuer": person.issuer, "subject": person.subject},
        at=now,
    )
    return user
