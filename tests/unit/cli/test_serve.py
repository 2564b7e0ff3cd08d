"""`cargohold serve` keeps the development mode on loopback unless forced."""

from __future__ import annotations

import socket

import pytest
import typer

from cargohold.cli.serve import check_bind, check_port_free, is_loopback
from cargohold.config import Settings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("::", False),
    ],
)
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_auth_none_refuses_a_public_address() -> None:
    with pytest.raises(typer.BadParameter, match="only listens on loopback"):
        check_bind(Settings(host="0.0.0.0", auth="none"))


def test_auth_none_on_a_public_address_can_be_forced(capsys: pytest.CaptureFixture[str]) -> None:
    check_bind(Settings(host="0.0.0.0", allow_insecure_bind=True, auth="none"))
    assert "WARNING: auth = none" in capsys.readouterr().err


def test_auth_none_warns_loudly_on_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    check_bind(Settings(host="127.0.0.1", auth="none"))
    assert "anyone who can reach this server may push" in capsys.readouterr().err


def test_a_port_another_server_holds_is_refused() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(typer.BadParameter, match="Is another server running"):
            check_port_free("127.0.0.1", port)


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port_free("127.0.0.1", port)


def test_a_port_held_only_by_a_stopped_servers_connections_passes() -> None:
    """A server that just crashed leaves its connections in TIME_WAIT for a minute; a
    supervisor restarting it at once must not be refused."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
    accepted.close()  # the server closes first, so its end waits in TIME_WAIT
    client.close()
    check_port_free("127.0.0.1", port)
