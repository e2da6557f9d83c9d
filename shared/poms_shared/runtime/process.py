"""Running one service as its own process (distributed mode)."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import start_http_server

from poms_shared.broker import Bus
from poms_shared.db.session import Database
from poms_shared.runtime.service import Service
from poms_shared.settings import Settings, load_settings

log = logging.getLogger(__name__)
GC_GEN0_THRESHOLD = 50_000  # allocations between young-generation collections (default 700)

BuildFn = Callable[[Settings, Database, Bus], Service]


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pika").setLevel(logging.WARNING)
    # werkzeug logs every request at INFO on its own handler unless told otherwise
    logging.getLogger("werkzeug").setLevel(max(logging.getLogger().level, logging.WARNING))


def make_bus(settings: Settings, service: str) -> Bus:
    """The bus the settings ask for."""
    if settings.bus == "rabbitmq":
        from poms_shared.broker.rabbit import RabbitBus

        return RabbitBus(settings.amqp_url, service)
    from poms_shared.broker.memory import InProcessBus

    return InProcessBus()


def run_service(name: str, build: BuildFn, default_metrics_port: int, argv: Any = None) -> int:
    """Start one service, serve /metrics, and stop cleanly on SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog=f"poms-{name}", description=f"POMS {name} service")
    parser.add_argument("--metrics-port", type=int, default=None)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        settings = load_settings()
    except ValueError as exc:  # a bad POMS_* value: say which, no traceback
        print(f"poms-{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    port = args.metrics_port or settings.metrics_port or default_metrics_port
    db = Database(settings.database_url)
    bus = make_bus(settings, name)
    bus.declare()
    try:
        service = build(settings, db, bus)
    except ValueError as exc:
        print(f"poms-{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    service.subscribe_all()
    start_http_server(port, addr="127.0.0.1")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # Long-lived objects made at start-up never need collecting, and message decoding makes
    # many short-lived ones: freeze the former and collect the young generation less often.
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
    bus.start()
    service.start_loops()
    log.info("%s running (metrics on 127.0.0.1:%d)", name, port)
    stop.wait()
    log.info("%s stopping", name)
    service.stop_loops()
    bus.stop()
    db.dispose()
    return 0
