"""A private, throw-away RabbitMQ node for tests that stop and start the broker.

``private_broker()`` starts a node of its own on spare ports: the shared broker on 5672
is never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from poms_shared.testing.rabbit_host import (
    LOCAL_HOST,
    epmd_for_private_nodes,
    free_port,
    is_beam_of,
    port_open,
    process_alive,
    run_as_rabbitmq_user,
    tool,
)

log = logging.getLogger(__name__)

START_ATTEMPTS = 3
STOP_TIMEOUT = 30.0


class NodeDied(RuntimeError):
    """The private node's OS process exited while it was expected to run."""


class _NotReady(Exception):
    """The node is still booting."""


@dataclass
class PrivateBroker:
    """A RabbitMQ node of this test's own: its port, its files, its OS process."""

    node: str
    port: int
    dist_port: int
    base: Path
    server_env: dict[str, str]
    ctl_env: dict[str, str]
    pid: int | None = None

    @property
    def url(self) -> str:
        """AMQP URL of the node's default vhost (guest is allowed over loopback)."""
        return f"amqp://guest:guest@{LOCAL_HOST}:{self.port}/%2F"

    @property
    def pid_file(self) -> Path:
        return self.base / "rabbitmq.pid"

    @property
    def log_file(self) -> Path:
        return self.base / "log" / f"{self.node}.log"

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """``rabbitmqctl -n NODE -q ARGS``; raise with its error output on failure."""
        command = [tool("rabbitmqctl") or "rabbitmqctl", "-n", self.node, "-q", *args]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.ctl_env,
            check=False,
        )
        if done.returncode != 0:
            error = (done.stderr or done.stdout).strip()
            raise RuntimeError(f"rabbitmqctl -n {self.node} {' '.join(args)} failed: {error}")
        return done.stdout

    def stop_app(self) -> None:
        """Stop the RabbitMQ application (every connection drops); the VM keeps running."""
        self.ctl("stop_app")

    def start_app(self, timeout: float = 60.0) -> None:
        """Start the application again and wait until it accepts AMQP connections."""
        Retrying(
            retry=retry_if_exception_type(RuntimeError),
            stop=stop_after_delay(timeout),
            wait=wait_fixed(0.5),
            reraise=True,
        )(lambda: self.ctl("start_app"))
        self.await_startup(timeout)

    def await_startup(self, timeout: float = 60.0) -> None:
        """Wait until the node runs the application and its AMQP port answers."""

        def check() -> None:
            self.pid = self.pid or self._read_pid()
            if self.pid is not None and not process_alive(self.pid):
                raise NodeDied(f"node {self.node} exited while starting:\n{self.log_tail()}")
            try:
                # Fails at once while the node is not yet registered with epmd.
                self.ctl("await_startup", "--timeout", "10", timeout=30)
            except RuntimeError as exc:
                raise _NotReady(str(exc)) from exc
            if not port_open(LOCAL_HOST, self.port):
                raise _NotReady(f"nothing listens on {self.port} yet")

        try:
            Retrying(
                retry=retry_if_exception_type(_NotReady),
                stop=stop_after_delay(timeout),
                wait=wait_fixed(0.25),
                reraise=True,
            )(check)
        except _NotReady as exc:
            raise RuntimeError(
                f"node {self.node} did not start within {timeout:.0f}s ({exc}):\n{self.log_tail()}"
            ) from exc
        # The node writes its pid file while booting: by now it is there.
        self.pid = self.pid or self._read_pid()

    def _read_pid(self) -> int | None:
        """The OS pid of the node's Erlang VM, from its pid file once written."""
        try:
            text = self.pid_file.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def log_tail(self, lines: int = 30) -> str:
        """The end of the node's log, for error messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def shutdown(self) -> None:
        """Stop the node; if it does not go, kill its Erlang VM (and only that process)."""
        pid = self.pid or self._read_pid()
        if pid is not None and not process_alive(pid):
            return  # died by itself (e.g. at boot)
        grace = STOP_TIMEOUT
        try:
            self.ctl("stop", timeout=STOP_TIMEOUT)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            log.warning("rabbitmqctl stop of %s failed: %s", self.node, exc)
            grace = 2.0
        if pid is None or self._gone(pid, grace):
            return
        if is_beam_of(pid, self.node):
            os.kill(pid, signal.SIGKILL)
            if not self._gone(pid, 10.0):
                raise RuntimeError(f"node {self.node} (pid {pid}) survived SIGKILL")

    @staticmethod
    def _gone(pid: int, timeout: float) -> bool:
        """Wait up to ``timeout`` for ``pid`` to exit; True if it did."""
        try:
            Retrying(
                retry=retry_if_result(lambda alive: alive),
                stop=stop_after_delay(timeout),
                wait=wait_fixed(0.1),
            )(lambda: process_alive(pid))
        except RetryError:
            return False
        return True


def _prepare_node(root: Path, attempt: int, epmd_env: dict[str, str]) -> PrivateBroker:
    """Files and environment of a fresh node under ``root``; nothing is started yet."""
    node = f"poms-test-{uuid.uuid4().hex[:10]}@localhost"
    base = root / f"node-{attempt}"
    (base / "mnesia").mkdir(parents=True)
    (base / "log").mkdir()
    config = base / "rabbitmq.conf"
    # No listeners here: RABBITMQ_NODE_PORT defines the only one (both would clash).
    config.write_text("log.file.level = info\n")
    # Empty: no management or prometheus plugins, and /etc/rabbitmq settings stay unread.
    (base / "enabled_plugins").write_text("")
    (base / "rabbitmq-env.conf").write_text("")
    port = free_port()
    dist_port = free_port(exclude={port})
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
    ctl_env = {**inherited, **epmd_env}
    server_env = {
        **ctl_env,
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": LOCAL_HOST,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        # Erlang distribution on loopback only, like the shared node.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_ADDRESS": LOCAL_HOST,
    }
    if owner := run_as_rabbitmq_user():
        # The Debian scripts run the node as the rabbitmq user, which must own its files.
        for path in [base, *base.rglob("*")]:
            os.chown(path, *owner)
    return PrivateBroker(node, port, dist_port, base, server_env, ctl_env)


def _start_node(broker: PrivateBroker, timeout: float) -> None:
    server = tool("rabbitmq-server") or "rabbitmq-server"
    with open(broker.base / "startup.log", "wb") as output:
        started = subprocess.run(
            [server, "-detached"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=broker.server_env,
            timeout=60,
            check=False,
        )
    if started.returncode != 0:
        text = (broker.base / "startup.log").read_text(errors="replace").strip()
        raise RuntimeError(f"rabbitmq-server -detached failed ({started.returncode}): {text}")
    broker.await_startup(timeout)


@contextmanager
def private_broker(start_timeout: float = 60.0) -> Iterator[PrivateBroker]:
    """Start a throw-away RabbitMQ node on spare ports; always stop it afterwards.

    It shares nothing with the broker on 5672 except, when one runs, epmd. Skips when
    RabbitMQ is not installed. A node dying at boot (a port taken in between) is
    retried on fresh ports.
    """
    if tool("rabbitmq-server") is None or tool("rabbitmqctl") is None:
        pytest.skip("a private RabbitMQ node needs rabbitmq-server, which is not installed")
    root = Path(tempfile.mkdtemp(prefix="poms-rabbit-"))
    if owner := run_as_rabbitmq_user():
        os.chown(root, *owner)
    try:
        with epmd_for_private_nodes() as epmd_env:
            for attempt in range(1, START_ATTEMPTS + 1):
                broker = _prepare_node(root, attempt, epmd_env)
                try:
                    _start_node(broker, start_timeout)
                except NodeDied as exc:
                    broker.shutdown()
                    if attempt == START_ATTEMPTS:
                        raise
                    log.warning("private RabbitMQ node died at boot; retrying: %s", exc)
                    continue
                except BaseException:
                    broker.shutdown()
                    raise
                break
            try:
                yield broker
            finally:
                broker.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
