"""The first-start hint: on a machine, and inside a container of the official image."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.cli.first_start import container_engine, container_id, first_start_hint
from cargohold.config import Settings

CONTAINER = "6bc4b1f39326" + "a" * 52
MOUNTINFO = (
    "1051 1032 0:50 / / rw,relatime - vfs none rw\n"
    f"1060 1051 252:0 /var/lib/docker/containers/{CONTAINER}/resolv.conf /etc/resolv.conf"
    " rw,relatime - ext4 /dev/vda rw\n"
    f"1061 1051 252:0 /var/lib/docker/containers/{CONTAINER}/hostname /etc/hostname"
    " rw,relatime - ext4 /dev/vda rw\n"
)


def test_the_engine_is_known_by_the_file_it_puts_in_its_containers(tmp_path: Path) -> None:
    assert container_engine(tmp_path) is None
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".containerenv").touch()
    assert container_engine(tmp_path) == "podman"
    (tmp_path / ".dockerenv").touch()
    assert container_engine(tmp_path) == "docker"


def test_the_container_id_comes_from_the_engines_own_mounts() -> None:
    assert container_id(MOUNTINFO) == "6bc4b1f39326"
    assert container_id("1051 1032 0:50 / / rw,relatime - ext4 /dev/vda rw\n") is None


def test_on_a_machine_the_hint_names_the_data_dir_and_the_address() -> None:
    hint = first_start_hint(Settings(data_dir=Path("/srv/reg"), host="127.0.0.1", port=5001))
    assert (
        "\n  cargohold user create you@example.com --admin --password-stdin --data-dir /srv/reg\n"
        in (hint)
    )
    assert "docker exec" not in hint
    assert hint.splitlines()[-1].endswith("--password-stdin 127.0.0.1:5001")
    default = first_start_hint(Settings())
    assert "--data-dir" not in default


def test_in_a_container_every_command_goes_through_docker_exec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARGOHOLD_DATA_DIR", "/data")
    settings = Settings(host="0.0.0.0", port=5000)
    assert settings.data_dir == Path("/data")
    hint = first_start_hint(settings, "docker", "6bc4b1f39326").splitlines()
    assert "docker exec" in hint[0]
    assert hint[1] == (
        "  echo 'a long password' | docker exec -i 6bc4b1f39326 cargohold"
        " user create you@example.com --admin --password-stdin"
    )
    commands = hint[2:-1]
    assert commands and all("docker exec 6bc4b1f39326 cargohold " in line for line in commands)
    assert not any("--data-dir" in line for line in hint)  # exec keeps CARGOHOLD_DATA_DIR
    assert hint[-1].endswith("--password-stdin localhost:5000")


def test_in_a_container_with_a_public_url_the_login_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CARGOHOLD_DATA_DIR", raising=False)
    settings = Settings(data_dir=Path("/data"), public_url="https://registry.example.com")
    hint = first_start_hint(settings, "podman", None).splitlines()
    assert "podman exec -i CONTAINER cargohold" in hint[1]
    assert hint[1].endswith("--data-dir /data")  # not in the container's environment
    assert hint[-1].endswith("--password-stdin registry.example.com")
