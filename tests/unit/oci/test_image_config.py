"""`read_image_config`: each field of a config read on its own; what cannot be read is
named, never fatal."""

from __future__ import annotations

from typing import Any

import pytest

from cargohold.oci.image_config import FIELDS, HistoryStep, ImageConfig, read_image_config


def test_a_config_as_the_image_spec_writes_it_is_read_whole() -> None:
    config = read_image_config(
        {
            "created": "2024-01-01T00:00:00Z",
            "os": "linux",
            "architecture": "arm64",
            "variant": "v8",
            "config": {
                "Entrypoint": ["/bin/app", "--flag"],
                "Cmd": ["serve"],
                "ExposedPorts": {"8080/tcp": {}},
                "Labels": {"a": "b"},
            },
            "history": [{"created_by": "COPY . /", "empty_layer": True}, {}],
        }
    )

    assert config == ImageConfig(
        created=1704067200.0,
        os="linux",
        architecture="arm64",
        variant="v8",
        entrypoint='["/bin/app", "--flag"]',
        command='["serve"]',
        exposed_ports=("8080/tcp",),
        labels=(("a", "b"),),
        history=(HistoryStep("COPY . /", True), HistoryStep("", False)),
    )


def test_an_empty_config_has_empty_fields_and_nothing_unreadable() -> None:
    assert read_image_config({}) == ImageConfig()


@pytest.mark.parametrize(
    ("created", "seconds"),
    [
        ("2024-01-01T09:00:00+09:00", 1704067200.0),
        ("2024-01-01T00:00:00", 1704067200.0),  # no offset: UTC
        ("2024-01-01T00:00:00.999999Z", 1704067200.0),  # whole seconds
        ("9999-12-31T23:59:59.999999Z", 253402300799.0),
        ("0001-01-01T00:00:00Z", -62135596800.0),
    ],
)
def test_created_is_whole_seconds_since_the_epoch_in_utc(created: str, seconds: float) -> None:
    assert read_image_config({"created": created}).created == seconds


ODD: dict[str, tuple[dict[str, Any], set[str]]] = {
    "created-past-9999-in-utc": ({"created": "9999-12-31T23:59:59-12:00"}, {"created"}),
    "created-before-year-1-in-utc": ({"created": "0001-01-01T00:00:00+01:00"}, {"created"}),
    "created-not-a-time": ({"created": "yesterday"}, {"created"}),
    "created-a-number": ({"created": 5}, {"created"}),
    "os-an-object": ({"os": {"a": 1}}, {"os"}),
    "labels-a-list": ({"config": {"Labels": ["a=b"]}}, {"labels"}),
    "labels-not-text": ({"config": {"Labels": {"a": 1}}}, {"labels"}),
    "ports-a-list": ({"config": {"ExposedPorts": ["80/tcp"]}}, {"exposed_ports"}),
    "entrypoint-a-string": ({"config": {"Entrypoint": "/bin/sh"}}, {"entrypoint"}),
    "cmd-not-text": ({"config": {"Cmd": [1]}}, {"command"}),
    "config-a-string": ({"config": "x"}, {"entrypoint", "command", "exposed_ports", "labels"}),
    "history-an-object": ({"history": {}}, {"history"}),
    "history-step-a-string": ({"history": ["x"]}, {"history"}),
}


@pytest.mark.parametrize(("document", "unreadable"), ODD.values(), ids=ODD.keys())
def test_a_field_that_cannot_be_read_is_named_and_the_others_are_read(
    document: dict[str, Any], unreadable: set[str]
) -> None:
    config = read_image_config({"os": "linux", "architecture": "amd64", **document})

    assert config.unreadable == unreadable
    assert unreadable <= FIELDS
    if "os" not in unreadable:
        assert (config.os, config.architecture) == ("linux", "amd64")


def test_text_utf8_cannot_hold_is_read_with_replacement_characters() -> None:
    config = read_image_config(
        {"os": "a\ud800", "config": {"Labels": {"k\udc00": "v\udfff"}, "Cmd": ["\ud800"]}}
    )

    assert config.os == "a\ufffd"
    assert config.labels == (("k\ufffd", "v\ufffd"),)
    assert config.command == '["\ufffd"]'
    assert config.unreadable == frozenset()
