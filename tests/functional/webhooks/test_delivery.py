"""Events reach a webhook's receiver, signed, once each, and come again after failures."""

from __future__ import annotations

import pytest

from cargohold.services import sealing
from cargohold.services.registry.checked.webhooks import sealing_key
from tests.functional.api.people import Api
from tests.functional.webhooks.conftest import Delivering, basic, create
from tests.webhook_receiver import Answer, Receiver, receiving, verify

SECRET = "s" * 32


async def test_a_new_endpoint_is_pinged_with_a_valid_signature(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    made = await create(api, receiver)
    await delivering.until(lambda: receiver.received)
    [ping] = receiver.received
    assert ping.event == "ping"
    assert verify(SECRET, ping.headers["cargohold-signature"], ping.body)
    body = ping.json()
    assert body["type"] == "ping"
    assert body["id"] == ping.event_id
    assert body["webhook"]["id"] == made["id"]


async def test_every_event_type_arrives_with_a_valid_signature(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    await create(api, receiver, events=["manifest.pushed", "tag.deleted", "manifest.deleted"])
    digest = await api.push("acme/web/api", "v1")
    assert (await api.delete("/packages/acme/web/api/-/tags/v1", "owner")).status_code == 204
    await api.push("acme/web/api", "v2")
    gone = await api.client.delete(
        f"/v2/acme/web/api/manifests/{digest}", headers=await basic(api, "owner")
    )
    assert gone.status_code == 202, gone.text
    await delivering.until(lambda: len(receiver.received) >= 5)
    received = receiver.received
    assert [r.event for r in received] == [
        "ping",
        "manifest.pushed",
        "tag.deleted",
        "manifest.pushed",
        "manifest.deleted",
    ]
    for delivery in received:
        assert verify(SECRET, delivery.headers["cargohold-signature"], delivery.body)
        assert delivery.json()["id"] == delivery.event_id
        assert delivery.headers["content-type"] == "application/json"
    pushed = received[1].json()
    assert pushed["type"] == "manifest.pushed"
    assert (pushed["package"], pushed["tag"], pushed["digest"]) == ("acme/web/api", "v1", digest)
    assert pushed["repository"] == "acme/web"
    assert pushed["workspace"] == "acme"
    assert pushed["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert isinstance(pushed["size"], int)
    assert pushed["actor"] == {"kind": "user", "name": "owner@example.com"}
    assert received[2].json()["tag"] == "v1"
    assert received[4].json()["digest"] == digest
    ids = [int(r.event_id) for r in received]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_a_signature_made_with_another_secret_does_not_verify(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    await create(api, receiver)
    await delivering.until(lambda: receiver.received)
    ping = receiver.received[0]
    signed = ping.headers["cargohold-signature"]
    assert not verify("another secret, just as long", signed, ping.body)
    assert not verify(SECRET, signed, ping.body + b" ")


async def test_events_the_endpoint_did_not_ask_for_are_not_sent(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    await create(api, receiver, events=["tag.deleted"], packages="web/*")
    await api.push("acme/site/www", "v1")
    await api.delete("/packages/acme/site/www/-/tags/v1", "owner")
    await api.push("acme/web/api", "v1")
    await api.delete("/packages/acme/web/api/-/tags/v1", "owner")
    await delivering.until(lambda: len(receiver.received) >= 2)
    await delivering.rounds(3)
    assert [(r.event, r.json().get("package")) for r in receiver.received] == [
        ("ping", None),
        ("tag.deleted", "acme/web/api"),
    ]


async def test_events_of_another_workspace_are_not_sent(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    with receiving() as globex:
        body = {"url": globex.url, "events": ["*"]}
        response = await api.post("/workspaces/globex/webhooks", "other", json=body)
        assert response.status_code == 201
        await create(api, receiver)
        await api.push("acme/web/api", "v1")
        await delivering.until(lambda: len(receiver.received) >= 2 and globex.received)
        await delivering.rounds(3)
        assert [r.event for r in globex.received] == ["ping"]
    assert [r.event for r in receiver.received] == ["ping", "manifest.pushed"]


async def test_what_happened_before_an_endpoint_was_made_is_not_sent(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    await api.push("acme/web/api", "v1")
    await delivering.rounds(2)
    await create(api, receiver)
    await delivering.until(lambda: receiver.received)
    await delivering.rounds(3)
    assert [r.event for r in receiver.received] == ["ping"]


async def test_a_receiver_that_is_down_gets_the_event_once_it_is_up(
    api: Api, delivering: Delivering
) -> None:
    with receiving() as receiver:
        port = receiver.port
        await create(api, receiver)
        await delivering.until(lambda: receiver.received)
    await api.push("acme/web/api", "v1")
    await delivering.rounds(3)  # refused connections: retried later
    [row] = await api.rows("SELECT * FROM webhook_deliveries WHERE action = 'manifest.pushed'")
    assert row["state"] == "pending" and row["attempts"] >= 1
    assert "connection refused" in row["error"]
    with receiving(port) as receiver:
        await delivering.until(lambda: receiver.events("manifest.pushed"))
    [row] = await api.rows("SELECT * FROM webhook_deliveries WHERE action = 'manifest.pushed'")
    assert (row["state"], row["response_status"], row["error"]) == ("delivered", 204, None)


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_a_server_error_or_a_request_to_wait_is_retried(
    api: Api, receiver: Receiver, delivering: Delivering, status: int
) -> None:
    answers = iter([Answer(status), Answer(status)])
    receiver.answer = lambda _: next(answers, Answer(200))
    await create(api, receiver)
    await delivering.until(lambda: len(receiver.received) >= 3)
    assert {r.event_id for r in receiver.received} == {receiver.received[0].event_id}
    [row] = await api.rows("SELECT * FROM webhook_deliveries")
    assert (row["state"], row["attempts"], row["response_status"]) == ("delivered", 3, 200)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_another_client_error_fails_the_delivery_at_once(
    api: Api, receiver: Receiver, delivering: Delivering, status: int
) -> None:
    receiver.answer = lambda _: Answer(status)
    await create(api, receiver)
    await delivering.until(lambda: receiver.received)
    await delivering.rounds(3)
    assert len(receiver.received) == 1
    [row] = await api.rows("SELECT * FROM webhook_deliveries")
    assert (row["state"], row["attempts"], row["response_status"]) == ("failed", 1, status)
    assert row["error"] == f"answered {status}"


async def test_a_redirect_is_not_followed_and_fails_the_delivery(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    with receiving() as elsewhere:
        receiver.answer = lambda _: Answer(307, {"Location": elsewhere.url + "?token=secret"})
        await create(api, receiver)
        await delivering.until(lambda: receiver.received)
        await delivering.rounds(3)
        assert elsewhere.received == []
    [row] = await api.rows("SELECT * FROM webhook_deliveries")
    assert (row["state"], row["response_status"]) == ("failed", 307)
    assert "redirects are not followed" in row["error"]
    assert "secret" not in row["error"]


@pytest.mark.settings(webhook_max_failures=3)
async def test_an_endpoint_is_turned_off_after_failures_in_a_row_with_the_reason(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    receiver.answer = lambda _: Answer(404)
    made = await create(api, receiver)
    for tag in ("v1", "v2"):
        await api.push("acme/web/api", tag)
    await delivering.until(lambda: len(receiver.received) >= 3)
    await delivering.rounds(3)
    shown = (await api.get(f"/workspaces/acme/webhooks/{made['id']}", "owner")).json()
    assert shown["active"] is False
    assert shown["failures"] == 3
    assert shown["disabled_reason"].startswith("turned off after 3 failed deliveries in a row")
    assert "answered 404" in shown["disabled_reason"]
    await api.push("acme/web/api", "v3")
    await delivering.rounds(3)
    assert len(receiver.received) == 3


async def test_turning_an_endpoint_on_again_clears_its_failures(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    made = await create(api, receiver, active=False)
    await delivering.rounds(3)
    assert receiver.received == []
    path = f"/workspaces/acme/webhooks/{made['id']}"
    response = await api.patch(path, "owner", json={"active": True})
    assert response.status_code == 200, response.text
    assert (response.json()["active"], response.json()["failures"]) == (True, 0)
    await delivering.until(lambda: receiver.received)
    assert receiver.received[0].event == "ping"


async def test_a_redelivery_carries_the_same_event_id_and_body(
    api: Api, receiver: Receiver, delivering: Delivering
) -> None:
    made = await create(api, receiver)
    await delivering.until(lambda: receiver.received)
    path = f"/workspaces/acme/webhooks/{made['id']}/deliveries"
    [first] = (await api.get(path, "owner")).json()["items"]
    again = await api.post(f"{path}/{first['id']}/redeliver", "owner")
    assert again.status_code == 202, again.text
    assert again.json()["redelivery"] == 1
    await delivering.until(lambda: len(receiver.received) >= 2)
    one, two = receiver.received
    assert (one.event_id, one.body) == (two.event_id, two.body)
    assert one.headers["cargohold-delivery"] != two.headers["cargohold-delivery"]


async def test_the_secret_is_sealed_at_rest(api: Api, receiver: Receiver) -> None:
    await create(api, receiver)
    [row] = await api.rows("SELECT secret FROM webhooks")
    assert SECRET not in row["secret"]
    key = sealing_key(api.context)
    assert sealing.unseal(key, row["secret"], "webhook secret") == SECRET
    with pytest.raises(sealing.Unsealable):
        sealing.unseal(key, row["secret"], "another purpose")
