"""Free TCP ports on the loopback interface for servers the tests start.

The ports come from below the kernel's ephemeral range (``ip_local_port_range``): a port
from that range, once released, can be taken by any outgoing connection (a service's
link to PostgreSQL or RabbitMQ, say) as its local port before the server meant to listen
on it binds, and the server then fails with "Address already in use". Below the range
only a listener can hold a port, and the bind that chooses it proves none does.
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterable
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20000  # well above the well-known and registered ports of common services
ATTEMPTS = 500


def free_port(exclude: Iterable[int] = ()) -> int:
    return free_ports(1, exclude)[0]


def free_ports(count: int, exclude: Iterable[int] = ()) -> list[int]:
    """``count`` distinct ports free right now, none in ``exclude``: the sockets stay
    bound until all are chosen, so the same port cannot be handed out twice."""
    excluded = set(exclude)
    candidates = [p for p in _listening_range() if p not in excluded]
    random.shuffle(candidates)  # two runs at once rarely try the same ports
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        for port in candidates[:ATTEMPTS]:
            sock = held.enter_context(socket.socket())
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # something listens there
            ports.append(port)
            if len(ports) == count:
                return ports
        while len(ports) < count:  # no room below the ephemeral range: take the kernel's
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            if (port := int(sock.getsockname()[1])) not in excluded:
                ports.append(port)
        return ports


def _listening_range() -> range:
    """The ports below the ephemeral range (from ``LOWEST``)."""
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return range(LOWEST, max(LOWEST, low))
