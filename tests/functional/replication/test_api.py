"""Replication rules through the management API: who makes them, what is refused, what is
recorded, and which pushes become jobs (docs/replication.md)."""

from __future__ import annotations

import json

import pytest

from cargohold.services.registry.replication import jobs as job_rows
from tests.functional.api.people import Api, assert_problem
from tests.functional.replication.conftest import create, jobs

REMOTE = "http://127.0.0.1:9"  # nothing listens: these tests copy nothing
BASE = "/workspaces/acme/replications"


async def test_an_owner_replicates_the_workspace_and_the_password_is_never_shown(
    api: Api,
) -> None:
    made = await create(
        api, url=REMOTE + "/", prefix="/mirror/", username="ci", password="s3cret-password"
    )
    assert (made["package"], made["url"], made["prefix"]) == (None, REMOTE, "mirror")
    assert (made["username"], made["has_password"], made["active"]) == ("ci", True, True)
    assert made["jobs"] == {"pending": 0, "done": 0, "failed": 0}
    for response in (
        await api.get(BASE, "owner"),
        await api.get(f"{BASE}/{made['id']}", "owner"),
    ):
        assert response.status_code == 200
        assert "s3cret-password" not in response.text
    [row] = await api.rows("SELECT password FROM replications")
    assert row["password"].startswith("v1.") and "s3cret" not in row["password"]


async def test_a_package_admin_replicates_that_package_and_sees_only_its_rules(
    api: Api,
) -> None:
    await create(api, url=REMOTE)
    mine = await create(api, "admin", url=REMOTE, package="web/api")
    assert mine["package"] == "acme/web/api"
    listed = await api.get(BASE, "admin")
    assert [item["id"] for item in listed.json()["items"]] == [mine["id"]]
    assert len((await api.get(BASE, "owner")).json()["items"]) == 2


async def test_only_owners_replicate_the_whole_workspace(api: Api) -> None:
    body = assert_problem(await api.post(BASE, "member", json={"url": REMOTE}), 403)
    assert "owners" in body["detail"]
    refused = await api.post(BASE, "writer", json={"url": REMOTE, "package": "web/api"})
    assert "needs admin" in assert_problem(refused, 403)["detail"]
    assert await api.rows("SELECT id FROM replications") == []


@pytest.mark.settings(replication_allowed_networks=[])
async def test_a_loopback_remote_is_refused_without_the_allowed_networks(api: Api) -> None:
    body = assert_problem(await api.post(BASE, "owner", json={"url": REMOTE}), 422)
    assert "loopback" in body["detail"]


@pytest.mark.settings(replication_allowed_networks=["127.0.0.0/8", "10.0.0.0/8"])
async def test_plain_http_goes_only_to_loopback_addresses(api: Api) -> None:
    body = assert_problem(await api.post(BASE, "owner", json={"url": "http://10.1.2.3"}), 422)
    assert "loopback" in body["detail"] and "https://" in body["detail"]


@pytest.mark.settings(replication_allowed_networks=["127.0.0.0/8", "10.0.0.0/8"])
@pytest.mark.settings(mirror_allow_http=True)
async def test_mirror_allow_http_lets_plain_http_beyond_loopback(api: Api) -> None:
    made = await create(api, url="http://10.1.2.3:5000")
    assert made["url"] == "http://10.1.2.3:5000"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"url": REMOTE + "/v2/acme"}, "address only"),
        ({"url": "http://ci:pw@127.0.0.1:9"}, "username and password"),
        ({"url": "ftp://127.0.0.1"}, "https://"),
        ({"url": REMOTE, "prefix": "Upper/Case"}, "prefix"),
        ({"url": REMOTE, "username": "ci"}, "both a username and a password"),
        ({"url": REMOTE, "username": "ci", "password": "pw\n"}, "printable"),
        ({"url": REMOTE, "package": "web//api"}, "not a package name"),
    ],
)
async def test_a_malformed_rule_is_refused_with_what_to_change(
    api: Api, body: dict[str, str], words: str
) -> None:
    problem = assert_problem(await api.post(BASE, "owner", json=body), 422)
    assert words in problem["detail"]
    assert await api.rows("SELECT id FROM replications") == []


async def test_credentials_that_cannot_go_in_a_header_are_refused(api: Api) -> None:
    """A lone surrogate (valid JSON, not UTF-8) in the username."""
    body = b'{"url": "' + REMOTE.encode() + b'", "username": "ci\\udcff", "password": "pw"}'
    response = await api.post(
        BASE, "owner", content=body, headers={"Content-Type": "application/json"}
    )
    assert "username" in assert_problem(response, 422)["detail"]
    assert await api.rows("SELECT id FROM replications") == []


async def test_unknown_fields_and_out_of_range_ids_are_refused(api: Api) -> None:
    assert_problem(await api.post(BASE, "owner", json={"url": REMOTE, "secret": "x"}), 422)
    assert_problem(await api.get(f"{BASE}/{2**40}", "owner"), 422)
    assert_problem(await api.get(f"{BASE}/12", "owner"), 404)


async def test_changes_are_recorded_in_the_audit_log_without_the_password(api: Api) -> None:
    made = await create(api, url=REMOTE, username="ci", password="s3cret-password")
    changed = await api.patch(f"{BASE}/{made['id']}", "owner", json={"prefix": "copies"})
    assert changed.status_code == 200 and changed.json()["prefix"] == "copies"
    assert (await api.delete(f"{BASE}/{made['id']}", "owner")).status_code == 204
    rows = await api.rows(
        "SELECT action, actor_name, data FROM events WHERE action LIKE 'replication.%' ORDER BY id"
    )
    assert [row["action"] for row in rows] == [
        "replication.created",
        "replication.changed",
        "replication.deleted",
    ]
    assert {row["actor_name"] for row in rows} == {"owner@example.com"}
    assert json.loads(rows[1]["data"])["prefix"] == "copies"
    assert all("s3cret" not in row["data"] for row in rows)


async def test_only_pushes_after_the_rule_to_what_it_covers_become_jobs(api: Api) -> None:
    await api.push("acme/web/api", "before")
    made = await create(api, url=REMOTE, package="web/api")
    await api.push("acme/web/db", "v1")
    digest = await api.push("acme/web/api", "v1")
    await job_rows.queue(api.context.db, api.context.now())
    await job_rows.queue(api.context.db, api.context.now())  # twice: one job all the same
    [job] = await jobs(api, made["id"])
    assert (job["package"], job["tag"], job["digest"]) == ("acme/web/api", "v1", digest)
    assert (job["state"], job["attempts"]) == ("pending", 0)


async def test_a_job_that_has_not_failed_is_not_retried_by_hand(api: Api) -> None:
    made = await create(api, url=REMOTE)
    await api.push("acme/web/api", "v1")
    await job_rows.queue(api.context.db, api.context.now())
    [job] = await jobs(api, made["id"])
    response = await api.post(f"{BASE}/{made['id']}/jobs/{job['id']}/retry", "owner")
    assert "only a failed job" in assert_problem(response, 409)["detail"]


async def test_pushes_made_while_a_rule_was_off_are_not_copied(api: Api) -> None:
    made = await create(api, url=REMOTE, active=False)
    await api.push("acme/web/api", "while-off")
    await job_rows.queue(api.context.db, api.context.now())
    here = f"{BASE}/{made['id']}"
    assert (await api.patch(here, "owner", json={"active": True})).status_code == 200
    await api.push("acme/web/api", "after")
    await job_rows.queue(api.context.db, api.context.now())
    assert [job["tag"] for job in await jobs(api, made["id"])] == ["after"]
