"""``poms-run``: every service in one process (SQLite + in-process bus + local batch).

Starts the stack on http://127.0.0.1:8080, loads the sample campaign if absent,
launches it, and prints a status line per stage until every stage is Located.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from importlib.metadata import entry_points
from typing import Any

from poms_shared.db.migrate import upgrade
from poms_shared.db.session import Database
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.demo.driver import launch_demo, watch
from poms_shared.demo.load import load_samples
from poms_shared.runtime.process import make_bus, setup_logging
from poms_shared.runtime.service import Service
from poms_shared.settings import Settings, load_settings

log = logging.getLogger("poms")


def build_services(settings: Settings, db: Database, bus: Any) -> list[Service]:
    """Every installed service (entry-point group ``poms.services``), wired to one bus."""
    services = []
    for ep in sorted(entry_points(group="poms.services"), key=lambda e: e.name):
        services.append(ep.load()(settings, db, bus))
    return services


class Stack:
    """The four services sharing one database and one bus."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        upgrade(self.db.engine)
        self.bus = make_bus(settings, "embedded")
        self.bus.declare()
        self.services = build_services(settings, self.db, self.bus)

    def start(self) -> None:
        for service in self.services:
            service.subscribe_all()
        self.bus.start()
        for service in self.services:
            service.start_loops()

    def stop(self) -> None:
        for service in self.services:
            service.stop_loops()
        self.bus.stop()
        self.db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="poms-run", description=__doc__)
    parser.add_argument("--no-demo", action="store_true", help="do not launch the demo")
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="stop once the demo campaign is done (for scripts)",
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        settings = load_settings()
        stack = Stack(settings)
    except (OSError, ValueError) as exc:
        # e.g. the web port is taken, or a setting is malformed: say so, no traceback
        print(f"poms-run: cannot start: {exc}", file=sys.stderr)
        print(
            "  (set POMS_WEB_PORT for another port, POMS_VAR_DIR for another data folder)",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack.start()
    print(f"POMS is running (embedded mode) on {settings.web_url}/  — Ctrl-C stops it.")
    print(f"  data: {settings.database_url}   logs: {settings.log_dir}")
    done = True
    try:
        if not args.no_demo:
            with stack.db.transaction() as session:
                created = load_samples(session)
            print(f"sample campaign {DEMO_CAMPAIGN} {'loaded' if created else 'already present'}")
            since = launch_demo(settings)
            done = watch(settings, stop, since)
        if not args.exit_when_done:
            stop.wait()
    finally:
        print("stopping…", flush=True)
        stack.stop()
    return 0 if done else 1
