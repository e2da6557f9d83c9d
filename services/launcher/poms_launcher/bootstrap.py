"""Wiring of the launcher (reused by the embedded runner and tests)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from poms_launcher.adapters.backends import BackendRegistry
from poms_launcher.control import Controller
from poms_launcher.handlers import Launcher
from poms_launcher.login_test import LoginSetupTester
from poms_launcher.pool import LaunchPool
from poms_shared.broker import Bus
from poms_shared.broker.names import LAUNCHER_COMMANDS
from poms_shared.contracts import Envelope
from poms_shared.contracts.messages import (
    AbortLaunch,
    JobControl,
    LaunchSubmission,
    TestLoginSetup,
)
from poms_shared.db.session import Database
from poms_shared.runtime.service import Service
from poms_shared.settings import Settings

NAME = "launcher"
log = logging.getLogger(__name__)


def build(
    settings: Settings,
    db: Database,
    bus: Bus,
    backends: BackendRegistry | None = None,
) -> Service:
    """Consume launcher commands; launches run on a pool, outcomes go through the outbox."""
    service = Service(NAME, db, bus)
    relay = service.attach_relay()
    pool = LaunchPool(settings.launch_concurrency)
    launcher = Launcher(db=db, settings=settings, pool=pool, after_commit=relay.wake)
    controller = Controller(
        db=db,
        settings=settings,
        backends=backends or BackendRegistry(settings),
        after_commit=relay.wake,
    )
    tester = LoginSetupTester(db=db, settings=settings, pool=pool, after_commit=relay.wake)
    routes: dict[type, Callable[[Envelope], None]] = {
        LaunchSubmission: launcher.on_launch,
        JobControl: controller.on_job_control,
        AbortLaunch: controller.on_abort,
        TestLoginSetup: tester.on_test,
    }

    def dispatch(envelope: Envelope) -> None:
        handler = routes.get(type(envelope.payload))
        if handler is None:
            log.debug("no handler for %s; acknowledged", envelope.type)
            return
        handler(envelope)

    service.subscriptions.append((LAUNCHER_COMMANDS, dispatch))
    service.on_start.append(pool.start)
    service.on_start.append(launcher.recover)
    service.on_stop.append(pool.stop)
    return service
