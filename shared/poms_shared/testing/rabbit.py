"""Find a RabbitMQ for integration tests and give each run a throw-away vhost.

Order of preference: ``POMS_TEST_AMQP_URL``; the local broker managed with
``rabbitmqctl`` (started if it is not running); a testcontainers broker when a Docker
engine answers; otherwise the tests are skipped with the reason.

``private_broker()`` instead starts a RabbitMQ node of its own, for tests that stop and
start the broker: the shared one on 5672 is never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

log = logging.getLogger(__name__)

ENV_URL = "POMS_TEST_AMQP_URL"
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5672
START_TIMEOUT = 90.0


def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    """Run ``rabbitmqctl -q ARGS`` and return its output; raise on failure."""
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def ensure_local_broker() -> None:
    """Start the local broker if nothing listens on 5672, and wait until it accepts AMQP."""
    if _port_open(LOCAL_HOST, LOCAL_PORT):
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
        if ready.returncode == 0 and _port_open(LOCAL_HOST, LOCAL_PORT):
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


# ---- a private, throw-away RabbitMQ node ----------------------------------------------

EPMD_PORT = 4369
# rabbitmqctl itself listens for Erlang distribution on 35672-35682 (the shared node's
# distribution port 25672 + 10000): a node given one of these ports may find it taken.
CLI_DIST_PORTS = range(35672, 35683)
START_ATTEMPTS = 3
STOP_TIMEOUT = 30.0
RABBIT_TOOL_DIRS = "/usr/sbin:/usr/lib/rabbitmq/bin"


class NodeDied(RuntimeError):
    """The private node's OS process exited while it was expected to run."""


class _NotReady(Exception):
    """The node is still booting."""


def _tool(name: str) -> str | None:
    """Path of a RabbitMQ command (``/usr/sbin`` is not on every user's PATH)."""
    return shutil.which(name) or shutil.which(name, path=RABBIT_TOOL_DIRS)


def free_port(exclude: Iterable[int] = ()) -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now, outside ``exclude``."""
    excluded = {*exclude, *CLI_DIST_PORTS, LOCAL_PORT, EPMD_PORT}
    while True:
        with socket.socket() as sock:
            sock.bind((LOCAL_HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in excluded:
            return port


def _process_alive(pid: int) -> bool:
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


def _is_beam_of(pid: int, node: str) -> bool:
    """Whether ``pid`` is the Erlang VM running ``node`` (guards against a reused pid).

    The node name is not on the VM's command line; it is in the environment it was
    started with.
    """
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"RABBITMQ_NODENAME={node}".encode() in environ.split(b"\0")


def _run_as_rabbitmq_user() -> tuple[int, int] | None:
    """(uid, gid) that the Debian wrapper scripts switch to when run as root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        entry = pwd.getpwnam("rabbitmq")
    except (ImportError, KeyError):
        return None
    return entry.pw_uid, entry.pw_gid


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
        command = [_tool("rabbitmqctl") or "rabbitmqctl", "-n", self.node, "-q", *args]
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
            if self.pid is not None and not _process_alive(self.pid):
                raise NodeDied(f"node {self.node} exited while starting:\n{self.log_tail()}")
            try:
                # Fails at once while the node is not yet registered with epmd.
                self.ctl("await_startup", "--timeout", "10", timeout=30)
            except RuntimeError as exc:
                raise _NotReady(str(exc)) from exc
            if not _port_open(LOCAL_HOST, self.port):
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
        if pid is not None and not _process_alive(pid):
            return  # died by itself (e.g. at boot)
        grace = STOP_TIMEOUT
        try:
            self.ctl("stop", timeout=STOP_TIMEOUT)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            log.warning("rabbitmqctl stop of %s failed: %s", self.node, exc)
            grace = 2.0
        if pid is None or self._gone(pid, grace):
            return
        if _is_beam_of(pid, self.node):
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
            )(lambda: _process_alive(pid))
        except RetryError:
            return False
        return True


@contextmanager
def _epmd_for_private_nodes() -> Iterator[dict[str, str]]:
    """Environment pointing Erlang at an epmd: the running one, or one started here.

    A node registers with the epmd on 4369 if one answers (the shared broker's does) and
    leaves it running on stop. Without one, a node would start ``epmd -daemon`` that
    outlives it; so start a private epmd on a spare port instead and end it afterwards.
    """
    if _port_open(LOCAL_HOST, int(os.environ.get("ERL_EPMD_PORT", EPMD_PORT))):
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
        )(lambda: _port_open(LOCAL_HOST, port))
        yield {"ERL_EPMD_PORT": str(port)}
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


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
    if owner := _run_as_rabbitmq_user():
        # The Debian scripts run the node as the rabbitmq user, which must own its files.
        for path in [base, *base.rglob("*")]:
            os.chown(path, *owner)
    return PrivateBroker(node, port, dist_port, base, server_env, ctl_env)


def _start_node(broker: PrivateBroker, timeout: float) -> None:
    server = _tool("rabbitmq-server") or "rabbitmq-server"
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
    if _tool("rabbitmq-server") is None or _tool("rabbitmqctl") is None:
        pytest.skip("a private RabbitMQ node needs rabbitmq-server, which is not installed")
    root = Path(tempfile.mkdtemp(prefix="poms-rabbit-"))
    if owner := _run_as_rabbitmq_user():
        os.chown(root, *owner)
    try:
        with _epmd_for_private_nodes() as epmd_env:
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
