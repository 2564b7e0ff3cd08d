"""The bodies a webhook sends, one event each, in the endpoint's format (docs/webhooks.md):

- `cargohold`: Cargohold's own JSON (`application/json`);
- `cloudevents`: CloudEvents 1.0 in structured mode (`application/cloudevents+json`), the
  Cargohold JSON as its `data`;
- `distribution`: the notification envelope of the reference registry (CNCF distribution,
  `application/vnd.docker.distribution.events.v1+json`), so receivers written for it work
  unchanged. It knows pushes, pulls and deletions only; other events are not sent in it.

Pure: the event and where it comes from in, bytes out. A body is made once, when the
event is fanned out, and every attempt sends the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from cargohold.services.events.audit import Event

CARGOHOLD = "cargohold"
CLOUDEVENTS = "cloudevents"
DISTRIBUTION = "distribution"
FORMATS = (CARGOHOLD, CLOUDEVENTS, DISTRIBUTION)
CONTENT_TYPES = {
    CARGOHOLD: "application/json",
    CLOUDEVENTS: "application/cloudevents+json",
    DISTRIBUTION: "application/vnd.docker.distribution.events.v1+json",
}
PING = "ping"
CLOUDEVENTS_TYPE_PREFIX = "io.cargohold."

# The events distribution's envelope can tell, and its words for them.
DISTRIBUTION_ACTIONS = {
    "manifest.pushed": "push",
    "manifest.pulled": "pull",
    "manifest.deleted": "delete",
    "tag.deleted": "delete",
}
_METHODS = {"push": "PUT", "pull": "GET", "delete": "DELETE"}
# What an event's data holds that a webhook does not pass on.
_PRIVATE_DATA = ("token_id",)


@dataclass(frozen=True, slots=True)
class Source:
    """Where the events come from: the registry as clients reach it, and this node."""

    url: str | None  # public_url; None when it is not set
    addr: str  # this node, HOST:PORT
    instance: str  # this process, for distribution's `source.instanceID`

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc if self.url else self.addr


@dataclass(frozen=True, slots=True)
class Occurrence:
    """An event as webhooks tell it: the event row, with the package's repository."""

    event: Event
    repository: str | None = None  # WORKSPACE/REPO the package is linked to
    webhook: dict[str, Any] = field(default_factory=dict)  # a ping's endpoint

    @property
    def action(self) -> str:
        return PING if self.webhook else self.event.action


def _time(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def cargohold_document(occurrence: Occurrence, source: Source) -> dict[str, Any]:
    """Cargohold's JSON for one event."""
    event = occurrence.event
    data = {k: v for k, v in event.data.items() if k not in _PRIVATE_DATA}
    media_type = data.pop("media_type", None)
    size = data.pop("size", None)
    document: dict[str, Any] = {
        "id": str(event.id),
        "type": occurrence.action,
        "time": _time(event.at),
        "workspace": event.workspace,
        "package": event.package,
        "repository": occurrence.repository or event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "media_type": media_type,
        "size": size,
        "actor": {"kind": event.actor_kind, "name": event.actor_name},
        "registry": source.url,
    }
    if occurrence.webhook:
        document["webhook"] = occurrence.webhook
    if data:
        document["data"] = data
    return document


def _subject(event: Event) -> str | None:
    if event.package and event.tag:
        return f"{event.package}:{event.tag}"
    if event.package and event.digest:
        return f"{event.package}@{event.digest}"
    return event.package or event.workspace


def cloudevent(occurrence: Occurrence, source: Source) -> dict[str, Any]:
    """CloudEvents 1.0, structured mode: the required `specversion`, `id`, `source` and
    `type`, with `subject`, `time` and the Cargohold JSON as `data`."""
    event = occurrence.event
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event.id),
        "source": f"{source.url or 'urn:cargohold'}/{event.workspace or ''}".rstrip("/"),
        "type": CLOUDEVENTS_TYPE_PREFIX + occurrence.action,
        "time": _time(event.at),
        "datacontenttype": "application/json",
        "data": cargohold_document(occurrence, source),
    }
    subject = None if occurrence.webhook else _subject(event)
    if subject:
        document["subject"] = subject
    return document


def distribution_envelope(occurrence: Occurrence, source: Source) -> dict[str, Any] | None:
    """The reference registry's envelope of one event; an empty list for a ping; None for
    an event it has no action for."""
    if occurrence.webhook:
        return {"events": []}
    event = occurrence.event
    action = DISTRIBUTION_ACTIONS.get(event.action)
    if action is None:
        return None
    target: dict[str, Any] = {"repository": event.package}
    media_type, size = event.data.get("media_type"), event.data.get("size")
    if media_type is not None:
        target["mediaType"] = media_type
    if isinstance(size, int):
        target["size"] = size
        target["length"] = size
    if event.digest:
        target["digest"] = event.digest
    if event.tag:
        target["tag"] = event.tag
    reference = event.digest or event.tag
    if source.url and event.package and reference:
        target["url"] = f"{source.url}/v2/{event.package}/manifests/{quote(reference, safe=':')}"
    return {
        "events": [
            {
                "id": str(event.id),
                "timestamp": _time(event.at),
                "action": action,
                "target": target,
                "request": {
                    "id": event.request_id or "",
                    "addr": event.client_address or "",
                    "host": source.host,
                    "method": _METHODS[action],
                    "useragent": "",
                },
                "actor": {"name": event.actor_name or ""},
                "source": {"addr": source.addr, "instanceID": source.instance},
            }
        ]
    }


def render(form: str, occurrence: Occurrence, source: Source) -> bytes | None:
    """The body of one event in format `form`; None when the format cannot tell it."""
    if form == CLOUDEVENTS:
        return _json(cloudevent(occurrence, source))
    if form == DISTRIBUTION:
        envelope = distribution_envelope(occurrence, source)
        return None if envelope is None else _json(envelope)
    return _json(cargohold_document(occurrence, source))
