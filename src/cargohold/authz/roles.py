"""Roles on a package, token scopes, and the registry actions they allow."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from cargohold.authz.errors import RoleUnknown, TokenScopeInvalid


class Role(enum.IntEnum):
    """What a principal may do with a package; each role includes the ones below it."""

    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named `text`, in any case; `RoleUnknown` for any other name."""
        try:
            return cls[text.upper()]
        except KeyError:
            raise RoleUnknown(f"unknown role {text!r}; use read, write or admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


SCOPES: dict[str, Role] = {
    "read:package": Role.READ,
    "write:package": Role.WRITE,
    "admin:package": Role.ADMIN,
}


def parse_token_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Validate token scopes; an unknown scope is an error (`TokenScopeInvalid`), never
    ignored."""
    result = set()
    for scope in scopes:
        if scope not in SCOPES:
            raise TokenScopeInvalid(
                f"unknown scope {scope!r}; use one of {', '.join(sorted(SCOPES))}"
            )
        result.add(scope)
    if not result:
        raise TokenScopeInvalid("a token needs at least one scope")
    return frozenset(result)


def scope_ceiling(scopes: Iterable[str]) -> Role:
    """The highest role a token's scopes let it act with (scopes only ever narrow)."""
    return max((SCOPES[s] for s in scopes if s in SCOPES), default=Role.NONE)


class Action(enum.Enum):
    """Registry operations. The values are distinct on purpose: members with equal values
    would be aliases of one another (DELETE_TAG would be PUSH)."""

    PULL = "pull"
    PUSH = "push"
    DELETE_TAG = "delete_tag"
    DELETE_IMAGE = "delete_image"  # a manifest by digest, or a blob

    @property
    def required(self) -> Role:
        """The least role the operation needs."""
        return _REQUIRED[self]

    @property
    def docker_action(self) -> str:
        """The action a docker bearer token must carry for this operation."""
        return "delete" if self in (Action.DELETE_TAG, Action.DELETE_IMAGE) else self.value


_REQUIRED = {
    Action.PULL: Role.READ,
    Action.PUSH: Role.WRITE,
    Action.DELETE_TAG: Role.WRITE,
    Action.DELETE_IMAGE: Role.ADMIN,
}


def allows(role: Role, action: Action) -> bool:
    return role >= action.required


def docker_actions(role: Role) -> frozenset[str]:
    """The docker token actions a role may be granted."""
    actions = set()
    if role >= Role.READ:
        actions.add("pull")
    if role >= Role.WRITE:
        actions.update({"push", "delete"})
    return frozenset(actions)
