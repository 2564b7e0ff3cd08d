"""The webhook pages: a workspace's owners add an endpoint (its secret shown once), see its
deliveries with status, response code, duration and error, deliver one again, change and
delete it; a package's admins do the same for their package; nobody else sees them."""

from __future__ import annotations

import re

import pytest

from cargohold.services.events.webhooks.delivery import Deliverer
from cargohold.services.registry.checked.webhooks import sealing_key
from tests.functional.ui.conftest import Ui
from tests.functional.ui.test_japanese import english_patterns, visible_text
from tests.webhook_receiver import Answer, Receiver, receiving

pytestmark = pytest.mark.settings(
    webhook_allowed_networks=["127.0.0.0/8"], webhook_timeout=2.0, webhook_retry_initial=0.1
)


async def deliver(ui: Ui, receiver: Receiver, count: int) -> None:
    ctx = ui.api.context
    deliverer = Deliverer(ctx.db, ctx.settings, sealing_key(ctx))
    for _ in range(200):
        if len(receiver.received) >= count:
            return
        await deliverer.run_once()
    raise AssertionError(f"{len(receiver.received)} of {count} deliveries came")


async def add(ui: Ui, who: str, receiver: Receiver, **fields: str) -> str:
    """Add a webhook through the form; the page it shows (with the secret)."""
    client = await ui.as_(who)
    form = {"url": receiver.url, "event": "*", "format": "cargohold", "active": "yes", **fields}
    response = await client.post("/w/acme/webhooks", form)
    assert response.status_code == 200, response.text
    return response.text


async def test_adding_a_webhook_shows_the_secret_once_and_pings_it(ui: Ui) -> None:
    with receiving() as receiver:
        page = await add(ui, "owner", receiver)
        secret = re.search(r'id="webhook-secret"><code>(whsec_[\w-]+)</code>', page)
        assert secret is not None, page
        [row] = await ui.api.rows("SELECT id FROM webhooks")
        owner = await ui.as_("owner")
        shown = await owner.get(f"/w/acme/webhooks/{row['id']}")
        assert secret[1] not in shown.text
        listed = await owner.get("/w/acme/webhooks")
        assert receiver.url in listed.text and secret[1] not in listed.text
        await deliver(ui, receiver, 1)
        assert receiver.received[0].event == "ping"


async def test_the_delivery_history_shows_state_response_duration_and_error(ui: Ui) -> None:
    with receiving() as receiver:
        receiver.answer = lambda _: Answer(410)
        await add(ui, "owner", receiver)
        await deliver(ui, receiver, 1)
        [row] = await ui.api.rows("SELECT id FROM webhooks")
        page = (await (await ui.as_("owner")).get(f"/w/acme/webhooks/{row['id']}")).text
    history = page[page.index('<table class="deliveries">') :]
    assert "<code>ping</code>" in history
    assert "Failed" in history
    assert ">410<" in history
    assert re.search(r"\d+ ms", history)
    assert "answered 410" in history
    assert "Deliver again" in history


async def test_deliver_again_sends_the_same_event(ui: Ui) -> None:
    with receiving() as receiver:
        await add(ui, "owner", receiver)
        await deliver(ui, receiver, 1)
        [hook] = await ui.api.rows("SELECT id FROM webhooks")
        [delivery] = await ui.api.rows("SELECT id FROM webhook_deliveries")
        owner = await ui.as_("owner")
        response = await owner.post(
            f"/w/acme/webhooks/{hook['id']}", {"action": "redeliver", "delivery": delivery["id"]}
        )
        assert response.status_code == 303
        assert response.headers["location"].endswith("?done=redelivered")
        await deliver(ui, receiver, 2)
    assert receiver.received[0].event_id == receiver.received[1].event_id


async def test_a_webhook_is_changed_and_deleted_through_its_page(ui: Ui) -> None:
    with receiving() as receiver:
        await add(ui, "owner", receiver)
    [hook] = await ui.api.rows("SELECT id FROM webhooks")
    owner = await ui.as_("owner")
    here = f"/w/acme/webhooks/{hook['id']}"
    form = {
        "action": "save",
        "url": receiver.url,
        "event": ["tag.deleted", "manifest.deleted"],
        "packages": "web/*",
        "format": "distribution",
    }
    response = await owner.post(here, form)
    assert response.status_code == 303, response.text
    [row] = await ui.api.rows("SELECT events, packages, format, active FROM webhooks")
    assert dict(row) == {
        "events": "tag.deleted,manifest.deleted",
        "packages": "acme/web/*",
        "format": "distribution",
        "active": 0,
    }
    assert "This webhook is off" in (await owner.get(here)).text
    response = await owner.post(here, {"action": "delete"})
    assert response.status_code == 303
    assert await ui.api.rows("SELECT id FROM webhooks") == []


async def test_a_refused_target_is_shown_on_the_form(ui: Ui) -> None:
    owner = await ui.as_("owner")
    form = {"url": "https://169.254.169.254/latest/", "event": "*", "active": "yes"}
    response = await owner.post("/w/acme/webhooks", form)
    assert response.status_code == 400
    assert "cloud metadata" in response.text
    assert 'value="https://169.254.169.254/latest/"' in response.text


async def test_a_package_admin_adds_a_webhook_for_their_package(ui: Ui) -> None:
    with receiving() as receiver:
        admin = await ui.as_("admin")
        page = await admin.get("/w/acme/webhooks?package=acme/web/api")
        assert 'value="acme/web/api"' in page.text
        await add(ui, "admin", receiver, packages="acme/web/api")
        refused = await admin.post(
            "/w/acme/webhooks", {"url": receiver.url, "event": "*", "packages": ""}
        )
        assert refused.status_code == 404
    [row] = await ui.api.rows("SELECT packages FROM webhooks")
    assert row["packages"] == "acme/web/api"


@pytest.mark.parametrize(("who", "status"), [("member", 200), ("reader", 404), (None, 303)])
async def test_others_see_no_webhooks(ui: Ui, who: str | None, status: int) -> None:
    with receiving() as receiver:
        await add(ui, "owner", receiver)
    [hook] = await ui.api.rows("SELECT id FROM webhooks")
    client = await ui.as_(who) if who else ui.anonymous()
    listed = await client.get("/w/acme/webhooks")
    assert listed.status_code == status
    assert receiver.url not in listed.text
    shown = await client.get(f"/w/acme/webhooks/{hook['id']}")
    assert shown.status_code in (303, 404)


async def test_a_webhook_id_beyond_any_row_is_not_found(ui: Ui) -> None:
    owner = await ui.as_("owner")
    for beyond in (2**31, 10**11):
        assert (await owner.get(f"/w/acme/webhooks/{beyond}")).status_code == 404


async def test_the_webhook_pages_in_japanese_have_no_english_left(ui: Ui) -> None:
    with receiving() as receiver:
        await add(ui, "owner", receiver)
        await deliver(ui, receiver, 1)
    [hook] = await ui.api.rows("SELECT id FROM webhooks")
    owner = await ui.as_("owner")
    owner.language = "ja"
    messages = english_patterns()
    data = re.compile(
        r"^(Cargohold|acme|owner|http://127\.0\.0\.1:\d+/hook|owner@example\.com|—|#\d+|\d+|/|·"
        r"|\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2} UTC|English|日本語)$"
    )
    for path in ("/w/acme/webhooks", f"/w/acme/webhooks/{hook['id']}", "/w/acme"):
        page = await owner.get(path)
        assert page.status_code == 200, path
        assert '<html lang="ja">' in page.text
        for text in visible_text(page.text):
            untranslated = [p.pattern for p in messages if p.fullmatch(text)]
            assert not untranslated, f"untranslated {text!r} on {path}: {untranslated}"
            english = re.fullmatch(r"[\x00-\x7f]+", text) and re.search(r"[A-Za-z]{2}", text)
            if path != "/w/acme" and english:
                assert data.match(text), f"English-looking text {text!r} on {path}"
    assert "ウェブフック" in (await owner.get("/w/acme")).text
