"""What RabbitMQ test nodes need from this machine: ports, processes, tools and epmd."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from poms_shared.testing import ports

LOCAL_HOST = "127.0.0.1"
# The shared local broker's AMQP port.
LOCAL_PORT = 5672
EPMD_PORT = 4369
# rabbitmqctl itself listens for Erlang distribution on 35672-35682 (the shared node's
# distribution port 25672 + 10000): a node given one of these ports may find it taken.
CLI_DIST_PORTS = range(35672, 35683)
RABBIT_TOOL_DIRS = "/usr/sbin:/usr/lib/rabbitmq/bin"


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def tool(name: str) -> str | None:
    """Path of a RabbitMQ command (``/usr/sbin`` is not on every user's PATH)."""
    return shutil.which(name) or shutil.which(name, path=RABBIT_TOOL_DIRS)


def free_port(exclude: Iterable[int] = ()) -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now, outside ``exclude`` and the
    ports RabbitMQ's own tools may take."""
    return ports.free_port({*exclude, *CLI_DIST_PORTS, LOCAL_PORT, EPMD_PORT})


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting to be reaped counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


def is_beam_of(pid: int, node: str) -> bool:
    """Whether ``pid`` is the Erlang VM running ``node`` (guards against a reused pid).

    The node name is not on the VM's command line; it is in the environment it was
    started with.
    """
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"RABBITMQ_NODENAME={node}".encode() in environ.split(b"\0")


def run_as_rabbitmq_user() -> tuple[int, int] | None:
    """(uid, gid) that the Debian wrapper scripts switch to when run as root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        entry = pwd.getpwnam("rabbitmq")
    except (ImportError, KeyError):
        return None
    return entry.pw_uid, entry.pw_gid


@contextmanager
def epmd_for_private_nodes() -> Iterator[dict[str, str]]:
    """Environment pointing Erlang at an epmd: the running one, or one started here.

    A node registers with the epmd on 4369 if one answers (the shared broker's does) and
    leaves it running on stop. Without one, a node would start ``epmd -daemon`` that
    outlives it; so start a private epmd on a spare port instead and end it afterwards.
    """
    if port_open(LOCAL_HOST, int(os.environ.get("ERL_EPMD_PORT", EPMD_PORT))):
        yield {}
        return
    epmd = shutil.which("epmd")
    if epmd is None:
        pytest.skip("no epmd is running on 4369 and the epmd program is not installed")
    port = free_port()
    process = subprocess.Popen(
        [epmd, "-port", str(port), "-address", LOCAL_HOST],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        Retrying(
            retry=retry_if_result(lambda up: not up),
            stop=stop_after_delay(10),
            wait=wait_fixed(0.05),
        )(lambda: port_open(LOCAL_HOST, port))
        yield {"ERL_EPMD_PORT": str(port)}
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
