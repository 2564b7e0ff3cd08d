"""The audit log through the API: who reads it, what it answers, how it filters and pages,
and an entry for each kind of change made through the API (docs/audit.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cargohold.services.accounts import directory
from cargohold.services.errors import Conflict
from cargohold.services.registry.checked import packages
from tests.functional.api.people import PEOPLE, Api, assert_problem, email

WS_LOG = "/workspaces/acme/audit"


@pytest.fixture(autouse=True)
async def tokens_made(api: Api) -> None:
    """Everyone's token made up front: making one is itself an event (token.created)."""
    for who in PEOPLE:
        await api.token(who)


async def entries(
    api: Api, path: str = "/audit", who: str = "site_admin", **params: Any
) -> list[dict[str, Any]]:
    response = await api.get(path, who, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def last(api: Api, action: str) -> dict[str, Any]:
    """The newest entry of `action`, as site admins read it."""
    found = await entries(api, action=action, limit=1)
    assert found, f"no {action} entry"
    return found[0]


def by(entry: dict[str, Any], who: str) -> None:
    """The entry names `who` as the person who acted, through their API token."""
    assert entry["actor"]["kind"] == "user"
    assert entry["actor"]["name"] == email(who)
    assert entry["data"]["token_id"]  # which of their tokens


# Who reads which log


async def test_owners_read_their_workspace_log_newest_first(api: Api) -> None:
    assert (await api.post("/workspaces/acme/projects", "owner", json={"key": "OPS"})).is_success
    found = await entries(api, WS_LOG, "owner")
    assert found[0]["action"] == "project.created"
    assert [e["id"] for e in found] == sorted((e["id"] for e in found), reverse=True)
    assert {e["workspace"] for e in found} == {"acme"}


async def test_any_personal_token_of_an_owner_reads_the_log(api: Api) -> None:
    response = await api.get(WS_LOG, "owner", scope="read:package")
    assert response.status_code == 200


async def test_an_entry_has_id_time_action_actor_and_target(api: Api) -> None:
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    assert (await api.post("/packages", "owner", json=body)).status_code == 201
    entry = (await entries(api, WS_LOG, "owner"))[0]
    assert isinstance(entry["id"], int)
    assert datetime.fromisoformat(entry["time"]).utcoffset() == UTC.utcoffset(None)
    assert entry["action"] == "package.created" and entry["outcome"] == "ok"
    assert entry["actor"]["kind"] == "user" and entry["actor"]["name"] == email("owner")
    assert entry["target"] == "acme/web/worker, linked to acme/web"
    assert (entry["package"], entry["repository"]) == ("acme/web/worker", "acme/web")
    assert entry["client_address"] == "127.0.0.1"
    assert set(entry) >= {"tag", "digest", "data", "request_id"}


async def test_members_who_do_not_own_the_workspace_may_not_read_its_log(api: Api) -> None:
    assert_problem(await api.get(WS_LOG, "member"), 403)


async def test_people_outside_the_workspace_do_not_see_its_log(api: Api) -> None:
    assert_problem(await api.get(WS_LOG, "outsider"), 404)
    assert_problem(await api.get(WS_LOG, "other"), 404)
    assert_problem(await api.get("/workspaces/nope/audit", "owner"), 404)


async def test_without_credentials_no_log_is_read(api: Api) -> None:
    assert_problem(await api.get(WS_LOG), 401)
    assert_problem(await api.get("/audit"), 401)


async def test_access_tokens_read_no_log(api: Api) -> None:
    secret = await api.access_token("acme", "admin:package")
    headers = {"Authorization": f"Bearer {secret}"}
    assert_problem(await api.client.get(f"/api/v1{WS_LOG}", headers=headers), 403)
    assert_problem(await api.client.get("/api/v1/audit", headers=headers), 403)


async def test_site_admins_read_every_workspace_and_the_site_log(api: Api) -> None:
    assert (await api.get(WS_LOG, "site_admin")).status_code == 200
    assert (await api.get("/workspaces/globex/audit", "site_admin")).status_code == 200
    workspaces = {e["workspace"] for e in await entries(api, limit=1000)}
    assert {"acme", "globex", None} <= workspaces


async def test_only_site_admins_read_the_site_log(api: Api) -> None:
    for who in ("owner", "member", "outsider"):
        assert_problem(await api.get("/audit", who), 403)


async def test_nothing_changes_or_deletes_an_entry(api: Api) -> None:
    entry = (await entries(api, limit=1))[0]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in (WS_LOG, "/audit", f"/audit/{entry['id']}"):
            response = await api.request(method, path, "site_admin", json={})
            assert response.status_code in (404, 405), (method, path)
    assert (await entries(api, limit=1))[0] == entry


# Filters and pages


async def test_filters_narrow_by_actor_action_package_and_time(api: Api) -> None:
    await api.push("acme/web/api", "v1")
    assert (await api.delete("/packages/acme/web/api/-/tags/v1", "writer")).status_code == 204
    deleted = await entries(api, WS_LOG, "owner", actor=email("writer"))
    assert [e["action"] for e in deleted] == ["tag.deleted"]
    assert [e["action"] for e in await entries(api, WS_LOG, "owner", action="tag")] == [
        "tag.deleted"
    ]
    pushed = await entries(api, WS_LOG, "owner", action="manifest.pushed")
    assert [(e["package"], e["tag"]) for e in pushed] == [("acme/web/api", "v1")]
    assert {e["package"] for e in await entries(api, WS_LOG, "owner", package="acme/web/api")} == {
        "acme/web/api"
    }
    assert await entries(api, WS_LOG, "owner", since="2999-01-01") == []
    assert await entries(api, WS_LOG, "owner", until="2000-01-01T00:00:00Z") == []
    assert len(await entries(api, WS_LOG, "owner", since="1h")) == len(
        await entries(api, WS_LOG, "owner", limit=1000)
    )


async def test_pages_follow_each_other_through_next(api: Api) -> None:
    everything = await entries(api, limit=1000)
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        response = await api.get("/audit", "site_admin", params=params)
        body = response.json()
        seen += [e["id"] for e in body["items"]]
        if body["next"] is None:
            break
        params["after"] = body["next"]
    assert seen == [e["id"] for e in everything]


async def test_a_bound_that_is_no_time_is_refused(api: Api) -> None:
    body = assert_problem(await api.get(WS_LOG, "owner", params={"since": "yesterday"}), 422)
    assert "yesterday" in body["detail"]
    assert_problem(await api.get(WS_LOG, "owner", params={"after": "x"}), 422)


async def test_an_after_beyond_any_entry_id_is_refused_not_an_error(api: Api) -> None:
    body = assert_problem(await api.get(WS_LOG, "owner", params={"after": str(2**64)}), 422)
    assert "after" in body["detail"]


# Each kind of change made through the API


async def test_creating_a_package_is_recorded(api: Api) -> None:
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    assert (await api.post("/packages", "admin", json=body)).status_code == 201
    by(await last(api, "package.created"), "admin")


async def test_moving_a_package_is_recorded_with_where_from_and_to(api: Api) -> None:
    body = {"repository": "acme/site"}
    assert (await api.patch("/packages/acme/web/api", "owner", json=body)).status_code == 200
    entry = await last(api, "package.moved")
    by(entry, "owner")
    assert entry["data"]["from"] == "acme/web" and entry["data"]["to"] == "acme/site"


async def test_deleting_a_package_is_recorded(api: Api) -> None:
    assert (await api.delete("/packages/acme/web/db", "admin")).status_code == 204
    entry = await last(api, "package.deleted")
    by(entry, "admin")
    assert entry["package"] == "acme/web/db"


async def test_deleting_a_tag_is_recorded(api: Api) -> None:
    digest = await api.push("acme/web/api", "v1")
    assert (await api.delete("/packages/acme/web/api/-/tags/v1", "writer")).status_code == 204
    entry = await last(api, "tag.deleted")
    by(entry, "writer")
    assert (entry["tag"], entry["digest"]) == ("v1", digest)


async def test_a_push_through_v2_is_recorded_as_the_person_who_pushed(api: Api) -> None:
    digest = await api.push("acme/web/api", "v1")
    entry = await last(api, "manifest.pushed")
    by(entry, "owner")
    assert (entry["package"], entry["tag"], entry["digest"]) == ("acme/web/api", "v1", digest)


@pytest.mark.parametrize(
    ("request_body", "action", "status"),
    [
        ({"owner": False}, "member.added", 201),
        ({"owner": True}, "member.added", 201),
    ],
)
async def test_adding_a_member_is_recorded(
    api: Api, request_body: dict[str, Any], action: str, status: int
) -> None:
    path = f"/workspaces/acme/members/{email('outsider')}"
    assert (await api.put(path, "owner", json=request_body)).status_code == status
    entry = await last(api, action)
    by(entry, "owner")
    assert entry["data"] == {
        "email": email("outsider"),
        "owner": request_body["owner"],
        "token_id": entry["data"]["token_id"],
    }


async def test_making_a_member_an_owner_is_recorded(api: Api) -> None:
    path = f"/workspaces/acme/members/{email('member')}"
    assert (await api.put(path, "owner", json={"owner": True})).status_code == 200
    entry = await last(api, "member.changed")
    assert (entry["data"]["email"], entry["data"]["owner"]) == (email("member"), True)


async def test_a_change_to_nothing_new_is_not_recorded(api: Api) -> None:
    before = await entries(api, limit=1)
    path = f"/workspaces/acme/members/{email('member')}"
    assert (await api.put(path, "owner", json={"owner": False})).status_code == 200
    assert await entries(api, limit=1) == before


async def test_removing_a_member_is_recorded(api: Api) -> None:
    path = f"/workspaces/acme/members/{email('member')}"
    assert (await api.delete(path, "owner")).status_code == 204
    entry = await last(api, "member.removed")
    by(entry, "owner")
    assert entry["data"]["email"] == email("member")


async def test_granting_and_changing_roles_is_recorded(api: Api) -> None:
    repo = f"/workspaces/acme/repositories/web/grants/{email('reader')}"
    assert (await api.put(repo, "owner", json={"role": "write"})).status_code == 200
    entry = await last(api, "grant.changed")
    assert entry["repository"] == "acme/web"
    assert (entry["data"]["from"], entry["data"]["role"]) == ("read", "write")
    project = f"/workspaces/acme/projects/PLAT/grants/{email('outsider')}"
    assert (await api.put(project, "owner", json={"role": "read"})).status_code == 200
    entry = await last(api, "grant.changed")
    assert entry["workspace"] == "acme" and entry["target"].endswith("project PLAT of acme: read")
    assert (entry["data"]["from"], entry["data"]["role"]) == (None, "read")


async def test_removing_a_grant_is_recorded(api: Api) -> None:
    path = f"/workspaces/acme/repositories/web/grants/{email('reader')}"
    assert (await api.delete(path, "owner")).status_code == 204
    entry = await last(api, "grant.removed")
    by(entry, "owner")
    assert (entry["repository"], entry["data"]["email"]) == ("acme/web", email("reader"))


async def test_making_a_repository_public_is_recorded(api: Api) -> None:
    path = "/workspaces/acme/repositories/web"
    assert (await api.patch(path, "owner", json={"public": True})).status_code == 200
    entry = await last(api, "repository.visibility_changed")
    by(entry, "owner")
    assert (entry["repository"], entry["data"]["public"]) == ("acme/web", True)


async def test_creating_a_repository_and_a_project_is_recorded(api: Api) -> None:
    assert (await api.post("/workspaces/acme/projects", "owner", json={"key": "OPS"})).is_success
    body = {"slug": "infra", "project": "OPS"}
    assert (await api.post("/workspaces/acme/repositories", "owner", json=body)).is_success
    assert (await last(api, "project.created"))["data"]["key"] == "OPS"
    assert (await last(api, "repository.created"))["repository"] == "acme/infra"


async def test_creating_and_renaming_a_workspace_is_recorded(api: Api) -> None:
    assert (await api.post("/workspaces", "outsider", json={"slug": "initech"})).is_success
    created = await last(api, "workspace.created")
    by(created, "outsider")
    assert created["workspace"] == "initech"
    owner = await last(api, "member.added")
    assert (owner["workspace"], owner["data"]["email"]) == ("initech", email("outsider"))
    renamed = await api.patch("/workspaces/initech", "outsider", json={"name": "Initech"})
    assert renamed.status_code == 200
    changed = await last(api, "workspace.changed")
    assert changed["data"]["name"] == {"from": "initech", "to": "Initech"}


async def test_settings_changes_are_recorded_with_from_and_to(api: Api) -> None:
    assert (await api.patch("/workspaces/acme", "owner", json={"create_on_push": True})).is_success
    quota = await api.put("/workspaces/acme/quota", "site_admin", json={"quota_bytes": 10_000})
    assert quota.is_success
    patterns = {"patterns": ["v*"]}
    assert (await api.put("/packages/acme/web/api/-/protection", "admin", json=patterns)).is_success
    policy = {"keep_newest": 5}
    assert (await api.put("/packages/acme/web/api/-/retention", "admin", json=policy)).is_success
    assert (await api.delete("/packages/acme/web/api/-/retention", "admin")).status_code == 204
    found = await entries(api, WS_LOG, "owner", action="settings.changed")
    settings = [(e["data"]["setting"], e["data"]["from"], e["data"]["to"]) for e in found]
    assert settings == [
        (
            "retention",
            {"keep_newest": 5, "keep_pattern": [], "untagged_days": None, "tag_days": None},
            None,
        ),
        (
            "retention",
            None,
            {"keep_newest": 5, "keep_pattern": [], "untagged_days": None, "tag_days": None},
        ),
        ("protection", [], ["v*"]),
        ("quota_bytes", None, 10_000),
        ("create_on_push", False, True),
    ]
    assert found[3]["actor"]["name"] == email("site_admin")


async def test_running_a_retention_policy_records_what_it_deleted(api: Api) -> None:
    await api.push("acme/web/api", "v1")
    await api.push("acme/web/api", "v2")
    policy = {"keep_newest": 1, "confirm_delete_all_tags": True}
    assert (await api.put("/packages/acme/web/api/-/retention", "admin", json=policy)).is_success
    assert (await api.post("/packages/acme/web/api/-/retention/run", "admin")).is_success
    entry = await last(api, "retention.deleted")
    by(entry, "admin")
    assert entry["data"]["tag_count"] == 1
    assert [t["name"] for t in entry["data"]["tags"]] == ["v1"]


async def test_making_and_revoking_tokens_is_recorded_without_their_secret(api: Api) -> None:
    new = {"name": "laptop", "scopes": ["read:package"], "expires_in": "30d"}
    created = await api.post("/user/tokens", "reader", json=new)
    assert created.status_code == 201
    entry = await last(api, "token.created")
    by(entry, "reader")
    assert entry["data"]["name"] == "laptop" and entry["data"]["kind"] == "personal"
    assert created.json()["token"] not in str(entry)
    token_id = created.json()["id"]
    assert (await api.delete(f"/user/tokens/{token_id}", "reader")).status_code == 204
    assert (await last(api, "token.revoked"))["data"]["id"] == token_id
    robot = await api.post("/workspaces/acme/access-tokens", "owner", json=new)
    assert robot.status_code == 201
    entry = await last(api, "token.created")
    assert (entry["workspace"], entry["data"]["kind"]) == ("acme", "workspace")
    assert robot.json()["token"] not in str(entry)


async def test_what_an_access_token_changes_is_recorded_as_the_token(api: Api) -> None:
    secret = await api.access_token("acme/web", "admin:package")
    response = await api.client.delete(
        "/api/v1/packages/acme/web/db", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 204
    entry = await last(api, "package.deleted")
    assert (entry["actor"]["kind"], entry["actor"]["name"]) == ("token", "robot")


async def test_the_entry_has_the_request_id_of_the_answer(api: Api) -> None:
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    response = await api.post("/packages", "owner", json=body)
    assert response.status_code == 201
    assert (await last(api, "package.created"))["request_id"] == response.headers["x-request-id"]


async def test_a_docker_login_at_the_token_endpoint_has_the_request_id_of_the_answer(
    api: Api,
) -> None:
    async with api.context.db.transaction() as tx:
        owner = await directory.find_user(tx, email("owner"))
        assert owner is not None
        await directory.set_password(tx, user=owner, password="a long enough password")
    response = await api.client.get("/token", auth=(email("owner"), "a long enough password"))
    assert response.status_code == 200, response.text
    entry = await last(api, "signin.succeeded")
    assert entry["request_id"] == response.headers["x-request-id"]
    refused = await api.client.get("/token", auth=(email("owner"), "not-the-token"))
    assert refused.status_code == 401
    assert (await last(api, "signin.failed"))["request_id"] == refused.headers["x-request-id"]


async def test_a_change_rolled_back_after_its_event_leaves_no_entry(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package row and its event are written, then the request fails inside the same
    transaction: neither stays."""

    async def refuse(*args: object, **kwargs: object) -> None:
        raise Conflict("refused after the package and its event were written")

    monkeypatch.setattr(packages, "show_package", refuse)
    before = await api.rows("SELECT id FROM events ORDER BY id")
    body = {"name": "acme/web/worker", "repository": "acme/web"}
    assert_problem(await api.post("/packages", "owner", json=body), 409)
    assert await api.rows("SELECT id FROM events ORDER BY id") == before
    assert await api.rows("SELECT * FROM packages WHERE name = 'acme/web/worker'") == []
