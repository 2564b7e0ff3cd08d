"""The docker token scope grammar: `type:name:actions`, parsed from both ends."""

from __future__ import annotations

import pytest

from cargohold.authz.errors import ScopeInvalid
from cargohold.authz.scopes import ResourceScope, parse_resource_scope, parse_resource_scopes


@pytest.mark.parametrize(
    ("text", "kind", "name", "actions"),
    [
        ("repository:acme/web:pull", "repository", "acme/web", {"pull"}),
        ("repository:acme/web:pull,push", "repository", "acme/web", {"pull", "push"}),
        ("repository:acme/web:push,pull,pull", "repository", "acme/web", {"pull", "push"}),
        ("repository:acme/web:*", "repository", "acme/web", {"*"}),
        ("repository:acme/web:delete", "repository", "acme/web", {"delete"}),
        ("registry:catalog:*", "registry", "catalog", {"*"}),
        # a name with a host and port: the type from the front, the actions from the back
        (
            "repository:127.0.0.1:5000/acme/web:pull",
            "repository",
            "127.0.0.1:5000/acme/web",
            {"pull"},
        ),
        ("repository:a:b:c:pull", "repository", "a:b:c", {"pull"}),
        # a resource class in parentheses is dropped
        ("repository(plugin):acme/web:pull", "repository", "acme/web", {"pull"}),
        # unknown actions parse (the grant simply leaves them out)
        ("repository:acme/web:frobnicate", "repository", "acme/web", {"frobnicate"}),
    ],
)
def test_parse_scope(text: str, kind: str, name: str, actions: set[str]) -> None:
    scope = parse_resource_scope(text)
    assert scope == ResourceScope(kind, name, frozenset(actions))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "repository",
        "repository:acme/web",
        "repository::pull",
        ":acme/web:pull",
        "Repository:acme/web:pull",
        "repo sitory:acme/web:pull",
        "repository(:acme/web:pull",
        "repository:acme/web:",
        "repository:acme/web:pull,",
        "repository:acme/web:,pull",
        "repository:acme/web:pull,,push",
        "repository:acme/web:PULL",
        "repository:acme/web:pull;push",
        "repository:acme/web:pull push",
        "repository:acme/web:pü",
        "repository:" + "a" * 1100 + ":pull",
    ],
)
def test_parse_scope_refuses(text: str) -> None:
    with pytest.raises(ScopeInvalid):
        parse_resource_scope(text)


def test_parse_scopes_splits_on_spaces_and_skips_empty_items() -> None:
    scopes = parse_resource_scopes(
        ["repository:acme/web:pull  repository:acme/api:pull,push", "", "registry:catalog:*"]
    )
    assert [str(s) for s in scopes] == [
        "repository:acme/web:pull",
        "repository:acme/api:pull,push",
        "registry:catalog:*",
    ]


def test_parse_scopes_refuses_when_any_item_is_malformed() -> None:
    with pytest.raises(ScopeInvalid):
        parse_resource_scopes(["repository:acme/web:pull bogus"])


def test_scope_text_and_claim() -> None:
    scope = ResourceScope("repository", "acme/web", frozenset({"push", "pull"}))
    assert str(scope) == "repository:acme/web:pull,push"
    assert scope.claim() == {"type": "repository", "name": "acme/web", "actions": ["pull", "push"]}
