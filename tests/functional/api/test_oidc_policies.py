"""/workspaces/{ws}/oidc-policies: the trust policies that let CI pipelines log in with an
OpenID Connect ID token. Owners (and site admins) manage them with an admin:package token;
everyone else is refused as for access tokens."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.people import Api, assert_problem

PATH = "/workspaces/acme/oidc-policies"
GITHUB = "https://token.actions.githubusercontent.com"
NEW: dict[str, Any] = {
    "issuer": GITHUB,
    "audience": "https://registry.example.com",
    "claims": {"repository": "acme/web", "ref": "refs/heads/main"},
    "repository": "web",
    "role": "write",
}


async def test_an_owner_creates_a_policy_and_gets_its_id(api: Api) -> None:
    response = await api.post(PATH, "owner", json=NEW)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] and len(created["id"]) == 12
    assert response.headers["location"] == f"/api/v1{PATH}/{created['id']}"
    assert {k: created[k] for k in ("workspace", "repository", "issuer", "role")} == {
        "workspace": "acme",
        "repository": "web",
        "issuer": GITHUB,
        "role": "write",
    }
    assert created["claims"] == NEW["claims"]
    assert created["lifetime"] == 900  # 15 minutes unless said
    assert created["created_by"] == "owner@example.com"


async def test_a_policy_is_listed_and_read_back(api: Api) -> None:
    created = (await api.post(PATH, "owner", json=NEW)).json()
    listing = await api.get(PATH, "owner")
    assert [item["id"] for item in listing.json()["items"]] == [created["id"]]
    assert (await api.get(f"{PATH}/{created['id']}", "owner")).json() == created


async def test_a_workspace_policy_names_no_repository(api: Api) -> None:
    body = {**NEW, "repository": None, "workspace": True, "role": "read", "lifetime": "1h"}
    created = (await api.post(PATH, "owner", json=body)).json()
    assert (created["repository"], created["role"], created["lifetime"]) == (None, "read", 3600)


async def test_a_deleted_policy_is_gone(api: Api) -> None:
    created = (await api.post(PATH, "owner", json=NEW)).json()
    assert (await api.delete(f"{PATH}/{created['id']}", "owner")).status_code == 204
    assert_problem(await api.get(f"{PATH}/{created['id']}", "owner"), 404)
    assert (await api.get(PATH, "owner")).json()["items"] == []


async def test_creating_and_deleting_are_in_the_audit_log(api: Api) -> None:
    created = (await api.post(PATH, "owner", json=NEW)).json()
    await api.delete(f"{PATH}/{created['id']}", "owner")
    rows = await api.rows(
        "SELECT action, workspace, repository, actor_name FROM events"
        " WHERE action LIKE 'oidc_policy.%' ORDER BY id"
    )
    assert [(r["action"], r["workspace"], r["repository"]) for r in rows] == [
        ("oidc_policy.created", "acme", "acme/web"),
        ("oidc_policy.deleted", "acme", "acme/web"),
    ]


INVALID: list[tuple[dict[str, Any], int, str]] = [
    ({"issuer": "http://token.example.com"}, 422, "(http:// is not allowed here)"),
    ({"issuer": "https://user:pw@issuer.example.com"}, 422, "user information or a query"),
    ({"issuer": "not a url"}, 422, "must start with https://"),
    ({"lifetime": "2h"}, 422, "1 minute to 1 hour"),
    ({"lifetime": "30s"}, 422, "1 minute to 1 hour"),
    ({"claims": {}}, 422, "claims"),
    ({"claims": {"aud": "x"}}, 422, "checked by the policy itself"),
    ({"claims": {"repository": "**"}}, 422, "matches every value"),
    ({"role": "none"}, 422, "role"),
    ({"repository": "nope"}, 404, "no repository 'acme/nope'"),
    ({"workspace": True}, 422, 'either "repository" or "workspace"'),
    ({"repository": None}, 422, 'either "repository" or "workspace"'),
    ({"audience": " "}, 422, "audience needs 1 to 500"),
]


@pytest.mark.parametrize(("change", "status", "message"), INVALID)
async def test_a_policy_that_cannot_be_used_is_refused_with_the_reason(
    api: Api, change: dict[str, Any], status: int, message: str
) -> None:
    body = assert_problem(await api.post(PATH, "owner", json={**NEW, **change}), status)
    assert message in body["detail"], body


@pytest.mark.settings(oidc_allow_http_issuers=True)
async def test_http_issuers_are_taken_where_the_setting_allows_them(api: Api) -> None:
    response = await api.post(PATH, "owner", json={**NEW, "issuer": "http://127.0.0.1:9"})
    assert response.status_code == 201, response.text


# Who may: workspace owners and site admins, with an admin:package token to change; members
# may not (403); anyone else does not see the workspace (404); robots manage nothing (403);
# nobody without credentials (401).
WHO: list[tuple[str | None, str, int, int]] = [
    # who, token scope, list, create
    ("owner", "admin:package", 200, 201),
    ("site_admin", "admin:package", 200, 201),
    ("owner", "write:package", 200, 403),
    ("member", "admin:package", 403, 403),
    ("admin", "admin:package", 404, 404),  # repository admin, not a member of acme
    ("other", "admin:package", 404, 404),
    ("outsider", "admin:package", 404, 404),
    (None, "", 401, 401),
]


@pytest.mark.parametrize(("who", "scope", "listing", "creating"), WHO)
async def test_only_owners_manage_trust_policies(
    api: Api, who: str | None, scope: str, listing: int, creating: int
) -> None:
    existing = (await api.post(PATH, "owner", json=NEW)).json()["id"]
    kw: dict[str, Any] = {"scope": scope} if who else {}
    assert (await api.get(PATH, who, **kw)).status_code == listing
    assert (await api.get(f"{PATH}/{existing}", who, **kw)).status_code == listing
    assert (await api.post(PATH, who, json=NEW, **kw)).status_code == creating
    deleting = await api.delete(f"{PATH}/{existing}", who, **kw)
    assert deleting.status_code == (204 if creating == 201 else creating)


@pytest.mark.parametrize("owner", ["acme", "acme/web"])
async def test_access_tokens_manage_no_trust_policies(api: Api, owner: str) -> None:
    robot = {"Authorization": f"Bearer {await api.access_token(owner, 'admin:package')}"}
    body = assert_problem(await api.post(PATH, json=NEW, headers=robot), 403)
    assert "access tokens act on packages only" in body["detail"]
    assert_problem(await api.get(PATH, headers=robot), 403)


async def test_a_policy_of_another_workspace_is_not_found_through_this_one(api: Api) -> None:
    theirs = await api.post(
        "/workspaces/globex/oidc-policies", "other", json={**NEW, "repository": "app"}
    )
    assert theirs.status_code == 201, theirs.text
    policy = theirs.json()["id"]
    assert_problem(await api.get(f"{PATH}/{policy}", "owner"), 404)
    assert_problem(await api.delete(f"{PATH}/{policy}", "owner"), 404)
