"""The docker token scope grammar: `type:name:actions`, several separated by spaces."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cargohold.authz.errors import ScopeInvalid

_ACTION = re.compile(r"[a-z*]+")
_TYPE = re.compile(r"[a-z0-9]+(?:\([a-z0-9]+\))?")


@dataclass(frozen=True, slots=True)
class ResourceScope:
    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_resource_scope(text: str) -> ResourceScope:
    """Parse one scope; the name may itself contain `:` (a host with a port), so the type
    is read from the front and the actions from the back."""
    if len(text) > 1024:
        raise ScopeInvalid("scope is longer than 1024 characters")
    first = text.find(":")
    last = text.rfind(":")
    if first < 0 or first == last:
        raise ScopeInvalid(f"scope {text[:100]!r} is not of the form type:name:actions")
    kind, name, actions = text[:first], text[first + 1 : last], text[last + 1 :]
    if not _TYPE.fullmatch(kind):
        raise ScopeInvalid(f"scope type {kind[:40]!r} is invalid")
    if not name:
        raise ScopeInvalid(f"scope {text[:100]!r} names no resource")
    parts = actions.split(",") if actions else []
    if not parts or not all(_ACTION.fullmatch(a) for a in parts):
        raise ScopeInvalid(f"scope actions {actions[:60]!r} are invalid")
    return ResourceScope(kind.split("(")[0], name, frozenset(parts))


def parse_resource_scopes(values: list[str]) -> list[ResourceScope]:
    """Every scope in the given query values, each of which may hold several."""
    return [parse_resource_scope(item) for value in values for item in value.split(" ") if item]
