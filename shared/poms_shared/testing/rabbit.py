"""Find a RabbitMQ for integration tests and give each run a throw-away vhost.

Order of preference: ``POMS_TEST_AMQP_URL``; the local broker managed with
``rabbitmqctl`` (started if it is not running); a testcontainers broker when a Docker
engine answers; otherwise the tests are skipped with the reason.

``private_broker()`` (in ``rabbit_node``, re-exported here) instead starts a RabbitMQ
node of its own, for tests that stop and start the broker: the shared one on 5672 is
never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, unquote, urlsplit

import pytest

from poms_shared.testing.rabbit_host import LOCAL_HOST, LOCAL_PORT, port_open
from poms_shared.testing.rabbit_node import NodeDied, PrivateBroker, private_broker

__all__ = [
    "ENV_URL",
    "LOCAL_HOST",
    "LOCAL_PORT",
    "NodeDied",
    "PrivateBroker",
    "close_connections",
    "container_broker",
    "ensure_local_broker",
    "local_vhost",
    "private_broker",
    "rabbit_vhost",
    "rabbitmqctl",
    "vhost_of",
]

ENV_URL = "POMS_TEST_AMQP_URL"
START_TIMEOUT = 90.0


def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    """Run ``rabbitmqctl -q ARGS`` and return its output; raise on failure."""
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def ensure_local_broker() -> None:
    """Start the local broker if nothing listens on 5672, and wait until it accepts AMQP."""
    if port_open(LOCAL_HOST, LOCAL_PORT):
        return
    subprocess.run(["rabbitmq-server", "-detached"], capture_output=True, check=False)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        # await_startup fails while the node is still booting: just ask again.
        ready = subprocess.run(
            ["rabbitmqctl", "-q", "await_startup", "--timeout", "60"],
            capture_output=True,
            check=False,
        )
        if ready.returncode == 0 and port_open(LOCAL_HOST, LOCAL_PORT):
            return
        time.sleep(1.0)
    raise RuntimeError(f"the local RabbitMQ did not start within {START_TIMEOUT:.0f}s")


@contextmanager
def local_vhost() -> Iterator[str]:
    """A fresh vhost on the local broker, deleted afterwards; yields its AMQP URL."""
    ensure_local_broker()
    vhost = f"poms-test-{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{LOCAL_HOST}:{LOCAL_PORT}/{quote(vhost, safe='')}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@contextmanager
def container_broker() -> Iterator[str]:
    """A RabbitMQ in a throw-away container; yields its AMQP URL."""
    from testcontainers.community.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.10") as broker:
        host = broker.get_container_host_ip()
        port = broker.get_exposed_port(broker.port)
        yield f"amqp://{broker.username}:{broker.password}@{host}:{port}/%2F"


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    """Yield an AMQP URL of an isolated broker namespace, or skip when none can be had."""
    if url := os.environ.get(ENV_URL):
        yield url
    elif shutil.which("rabbitmqctl"):
        with local_vhost() as url:
            yield url
    elif _docker_answers():
        with container_broker() as url:
            yield url
    else:
        pytest.skip(f"no RabbitMQ: set {ENV_URL}, install rabbitmq-server, or run Docker")


def vhost_of(url: str) -> str:
    """The vhost named by an AMQP URL (``/`` when the path is empty)."""
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def close_connections(url: str, name_prefix: str = "", reason: str = "test") -> int:
    """Force-close the vhost's connections whose connection_name starts with the prefix.

    This is how tests simulate a lost broker without stopping the shared one; it needs
    the local ``rabbitmqctl``. Returns how many connections were closed.
    """
    if not shutil.which("rabbitmqctl"):
        pytest.skip("closing broker connections needs a local rabbitmqctl")
    vhost = vhost_of(url)
    if not name_prefix:
        before = rabbitmqctl("-s", "list_connections", "-p", vhost, "pid").split()
        rabbitmqctl("close_all_connections", "-p", vhost, reason)
        return len(before)
    closed = 0
    listing = rabbitmqctl("-s", "list_connections", "-p", vhost, "pid", "client_properties")
    for line in listing.splitlines():
        pid, _, properties = line.partition("\t")
        if f'{{"connection_name","{name_prefix}' in properties:
            rabbitmqctl("close_connection", pid, reason)
            closed += 1
    return closed
