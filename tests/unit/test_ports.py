"""Ports for the servers tests start: distinct within one request, free, and out of the
range outgoing connections take their local ports from."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from poms_shared.testing import ports
from poms_shared.testing.ports import free_port, free_ports


def test_ports_asked_for_together_are_distinct_and_can_be_bound() -> None:
    chosen = free_ports(40)
    assert len(set(chosen)) == 40
    for port in (*chosen[:5], free_port()):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


@pytest.fixture
def ephemeral(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kernel's ephemeral range as the tests set it."""
    limits = tmp_path / "ip_local_port_range"
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", limits)
    return limits


def test_ports_come_from_below_the_ephemeral_range(ephemeral: Path) -> None:
    # An outgoing connection may take a released ephemeral port as its local port, and a
    # server asked to listen there then finds it in use.
    ephemeral.write_text("30000\t60999\n")
    assert all(ports.LOWEST <= p < 30000 for p in free_ports(20))


def test_a_port_something_listens_on_or_excluded_is_never_chosen(ephemeral: Path) -> None:
    ephemeral.write_text(f"{ports.LOWEST + 4} 60999")  # room for four ports only
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports.LOWEST))
        busy.listen()
        chosen = free_ports(2, exclude={ports.LOWEST + 1})
    assert sorted(chosen) == [ports.LOWEST + 2, ports.LOWEST + 3]


def test_with_no_room_below_the_range_the_kernel_chooses(ephemeral: Path) -> None:
    ephemeral.write_text("1024 65535")
    chosen = free_ports(3)
    assert len(set(chosen)) == 3
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", chosen[0]))
