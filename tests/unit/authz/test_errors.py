"""authz refuses with its own typed errors, never a bare ValueError."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cargohold.authz.errors import AuthzError, RoleUnknown, ScopeInvalid, TokenScopeInvalid
from cargohold.authz.roles import Role, parse_token_scopes
from cargohold.authz.scopes import parse_resource_scope


@pytest.mark.parametrize(
    ("parse", "error"),
    [
        (lambda: parse_resource_scope("repository:acme/web"), ScopeInvalid),
        (lambda: parse_token_scopes(["root"]), TokenScopeInvalid),
        (lambda: Role.parse("owner"), RoleUnknown),
    ],
    ids=["docker scope", "token scope", "role"],
)
def test_a_bad_scope_or_role_raises_its_typed_error_which_is_no_value_error(
    parse: Callable[[], object], error: type[AuthzError]
) -> None:
    with pytest.raises(error) as raised:
        parse()
    assert not isinstance(raised.value, ValueError)
