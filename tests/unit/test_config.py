"""Settings: defaults, the TOML file, and environment variables over it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cargohold.config import CONFIG_ENV, GiB, MiB, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, "")  # recorded, so what load_settings sets is undone
    monkeypatch.delenv(CONFIG_ENV)
    for name in (
        "CARGOHOLD_PORT",
        "CARGOHOLD_DATA_DIR",
        "CARGOHOLD_MAX_BLOB_SIZE",
        "CARGOHOLD_WORKERS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_zero_setup_on_loopback() -> None:
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.data_dir == Path("./cargohold-data")
    assert settings.max_blob_size == 32 * GiB
    assert settings.max_manifest_size == 4 * MiB
    assert settings.upload_idle_expiry == 24 * 3600


def test_workers_default_to_one_per_core_the_process_may_run_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert load_settings().workers == 3


def test_workers_default_to_at_most_64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(200)))
    assert load_settings().workers == 64


def test_workers_set_in_the_environment_win_over_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARGOHOLD_WORKERS", "1")
    assert load_settings().workers == 1


def test_toml_file_sets_values(tmp_path: Path) -> None:
    config = tmp_path / "cargohold.toml"
    config.write_text('port = 6000\nmax_blob_size = 1024\ndata_dir = "/srv/registry"\n')
    settings = load_settings(config)
    assert settings.port == 6000
    assert settings.max_blob_size == 1024
    assert settings.data_dir == Path("/srv/registry")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cargohold.toml"
    config.write_text("port = 6000\n")
    monkeypatch.setenv("CARGOHOLD_PORT", "7000")
    assert load_settings(config).port == 7000


def test_options_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_PORT", "7000")
    assert load_settings(port=8000).port == 8000


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "cargohold.toml"
    config.write_text("prot = 6000\n")
    with pytest.raises(ValueError, match="prot"):
        load_settings(config)


def test_public_url_is_the_registrys_root_url() -> None:
    assert load_settings(public_url="https://registry.example.com/").public_url == (
        "https://registry.example.com"
    )
    for bad in ("registry.example.com", "ftp://registry.example.com", "https://r.example/v2"):
        with pytest.raises(ValueError, match="public_url"):
            load_settings(public_url=bad)


def test_trusted_proxies_are_comma_separated_addresses_or_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARGOHOLD_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.10,::1")
    assert load_settings().trusted_proxies == ["10.0.0.0/8", "192.0.2.10", "::1"]
    monkeypatch.setenv("CARGOHOLD_TRUSTED_PROXIES", "['10.0.0.0/8']")  # as `serve` hands it on
    assert load_settings().trusted_proxies == ["10.0.0.0/8"]
    monkeypatch.setenv("CARGOHOLD_TRUSTED_PROXIES", "proxy.example")
    with pytest.raises(ValueError, match=r"proxy\.example"):
        load_settings()


@pytest.mark.parametrize(
    "name",
    [
        "oidc_allowed_networks",
        "mirror_allowed_networks",
        "webhook_allowed_networks",
        "replication_allowed_networks",
    ],
)
def test_allowed_networks_are_comma_separated_addresses_or_networks_named_when_wrong(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = f"CARGOHOLD_{name.upper()}"
    monkeypatch.setenv(variable, "10.0.0.0/8, '192.0.2.10',::1")
    assert getattr(load_settings(), name) == ["10.0.0.0/8", "192.0.2.10", "::1"]
    monkeypatch.setenv(variable, "['127.0.0.0/8']")
    assert getattr(load_settings(), name) == ["127.0.0.0/8"]
    monkeypatch.setenv(variable, "10.0.0.0/8,registry.example")
    with pytest.raises(ValueError, match=f"{name}: 'registry.example' is not an IP address"):
        load_settings()
