"""Roles, token scopes and the registry actions they allow, as tables."""

from __future__ import annotations

import pytest

from cargohold.authz.errors import RoleUnknown, TokenScopeInvalid
from cargohold.authz.roles import (
    Action,
    Role,
    allows,
    docker_actions,
    parse_token_scopes,
    scope_ceiling,
)

NONE, READ, WRITE, ADMIN = Role.NONE, Role.READ, Role.WRITE, Role.ADMIN


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("none", NONE),
        ("read", READ),
        ("write", WRITE),
        ("admin", ADMIN),
        ("READ", READ),
        ("Write", WRITE),
        ("aDmIn", ADMIN),
    ],
)
def test_parse_role(text: str, role: Role) -> None:
    assert Role.parse(text) is role
    assert role.label == role.name.lower()


@pytest.mark.parametrize("text", ["", "owner", "member", "1", "3", " read", "read ", "pull", "*"])
def test_parse_role_refuses_unknown_names(text: str) -> None:
    with pytest.raises(RoleUnknown, match="unknown role"):
        Role.parse(text)


def test_roles_are_ordered() -> None:
    assert NONE < READ < WRITE < ADMIN


@pytest.mark.parametrize(
    ("scopes", "parsed"),
    [
        (["read:package"], {"read:package"}),
        (["write:package"], {"write:package"}),
        (["admin:package"], {"admin:package"}),
        (["read:package", "read:package"], {"read:package"}),
        (["read:package", "admin:package"], {"read:package", "admin:package"}),
    ],
)
def test_parse_scopes(scopes: list[str], parsed: set[str]) -> None:
    assert parse_token_scopes(scopes) == frozenset(parsed)


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ([], "at least one scope"),
        (["delete:package"], "unknown scope"),
        (["read:packages"], "unknown scope"),
        (["READ:PACKAGE"], "unknown scope"),
        (["read:package", "pull"], "unknown scope"),
        ([""], "unknown scope"),
        (["read:package write:package"], "unknown scope"),
    ],
)
def test_parse_scopes_refuses(scopes: list[str], message: str) -> None:
    with pytest.raises(TokenScopeInvalid, match=message):
        parse_token_scopes(scopes)


@pytest.mark.parametrize(
    ("scopes", "ceiling"),
    [
        ([], NONE),
        (["read:package"], READ),
        (["write:package"], WRITE),
        (["admin:package"], ADMIN),
        (["read:package", "write:package"], WRITE),
        (["admin:package", "read:package"], ADMIN),
        (["unknown", "read:package"], READ),
        (["unknown"], NONE),
    ],
)
def test_scope_ceiling(scopes: list[str], ceiling: Role) -> None:
    assert scope_ceiling(scopes) is ceiling


# role -> the actions it allows
ALLOWED = {
    NONE: set(),
    READ: {Action.PULL},
    WRITE: {Action.PULL, Action.PUSH, Action.DELETE_TAG},
    ADMIN: {Action.PULL, Action.PUSH, Action.DELETE_TAG, Action.DELETE_IMAGE},
}


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name.lower())
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.label)
def test_allows(role: Role, action: Action) -> None:
    assert allows(role, action) is (action in ALLOWED[role])


@pytest.mark.parametrize(
    ("action", "required", "docker_action"),
    [
        (Action.PULL, READ, "pull"),
        (Action.PUSH, WRITE, "push"),
        (Action.DELETE_TAG, WRITE, "delete"),
        (Action.DELETE_IMAGE, ADMIN, "delete"),
    ],
)
def test_action_needs(action: Action, required: Role, docker_action: str) -> None:
    assert action.required is required
    assert action.docker_action == docker_action


@pytest.mark.parametrize(
    ("role", "actions"),
    [
        (NONE, set()),
        (READ, {"pull"}),
        (WRITE, {"pull", "push", "delete"}),
        (ADMIN, {"pull", "push", "delete"}),
    ],
)
def test_docker_actions(role: Role, actions: set[str]) -> None:
    assert docker_actions(role) == frozenset(actions)
