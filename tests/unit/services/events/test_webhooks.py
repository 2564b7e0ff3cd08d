"""Webhooks, the pure parts: what an endpoint wants, the bodies in each format, the
signature, which answers are retried and how long to wait, and how far fan-out's cursor may
move past a gap in the event ids."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.config import Settings
from cargohold.services.errors import Invalid
from cargohold.services.events import cursors
from cargohold.services.events.audit import Event
from cargohold.services.events.webhooks import delivery, endpoints, formats
from cargohold.services.events.webhooks.endpoints import Webhook
from cargohold.services.events.webhooks.formats import Occurrence, Source
from cargohold.services.outbound import Reply

AT = 1_800_000_000.25
DIGEST = "sha256:" + "a" * 64
SOURCE = Source(url="https://registry.example", addr="node1:5000", instance="node1:42:abc")


def event(action: str = "manifest.pushed", **fields: Any) -> Event:
    values: dict[str, Any] = {
        "id": 42,
        "at": AT,
        "action": action,
        "outcome": "ok",
        "actor_kind": "user",
        "actor_id": "3",
        "actor_name": "owner@example.com",
        "client_address": "192.0.2.7",
        "request_id": "req-1",
        "workspace": "acme",
        "package": "acme/web",
        "repository": None,
        "tag": "v1",
        "digest": DIGEST,
        "target": "acme/web:v1",
        "data": {
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            "size": 1234,
            "token_id": "t1",
        },
    }
    values.update(fields)
    return Event(**values)


def webhook(**fields: Any) -> Webhook:
    values: dict[str, Any] = {
        "id": 1,
        "workspace_id": 1,
        "workspace": "acme",
        "url": "https://hooks.example/in",
        "events": ("*",),
        "packages": "",
        "format": "cargohold",
        "active": True,
        "disabled_reason": None,
        "failures": 0,
        "retry_at": None,
        "since_event": 10,
        "created_at": AT,
        "created_by": "owner@example.com",
        "updated_at": AT,
    }
    values.update(fields)
    return Webhook(**values)


# --------------------------------------------------------------------------- what is wanted

WANTS = [
    # (endpoint fields, event fields, sent)
    ({}, {}, True),
    ({"events": ("manifest.pushed",)}, {}, True),
    ({"events": ("tag.deleted",)}, {}, False),
    ({"events": ("manifest.*",)}, {}, True),
    ({"events": ("tag.*",)}, {"action": "tag.deleted"}, True),
    ({}, {"workspace": "globex"}, False),
    ({}, {"id": 10}, False),  # not after the endpoint was made
    ({}, {"outcome": "refused"}, False),
    ({}, {"action": "signin.failed"}, False),  # never offered to webhooks
    ({}, {"action": "webhook.created"}, False),
    ({"packages": "acme/web"}, {}, True),
    ({"packages": "acme/web"}, {"package": "acme/web/api"}, False),
    ({"packages": "acme/web*"}, {"package": "acme/web/api"}, True),
    ({"packages": "acme/w?b"}, {}, True),
    ({"packages": "acme/web"}, {"action": "member.added", "package": None}, False),
    ({}, {"action": "member.added", "package": None}, True),
    ({"format": "distribution"}, {}, True),
    ({"format": "distribution"}, {"action": "tag.deleted"}, True),
    ({"format": "distribution"}, {"action": "package.created"}, False),
]


@pytest.mark.parametrize(("hook", "happened", "sent"), WANTS)
def test_an_endpoint_is_sent_the_events_it_asked_for(
    hook: dict[str, Any], happened: dict[str, Any], sent: bool
) -> None:
    assert webhook(**hook).wants(event(**happened)) is sent


PARSED_EVENTS = [
    (["*"], ("*",)),
    (["manifest.pushed", "*"], ("*",)),
    (["tag.deleted", "tag.deleted", "manifest.pushed"], ("tag.deleted", "manifest.pushed")),
    (["tag.*"], ("tag.*",)),
]


@pytest.mark.parametrize(("given", "kept"), PARSED_EVENTS)
def test_event_types_are_kept_once_and_star_takes_all(
    given: list[str], kept: tuple[str, ...]
) -> None:
    assert endpoints.parse_events(given) == kept


@pytest.mark.parametrize("given", [[], ["manifest.push"], ["nope.*"], ["signin.failed"], [""]])
def test_an_unknown_event_type_is_refused(given: list[str]) -> None:
    with pytest.raises(Invalid):
        endpoints.parse_events(given)


PACKAGE_FILTERS = [
    (None, ""),
    ("", ""),
    ("*", ""),
    ("web", "acme/web"),
    ("acme/web", "acme/web"),
    ("web/*", "acme/web/*"),
    ("acme/w?b*", "acme/w?b*"),
]


@pytest.mark.parametrize(("given", "kept"), PACKAGE_FILTERS)
def test_a_package_filter_is_a_name_of_the_workspace(given: str | None, kept: str) -> None:
    assert endpoints.parse_packages("acme", given) == kept


@pytest.mark.parametrize("given", ["Web", "web//api", "web/", "we b", "acme/[ab]", "x" * 300])
def test_a_package_filter_that_names_no_package_is_refused(given: str) -> None:
    with pytest.raises(Invalid):
        endpoints.parse_packages("acme", given)


@pytest.mark.parametrize("given", ["short", "has a space in it, long enough", "é" * 20])
def test_a_secret_must_be_long_printable_ascii(given: str) -> None:
    with pytest.raises(Invalid):
        endpoints.parse_secret(given)


def test_a_secret_left_out_is_made() -> None:
    made = endpoints.parse_secret(None)
    assert made.startswith("whsec_") and len(made) > 40
    assert endpoints.parse_secret(None) != made


# --------------------------------------------------------------------------- formats


def test_cargohold_json_tells_the_event_and_no_token_id() -> None:
    body = json.loads(formats.render("cargohold", Occurrence(event(), "acme/web-src"), SOURCE))
    assert body == {
        "id": "42",
        "type": "manifest.pushed",
        "time": "2027-01-15T08:00:00.250Z",
        "workspace": "acme",
        "package": "acme/web",
        "repository": "acme/web-src",
        "tag": "v1",
        "digest": DIGEST,
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "size": 1234,
        "actor": {"kind": "user", "name": "owner@example.com"},
        "registry": "https://registry.example",
    }


def test_what_else_an_event_recorded_is_in_data() -> None:
    moved = event("tag.moved", data={"from": "sha256:old", "to": DIGEST})
    body = json.loads(formats.render("cargohold", Occurrence(moved), SOURCE))
    assert body["data"] == {"from": "sha256:old", "to": DIGEST}


CLOUDEVENTS_REQUIRED = ("specversion", "id", "source", "type")


def test_a_cloudevent_has_the_required_attributes_in_structured_mode() -> None:
    body = json.loads(formats.render("cloudevents", Occurrence(event()), SOURCE))
    assert all(isinstance(body[name], str) and body[name] for name in CLOUDEVENTS_REQUIRED)
    assert body["specversion"] == "1.0"
    assert body["id"] == "42"
    assert body["source"] == "https://registry.example/acme"
    assert body["type"] == "io.cargohold.manifest.pushed"
    assert body["subject"] == "acme/web:v1"
    assert body["time"] == "2027-01-15T08:00:00.250Z"
    assert body["datacontenttype"] == "application/json"
    assert body["data"]["digest"] == DIGEST
    assert formats.CONTENT_TYPES["cloudevents"] == "application/cloudevents+json"


def test_a_cloudevent_without_a_public_url_has_a_urn_source() -> None:
    source = replace(SOURCE, url=None)
    body = json.loads(formats.render("cloudevents", Occurrence(event()), source))
    assert body["source"] == "urn:cargohold/acme"


DISTRIBUTION_ACTIONS = [
    ("manifest.pushed", "push", "PUT"),
    ("manifest.pulled", "pull", "GET"),
    ("manifest.deleted", "delete", "DELETE"),
    ("tag.deleted", "delete", "DELETE"),
]


@pytest.mark.parametrize(("action", "word", "method"), DISTRIBUTION_ACTIONS)
def test_the_distribution_envelope_has_the_reference_registrys_fields(
    action: str, word: str, method: str
) -> None:
    body = json.loads(formats.render("distribution", Occurrence(event(action)), SOURCE))
    [found] = body["events"]
    assert set(found) == {"id", "timestamp", "action", "target", "request", "actor", "source"}
    assert (found["id"], found["action"]) == ("42", word)
    assert found["timestamp"] == "2027-01-15T08:00:00.250Z"
    assert found["target"] == {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "size": 1234,
        "length": 1234,
        "digest": DIGEST,
        "repository": "acme/web",
        "url": f"https://registry.example/v2/acme/web/manifests/{DIGEST}",
        "tag": "v1",
    }
    assert found["request"] == {
        "id": "req-1",
        "addr": "192.0.2.7",
        "host": "registry.example",
        "method": method,
        "useragent": "",
    }
    assert found["actor"] == {"name": "owner@example.com"}
    assert found["source"] == {"addr": "node1:5000", "instanceID": "node1:42:abc"}


def test_the_distribution_envelope_cannot_tell_other_events() -> None:
    assert formats.render("distribution", Occurrence(event("package.created")), SOURCE) is None


PINGS = [
    ("cargohold", lambda body: body["type"] == "ping" and body["webhook"]["id"] == 1),
    ("cloudevents", lambda body: body["type"] == "io.cargohold.ping" and "subject" not in body),
    ("distribution", lambda body: body == {"events": []}),
]


@pytest.mark.parametrize(("form", "check"), PINGS)
def test_a_ping_is_told_in_every_format(form: str, check: Any) -> None:
    ping = Occurrence(event("webhook.created", package=None), webhook={"id": 1})
    assert check(json.loads(formats.render(form, ping, SOURCE)))


# --------------------------------------------------------------------------- delivery


def test_the_signature_is_hmac_sha256_over_the_time_a_dot_and_the_body() -> None:
    body = b'{"id":"42"}'
    header = delivery.signature("s3cret-s3cret-s3cret", body, 1_800_000_000)
    expected = hmac.new(b"s3cret-s3cret-s3cret", b'1800000000.{"id":"42"}', hashlib.sha256)
    assert header == f"t=1800000000,v1={expected.hexdigest()}"


def reply(status: int, **headers: str) -> Reply:
    return Reply(status, httpx.Headers(headers), b"", False, "192.0.2.1", 0.05)


JUDGED = [
    (200, True, False),
    (202, True, False),
    (204, True, False),
    (301, False, False),
    (302, False, False),
    (307, False, False),
    (400, False, False),
    (401, False, False),
    (404, False, False),
    (408, False, True),
    (410, False, False),
    (422, False, False),
    (429, False, True),
    (500, False, True),
    (502, False, True),
    (503, False, True),
    (504, False, True),
]


@pytest.mark.parametrize(("status", "delivered", "retried"), JUDGED)
def test_which_answers_deliver_and_which_are_retried(
    status: int, delivered: bool, retried: bool
) -> None:
    attempt = delivery.judge(reply(status))
    assert (attempt.delivered, attempt.retry, attempt.status) == (delivered, retried, status)


def test_a_redirect_names_where_it_led_without_its_secrets() -> None:
    attempt = delivery.judge(reply(302, location="https://elsewhere.example/x?token=abc"))
    assert attempt.error == (
        "answered 302, a redirect to https://elsewhere.example/x?token=REDACTED:"
        " redirects are not followed"
    )


def test_retry_after_is_read_in_seconds() -> None:
    assert delivery.judge(reply(429, **{"retry-after": "120"})).retry_after == 120


BACKOFF = [
    # (attempts, at least, at most) with webhook_retry_initial = 10
    (1, 5, 10),
    (2, 10, 20),
    (3, 20, 40),
    (6, 160, 320),
    (20, 1800, 3600),  # never more than an hour
]


@pytest.mark.parametrize(("attempts", "low", "high"), BACKOFF)
def test_back_off_doubles_with_jitter_up_to_an_hour(attempts: int, low: float, high: float) -> None:
    settings = Settings(webhook_retry_initial=10)
    waits = [delivery.backoff(settings, attempts) for _ in range(200)]
    assert all(low <= wait <= high for wait in waits)
    assert len(set(waits)) > 1


def test_a_longer_retry_after_is_kept() -> None:
    assert delivery.backoff(Settings(webhook_retry_initial=10), 1, retry_after=600) == 600


NOW = AT + 1000
SETTLED = [
    # (cursor, event ids and ages in seconds, where the cursor may move)
    (10, [], 10),
    (10, [(11, 0), (12, 0), (13, 0)], 13),
    (10, [(11, 0), (13, 0)], 11),  # 12 may still commit
    (10, [(12, 0), (13, 0)], 10),
    (10, [(11, 100), (13, 100), (14, 0)], 14),  # 12 is long gone (rolled back)
    (10, [(11, 0), (13, 100), (15, 0)], 13),
]


@pytest.mark.parametrize(("cursor", "found", "settled"), SETTLED)
def test_the_cursor_stops_before_a_young_gap_in_the_ids(
    cursor: int, found: list[tuple[int, float]], settled: int
) -> None:
    events = [event(id=i, at=NOW - age) for i, age in found]
    assert cursors.settled(cursor, events, NOW) == settled


def test_the_verification_snippet_of_the_docs_accepts_a_signed_delivery() -> None:
    text = (Path(__file__).parents[4] / "docs" / "webhooks.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(snippet, scope)  # the docs' own code, as a receiver would paste it
    body = b'{"id":"42","type":"manifest.pushed"}'
    header = delivery.signature("a-long-random-secret-of-yours", body, int(time.time()))
    assert scope["verify"]("a-long-random-secret-of-yours", header, body)
    assert not scope["verify"]("another-long-random-secret", header, body)
    assert not scope["verify"]("a-long-random-secret-of-yours", header, body + b" ")
    old = delivery.signature("a-long-random-secret-of-yours", body, int(time.time()) - 3600)
    assert not scope["verify"]("a-long-random-secret-of-yours", old, body)
