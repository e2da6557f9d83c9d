"""Start the four services as real processes for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from poms_shared.testing.ports import free_port, free_ports

__all__ = ["SERVICE_NAMES", "DistributedStack", "campaign_stack", "free_port"]

SERVICE_NAMES = ("campaign-manager", "launcher", "tracker", "web")


class DistributedStack:
    """The distributed mode on given database and broker URLs, one process per service."""

    def __init__(
        self,
        database_url: str,
        amqp_url: str,
        var_dir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.var_dir = var_dir
        self.web_port, *service_ports = free_ports(1 + len(SERVICE_NAMES))
        self.env = {
            **os.environ,
            "POMS_MODE": "distributed",
            "POMS_DATABASE_URL": database_url,
            "POMS_AMQP_URL": amqp_url,
            "POMS_BUS": "rabbitmq",
            "POMS_VAR_DIR": str(var_dir),
            "POMS_WEB_PORT": str(self.web_port),
            "POMS_POLL_INTERVAL": "0.5",
            # The tests drive the API as the development login unless they pass "" here.
            "POMS_DEV_USER": "poms",
            **(extra_env or {}),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.metrics_ports = dict(zip(SERVICE_NAMES, service_ports, strict=True))

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self, name: str) -> None:
        """Start (or restart) one service."""
        log_dir = self.var_dir / "logs" / "services"
        log_dir.mkdir(parents=True, exist_ok=True)
        exe = Path(sys.executable).parent / f"poms-{name}"
        with open(log_dir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [str(exe), "--metrics-port", str(self.metrics_ports[name])],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )

    def stop(self, name: str, timeout: float = 20) -> int:
        """SIGTERM one service and wait; SIGKILL if it does not stop in time."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=5)

    def kill(self, name: str, timeout: float = 10) -> int:
        """SIGKILL one service, as a crash would end it (no shutdown code runs), and reap it."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=timeout)

    def start_all(self) -> None:
        """Start every service; if the web never listens, stop the rest before raising
        (a failed start must not leave services running on into the next test)."""
        try:
            for name in SERVICE_NAMES:
                self.start(name)
            self.wait_for_web()
        except BaseException:
            self.stop_all()
            raise

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def wait_for_web(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.web_port), timeout=1):
                    return
            except OSError:
                if self.procs["web"].poll() is not None:
                    raise RuntimeError(f"web exited: {self.log('web')[-2000:]}") from None
                time.sleep(0.2)
        raise TimeoutError(f"web did not listen on {self.web_port}")

    def metrics(self, name: str) -> str:
        """The Prometheus exposition of one running service."""
        url = f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text: str = resp.read().decode()
            return text

    def log(self, name: str) -> str:
        path = self.var_dir / "logs" / "services" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def campaign_stack(var_dir: Path, *ini_texts: str) -> Iterator[DistributedStack]:
    """The demo samples and the given campaigns in a fresh PostgreSQL database and
    RabbitMQ vhost, served by the four services; ``DatabaseUnavailable`` if there is no
    PostgreSQL."""
    from poms_shared.db.campaigns import save_campaign
    from poms_shared.demo.load import load_samples
    from poms_shared.ini.parser import parse_ini
    from poms_shared.testing.db import postgres_database
    from poms_shared.testing.rabbit import rabbit_vhost

    with postgres_database() as db, rabbit_vhost() as amqp:
        with db.transaction() as session:
            load_samples(session)
            for text in ini_texts:
                spec = parse_ini(text)
                save_campaign(session, spec, experiment="demo", actor="poms", role="production")
        running = DistributedStack(db.url, amqp, var_dir)
        running.start_all()
        try:
            yield running
        finally:
            running.stop_all()
