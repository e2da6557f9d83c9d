"""Ports for the servers tests start: distinct within one request, and free."""

from __future__ import annotations

import socket

from poms_shared.testing.ports import free_port, free_ports


def test_ports_asked_for_together_are_distinct_and_can_be_bound() -> None:
    ports = free_ports(40)
    assert len(set(ports)) == 40
    for port in (*ports[:5], free_port()):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
