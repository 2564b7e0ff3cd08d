"""What an image config says, read leniently for people to look at.

A config is a blob: the registry stores whatever bytes were pushed and never refused an
odd one. So every field is read on its own; one that is there but not what the image
spec says it is (a time past the calendar's edge, labels given as a list) is named in
`unreadable` instead of failing the whole config, and every text is made encodable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cargohold.oci.text import encodable


@dataclass(frozen=True, slots=True)
class HistoryStep:
    created_by: str
    empty_layer: bool


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The fields of an image config the web UI shows. A field the config leaves out is
    empty; one it holds but that cannot be read is empty too, and named in `unreadable`
    (by its name here)."""

    created: float | None = None  # seconds since the epoch, UTC, whole seconds
    os: str = ""
    architecture: str = ""
    variant: str = ""
    entrypoint: str | None = None  # as JSON text
    command: str | None = None
    exposed_ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    history: tuple[HistoryStep, ...] = ()
    unreadable: frozenset[str] = frozenset()


FIELDS = frozenset(ImageConfig.__dataclass_fields__) - {"unreadable"}


class _Unreadable(Exception):
    pass


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unreadable
    text: str = encodable(value)
    return text


def _created(value: Any) -> float:
    """An RFC 3339 time as whole seconds since the epoch; one without an offset is UTC."""
    try:
        moment = datetime.fromisoformat(_text(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC).replace(microsecond=0)  # past 9999 or before 1
        seconds = moment.timestamp()
        datetime.fromtimestamp(seconds, UTC)  # the way back, as pages write it
    except (ValueError, OverflowError) as exc:
        raise _Unreadable from exc
    return seconds


def _command(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
        raise _Unreadable
    return json.dumps(encodable(value), ensure_ascii=False) if value else None


def _ports(value: Any) -> tuple[str, ...]:
    if not isinstance(value, Mapping):
        raise _Unreadable
    return tuple(encodable(str(port)) for port in value)


def _labels(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise _Unreadable
    return tuple((encodable(str(key)), encodable(text)) for key, text in value.items())


def _history(value: Any) -> tuple[HistoryStep, ...]:
    if not isinstance(value, list) or not all(isinstance(step, Mapping) for step in value):
        raise _Unreadable
    return tuple(
        HistoryStep(encodable(str(step.get("created_by") or "")), step.get("empty_layer") is True)
        for step in value
    )


def read_image_config(document: Mapping[str, Any]) -> ImageConfig:
    """The fields of a parsed config (a JSON object), each read on its own."""
    read: dict[str, Any] = {}
    unreadable: set[str] = set()
    inner = document.get("config")
    if inner is not None and not isinstance(inner, Mapping):
        unreadable.update(("entrypoint", "command", "exposed_ports", "labels"))
        inner = None
    fields = (
        ("created", document.get("created"), _created),
        ("os", document.get("os"), _text),
        ("architecture", document.get("architecture"), _text),
        ("variant", document.get("variant"), _text),
        ("entrypoint", (inner or {}).get("Entrypoint"), _command),
        ("command", (inner or {}).get("Cmd"), _command),
        ("exposed_ports", (inner or {}).get("ExposedPorts"), _ports),
        ("labels", (inner or {}).get("Labels"), _labels),
        ("history", document.get("history"), _history),
    )
    for name, value, reader in fields:
        if value is None:
            continue
        try:
            read[name] = reader(value)
        except _Unreadable:
            unreadable.add(name)
    return ImageConfig(**read, unreadable=frozenset(unreadable))
