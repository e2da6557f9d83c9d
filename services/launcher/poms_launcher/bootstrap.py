"""Wiring of the launcher (reused by the embedded runner and tests)."""

from __future__ import annotations

from functools import partial

from poms_launcher.adapters.runner import LocalRunner
from poms_launcher.handlers import launch_submission
from poms_shared.broker import Bus
from poms_shared.broker.names import LAUNCHER_COMMANDS
from poms_shared.db.session import Database
from poms_shared.runtime.service import Service
from poms_shared.settings import Settings

NAME = "launcher"


def build(
    settings: Settings,
    db: Database,
    bus: Bus,
    runner: LocalRunner | None = None,
) -> Service:
    """Consume LaunchSubmission commands; publish outcomes through the outbox."""
    service = Service(NAME, db, bus)
    relay = service.attach_relay()
    handler = partial(
        launch_submission,
        db=db,
        settings=settings,
        runner=runner or LocalRunner(),
        after_commit=relay.wake,
    )
    service.subscriptions.append((LAUNCHER_COMMANDS, handler))
    return service
