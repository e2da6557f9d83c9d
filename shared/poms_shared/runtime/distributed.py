"""``make up``: the four services as separate processes over RabbitMQ and PostgreSQL.

Creates the database if needed, migrates it, starts campaign-manager, launcher, tracker
and web, loads the sample campaign, launches it and shows progress. Ctrl-C stops all.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from poms_shared.db.migrate import upgrade
from poms_shared.db.session import Database
from poms_shared.demo.driver import api, launch_demo, watch
from poms_shared.demo.load import load_samples
from poms_shared.settings import Settings, load_settings

SERVICES = {"campaign-manager": 9101, "launcher": 9102, "tracker": 9103, "web": 9104}


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in the URL when it does not exist."""
    target = make_url(url)
    if not target.drivername.startswith("postgresql") or not target.database:
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("select 1 from pg_database where datname = :n"), {"n": target.database}
        )
        if not exists:
            conn.execute(text(f'create database "{target.database}"'))
    admin.dispose()


def start_service(name: str, port: int, log_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    """One service process, logging to ``<log_dir>/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
    exe = Path(sys.executable).parent / f"poms-{name}"
    return subprocess.Popen(
        [str(exe), "--metrics-port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def wait_for_web(settings: Settings, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api(settings, "/healthz")
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"web service did not answer on {settings.web_url} within {timeout:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="poms-up", description=__doc__)
    parser.add_argument("--no-demo", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("POMS_MODE", "distributed")
    settings = load_settings()
    ensure_database(settings.database_url)
    db = Database(settings.database_url)
    upgrade(db.engine)
    env = {**os.environ, "POMS_MODE": "distributed"}
    procs = {
        n: start_service(n, p, settings.log_dir / "services", env) for n, p in SERVICES.items()
    }
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(
        f"POMS is running (distributed mode): web on {settings.web_url}/, "
        f"service logs in {settings.log_dir / 'services'}; Ctrl-C stops all four."
    )
    try:
        wait_for_web(settings)
        if not args.no_demo:
            with db.transaction() as session:
                load_samples(session)
            since = launch_demo(settings)
            watch(settings, stop, since)
        stop.wait()
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in time; killing it")
                proc.kill()
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
