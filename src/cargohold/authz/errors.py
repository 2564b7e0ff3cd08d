"""The refusals of access policy, typed so that callers catch exactly what they mean.

Each is a message a person can act on. None is a `ValueError`: a caller that turns a
bad role or scope into its own error (`Invalid`, `NAME_INVALID`, an OAuth2
`invalid_scope`) names the class it expects, and an unrelated `ValueError` is not
mistaken for one. Pure: no HTTP status here; the layers above decide how to answer.
"""

from __future__ import annotations


class AuthzError(Exception):
    """Base of every refusal of `cargohold.authz`."""


class RoleUnknown(AuthzError):
    """A role name that is not none, read, write or admin."""


class TokenScopeInvalid(AuthzError):
    """API token scopes that are unknown (not `read:package`...) or missing."""


class ScopeInvalid(AuthzError):
    """A docker scope string (`type:name:actions`) that does not follow the grammar."""


class TokenInvalid(AuthzError):
    """The bearer token is malformed, forged, expired, or for another service."""


class ClaimConditionInvalid(AuthzError):
    """A claim condition of an OpenID Connect trust policy that cannot be used."""
