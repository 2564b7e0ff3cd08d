"""The settings of metrics and logs: `metrics_address`, `metrics_token`, `log_format`,
`access_log`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cargohold.config import Settings


def test_metrics_are_off_by_default() -> None:
    settings = Settings()
    assert (settings.metrics_address, settings.metrics_token) == ("", None)
    assert not settings.metrics_enabled


@pytest.mark.parametrize("address", ["127.0.0.1:9100", "0.0.0.0:9100", "[::1]:9100", "node:1"])
def test_a_metrics_address_is_host_and_port(address: str) -> None:
    settings = Settings(metrics_address=address)
    assert settings.metrics_enabled


@pytest.mark.parametrize("address", ["9100", ":9100", "127.0.0.1", "127.0.0.1:0", "host:99999"])
def test_a_metrics_address_without_host_or_port_is_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="metrics_address must be HOST:PORT"):
        Settings(metrics_address=address)


def test_a_metrics_token_alone_turns_metrics_on() -> None:
    assert Settings(metrics_token="s" * 32).metrics_enabled


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(metrics_token="short")


def test_the_variables_other_tools_rely_on_set_metrics_and_json_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARGOHOLD_METRICS_ADDRESS", "127.0.0.1:9100")
    monkeypatch.setenv("CARGOHOLD_LOG_FORMAT", "json")

    settings = Settings()
    assert (settings.metrics_address, settings.log_format) == ("127.0.0.1:9100", "json")


def test_json_logs_log_every_request_unless_told_not_to() -> None:
    assert Settings(log_format="json").logs_requests
    assert not Settings(log_format="json", access_log=False).logs_requests


def test_text_logs_log_requests_only_with_access_log() -> None:
    assert not Settings().logs_requests
    assert Settings(access_log=True).logs_requests


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(log_format="xml")  # type: ignore[arg-type]
