"""The Backend protocol is the whole contract: every store defines all of it, and the
services call nothing else and probe for nothing."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import cargohold
from cargohold.storage.base import Backend
from cargohold.storage.filesystem import FilesystemBackend
from cargohold.storage.measured import MeasuredBackend
from cargohold.storage.memory import MemoryBackend
from cargohold.storage.s3 import S3Backend

BACKENDS = [FilesystemBackend, MemoryBackend, S3Backend, MeasuredBackend]
METHODS = sorted(
    name for name, value in vars(Backend).items() if not name.startswith("_") and callable(value)
)
SOURCE = Path(cargohold.__file__).parent
CALLERS = [
    path
    for path in sorted(SOURCE.rglob("*.py"))
    if path.relative_to(SOURCE).parts[0] not in {"storage"}
]


def _kind(function: Callable[..., object]) -> str:
    """How a method is called: awaited, iterated with `async for`, or plainly."""
    if inspect.isasyncgenfunction(function):
        return "stream"
    if inspect.iscoroutinefunction(function):
        return "awaited"
    if str(function.__annotations__.get("return", "")).startswith("AsyncIterator"):
        return "stream"
    return "plain"


@pytest.mark.parametrize("cls", BACKENDS, ids=lambda cls: cls.__name__)
def test_every_backend_defines_every_protocol_method_itself(cls: type) -> None:
    for name in METHODS:
        owner = next((c for c in cls.__mro__ if name in vars(c)), None)
        assert owner is cls, f"{cls.__name__}.{name} is not defined by {cls.__name__}"


@pytest.mark.parametrize("cls", BACKENDS, ids=lambda cls: cls.__name__)
def test_every_backend_method_is_called_as_the_protocol_says(cls: type) -> None:
    for name in METHODS:
        declared, defined = getattr(Backend, name), getattr(cls, name)
        assert _kind(defined) == _kind(declared), f"{cls.__name__}.{name}"
        wanted = [(p.name, p.default) for p in inspect.signature(declared).parameters.values()]
        found = [(p.name, p.default) for p in inspect.signature(defined).parameters.values()]
        assert found == wanted, f"{cls.__name__}.{name}"


def test_every_store_method_the_code_calls_is_in_the_protocol() -> None:
    called = {
        (path.relative_to(SOURCE).as_posix(), name)
        for path in CALLERS
        for name in re.findall(r"\b(?:storage|store)\.(\w+)\(", path.read_text())
    }
    assert called, "no call on a store found: the pattern no longer matches the code"
    assert sorted(call for call in called if call[1] not in METHODS) == []


def test_no_code_probes_a_store_for_a_method() -> None:
    probes = [
        path.relative_to(SOURCE).as_posix()
        for path in CALLERS
        if re.search(r"\b(?:getattr|hasattr)\(\s*[\w.]*(?:storage|store)\b", path.read_text())
    ]
    assert probes == []
