"""/api/v1/workspaces/{ws}/webhooks: registering, reading, changing and deleting endpoints,
their delivery history, and the targets the forgery guard refuses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.people import Api, assert_problem
from tests.functional.webhooks.conftest import Delivering, create
from tests.webhook_receiver import Receiver

BASE = "/workspaces/acme/webhooks"


async def test_an_owner_registers_an_endpoint_and_sees_its_secret_once(
    api: Api, receiver: Receiver
) -> None:
    body = {"url": receiver.url, "secret": "x" * 40, "events": ["manifest.pushed"]}
    response = await api.post(BASE, "owner", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["location"] == f"/api/v1{BASE}/{made['id']}"
    assert made["secret"] == "x" * 40
    assert made["url"] == receiver.url
    assert made["events"] == ["manifest.pushed"]
    assert (made["format"], made["active"], made["packages"]) == ("cargohold", True, None)
    assert made["created_by"] == "owner@example.com"
    shown = (await api.get(f"{BASE}/{made['id']}", "owner")).json()
    listed = (await api.get(BASE, "owner")).json()["items"]
    assert "secret" not in shown and listed == [shown]
    assert all("x" * 40 not in str(item) for item in listed)


async def test_a_secret_left_out_is_made_and_shown_once(api: Api, receiver: Receiver) -> None:
    response = await api.post(BASE, "owner", json={"url": receiver.url})
    assert response.status_code == 201, response.text
    assert response.json()["secret"].startswith("whsec_")
    assert response.json()["events"] == ["*"]


async def test_creating_an_endpoint_is_an_event_of_the_audit_log(
    api: Api, receiver: Receiver
) -> None:
    await create(api, receiver, url=receiver.url + "?token=abc")
    [row] = await api.rows("SELECT * FROM events WHERE action = 'webhook.created'")
    assert (row["workspace"], row["actor_name"]) == ("acme", "owner@example.com")
    assert "token=REDACTED" in row["data"] and "abc" not in row["data"]
    assert "s" * 32 not in row["data"]


async def test_changing_and_deleting_an_endpoint(api: Api, receiver: Receiver) -> None:
    made = await create(api, receiver)
    path = f"{BASE}/{made['id']}"
    change = {"events": ["tag.*"], "packages": "web/*", "format": "cloudevents"}
    response = await api.patch(path, "owner", json=change)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["events"], changed["packages"], changed["format"]) == (
        ["tag.*"],
        "acme/web/*",
        "cloudevents",
    )
    assert (await api.delete(path, "owner")).status_code == 204
    assert_problem(await api.get(path, "owner"), 404)
    assert await api.rows("SELECT * FROM webhook_deliveries") == []
    actions = [r["action"] for r in await api.rows("SELECT action FROM events ORDER BY id")]
    assert actions[-3:] == ["webhook.created", "webhook.changed", "webhook.deleted"]


async def test_the_delivery_history_shows_status_code_duration_and_error(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    made = await create(api, receiver)
    await delivering.until(lambda: receiver.received)
    response = await api.get(f"{BASE}/{made['id']}/deliveries", "owner")
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["event"] == "ping"
    assert item["event_id"] == receiver.received[0].event_id
    assert (item["state"], item["attempts"], item["response_status"]) == ("delivered", 1, 204)
    assert isinstance(item["duration_ms"], int) and item["error"] is None
    detail = await api.get(f"{BASE}/{made['id']}/deliveries/{item['id']}", "owner")
    assert detail.json()["payload"] == receiver.received[0].json()
    assert detail.json()["content_type"] == "application/json"


async def test_delivery_history_pages_newest_first(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    made = await create(api, receiver)
    for tag in ("v1", "v2", "v3"):
        await api.push("acme/web/api", tag)
    await delivering.until(lambda: len(receiver.received) >= 4)
    path = f"{BASE}/{made['id']}/deliveries"
    first = (await api.get(path, "owner", params={"limit": 3})).json()
    rest = (await api.get(path, "owner", params={"after": first["next_after"]})).json()
    ids = [d["id"] for d in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 4
    assert rest["next_after"] is None
    assert [d["event"] for d in rest["items"]] == ["ping"]


async def test_redelivering_for_an_endpoint_that_is_off_is_409(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    made = await create(api, receiver)
    await delivering.until(lambda: receiver.received)
    path = f"{BASE}/{made['id']}"
    [item] = (await api.get(f"{path}/deliveries", "owner")).json()["items"]
    await api.patch(path, "owner", json={"active": False})
    assert_problem(await api.post(f"{path}/deliveries/{item['id']}/redeliver", "owner"), 409)


# --------------------------------------------------------------------------- refused targets

REFUSED = [
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/", "cloud metadata"),
    ("https://10.0.0.5/hook", "private"),
    ("https://192.168.1.10/hook", "private"),
    ("https://100.64.0.1/hook", "shared"),
    ("https://[::1]/hook", "loopback"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("http://8.8.8.8/hook", "plain http"),
    ("ftp://hooks.example/", "must start with"),
    ("https://hooks.example/#x", "fragment"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
async def test_a_target_the_forgery_guard_refuses_cannot_be_registered(
    api: Api, url: str, reason: str
) -> None:
    body = assert_problem(await api.post(BASE, "owner", json={"url": url}), 422)
    assert reason in body["detail"]
    assert await api.rows("SELECT * FROM webhooks") == []


@pytest.mark.settings(webhook_allowed_networks=[])
async def test_loopback_is_refused_without_the_allowed_networks(
    api: Api, receiver: Receiver
) -> None:
    body = assert_problem(await api.post(BASE, "owner", json={"url": receiver.url}), 422)
    assert "loopback" in body["detail"]


async def test_a_url_changed_to_a_refused_target_is_refused(api: Api, receiver: Receiver) -> None:
    made = await create(api, receiver)
    change = {"url": "https://169.254.169.254/"}
    assert_problem(await api.patch(f"{BASE}/{made['id']}", "owner", json=change), 422)
    assert (await api.get(f"{BASE}/{made['id']}", "owner")).json()["url"] == receiver.url


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://hooks.example/", "events": ["manifest.push"]},
        {"url": "https://hooks.example/", "events": []},
        {"url": "https://hooks.example/", "format": "xml"},
        {"url": "https://hooks.example/", "secret": "short"},
        {"url": "https://hooks.example/", "packages": "Not A Name"},
        {"url": "https://hooks.example/", "colour": "blue"},
        {"events": ["*"]},
    ],
)
async def test_an_invalid_endpoint_is_422(api: Api, body: dict[str, Any]) -> None:
    assert_problem(await api.post(BASE, "owner", json=body), 422)


# --------------------------------------------------------------------------- who may


async def test_a_package_admin_registers_an_endpoint_for_that_package_only(
    api: Api, receiver: Receiver
) -> None:
    mine = await api.post(BASE, "admin", json={"url": receiver.url, "packages": "web/api"})
    assert mine.status_code == 201, mine.text
    assert mine.json()["packages"] == "acme/web/api"
    for packages in (None, "web/*", "site/www"):
        body = {"url": receiver.url, "packages": packages}
        found = await api.post(BASE, "admin", json=body)
        assert found.status_code in (403, 404), (packages, found.text)
    owners = await create(api, receiver)
    listed = (await api.get(BASE, "admin")).json()["items"]
    assert [item["id"] for item in listed] == [mine.json()["id"]]
    assert_problem(await api.get(f"{BASE}/{owners['id']}", "admin"), 404)
    everything = (await api.get(BASE, "owner")).json()["items"]
    assert len(everything) == 2


CREATE_REFUSALS = [
    # (who, scope, package filter, status)
    ("member", "admin:package", None, 403),  # a member, not an owner
    ("member", "admin:package", "web/api", 404),  # may not even read it
    ("reader", "admin:package", "web/api", 403),
    ("writer", "admin:package", "web/api", 403),
    ("outsider", "admin:package", None, 404),
    ("other", "admin:package", None, 404),
    ("owner", "write:package", None, 403),
    ("owner", "read:package", None, 403),
]


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/{2**31}",
        f"{BASE}/{2**40}/deliveries",
        f"{BASE}/1/deliveries/{2**63}",
        f"{BASE}/1/deliveries?after={2**63}",
    ],
)
async def test_an_id_beyond_any_row_is_refused_not_an_error(api: Api, path: str) -> None:
    assert_problem(await api.get(path, "owner"), 422)


@pytest.mark.parametrize(("who", "scope", "packages", "status"), CREATE_REFUSALS)
async def test_who_may_not_register_an_endpoint(
    api: Api, receiver: Receiver, who: str, scope: str, packages: str | None, status: int
) -> None:
    body = {"url": receiver.url, "packages": packages}
    assert_problem(await api.request("POST", BASE, who, scope, json=body), status)
    assert await api.rows("SELECT * FROM webhooks") == []


async def test_an_access_token_may_not_manage_webhooks(api: Api, receiver: Receiver) -> None:
    robot = await api.access_token("acme", "admin:package")
    headers = {"Authorization": f"Bearer {robot}"}
    assert_problem(await api.post(BASE, json={"url": receiver.url}, headers=headers), 403)
    assert_problem(await api.get(BASE, headers=headers), 403)


async def test_anonymous_callers_are_401(api: Api, receiver: Receiver) -> None:
    assert_problem(await api.get(BASE), 401)
    assert_problem(await api.post(BASE, json={"url": receiver.url}), 401)


async def test_a_member_with_nothing_to_manage_sees_an_empty_list(api: Api) -> None:
    response = await api.get(BASE, "member")
    assert response.status_code == 200 and response.json()["items"] == []
    assert_problem(await api.get(BASE, "outsider"), 404)
    assert_problem(await api.get("/workspaces/nowhere/webhooks", "owner"), 404)


async def test_a_site_admin_manages_every_workspaces_endpoints(
    api: Api, receiver: Receiver
) -> None:
    made = await create(api, receiver)
    response = await api.patch(f"{BASE}/{made['id']}", "site_admin", json={"active": False})
    assert response.status_code == 200, response.text
