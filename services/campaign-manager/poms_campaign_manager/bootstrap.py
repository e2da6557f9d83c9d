"""Wiring of the campaign manager (reused by the embedded runner and tests)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from poms_campaign_manager import clock, handlers
from poms_campaign_manager.handlers import build_registry
from poms_shared.broker import Bus
from poms_shared.broker.names import CAMPAIGN_MANAGER_COMMANDS, CAMPAIGN_MANAGER_EVENTS
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.session import Database
from poms_shared.runtime.loop import Loop
from poms_shared.runtime.service import Service, transactional
from poms_shared.settings import Settings

NAME = "campaign-manager"


def build(settings: Settings, db: Database, bus: Bus) -> Service:
    """Subscriptions for commands and submission events, plus the outbox relay."""
    service = Service(NAME, db, bus)
    relay = service.attach_relay()
    registry = build_registry(settings)
    for queue in (CAMPAIGN_MANAGER_COMMANDS, CAMPAIGN_MANAGER_EVENTS):
        handler = transactional(db, NAME, registry, queue.name, after_commit=relay.wake)
        service.subscriptions.append((queue, handler))
    service.loops.append(Loop("clock", partial(tick, db, settings, relay.wake), 5.0))
    return service


def tick(db: Database, settings: Settings, wake: Callable[[], None]) -> bool:
    """One clock pass: due schedules, expired reservations."""
    now = clock.utcnow()
    with db.transaction() as session:
        uow = UnitOfWork(session)
        launch = partial(handlers.launch_with_options, settings=settings)
        fired = clock.fire_due_schedules(uow, now, launch)
        clock.expire_reservations(uow, now, settings.reservation_ttl)
    if fired or uow.emitted:
        wake()
    return False
