"""How replication reaches a remote registry: the outbound guard's policy for it
(services/outbound.py), and the rule for plain http (loopback only, unless
`mirror_allow_http`)."""

from __future__ import annotations

from cargohold.config import Settings
from cargohold.services import outbound
from cargohold.services.remote.client import Credentials, Remote

MAX_ANSWER = 4 * 1024 * 1024  # a manifest the remote holds, read back; error bodies


def policy_of(settings: Settings) -> outbound.Policy:
    timeout = settings.replication_timeout
    return outbound.Policy(
        allowed_networks=outbound.parse_networks(settings.replication_allowed_networks),
        allow_http=settings.mirror_allow_http,
        resolve_timeout=min(5.0, timeout),
        connect_timeout=min(10.0, timeout),
        read_timeout=timeout,
        total_timeout=timeout,
        max_response_bytes=MAX_ANSWER,
        overflow="error",
    )


async def check(url: str, settings: Settings) -> None:
    """Where `url` leads passes the guard; plain http only to a loopback address unless
    `mirror_allow_http` (raises outbound.Refused, or the lookup's errors)."""
    policy = policy_of(settings)
    target, _ = await outbound.check(url, policy)
    if target.scheme != "http" or settings.mirror_allow_http:
        return
    addresses = await outbound.resolve(target.host, target.port, timeout=policy.resolve_timeout)
    if not all(address.is_loopback for address in addresses):
        raise outbound.Refused(
            "plain http:// goes only to loopback addresses (mirror_allow_http allows it"
            " elsewhere); use https://"
        )


def remote(url: str, settings: Settings, username: str | None, password: str | None) -> Remote:
    credentials = Credentials(username, password) if username and password else None
    return Remote(url, credentials=credentials, policy=policy_of(settings))
