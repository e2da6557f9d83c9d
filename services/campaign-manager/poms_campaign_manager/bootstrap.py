"""Wiring of the campaign manager (reused by the embedded runner and tests)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from poms_campaign_manager import clock, handlers
from poms_campaign_manager.handlers import build_registry
from poms_shared.broker import Bus
from poms_shared.broker.names import CAMPAIGN_MANAGER_COMMANDS, CAMPAIGN_MANAGER_EVENTS
from poms_shared.catalog.port import CatalogError
from poms_shared.contracts.messages import SubmissionLocated
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.session import Database
from poms_shared.metrics import LOCATED_FOLLOW_UPS
from poms_shared.runtime.loop import Loop
from poms_shared.runtime.service import Service, transactional
from poms_shared.settings import Settings

log = logging.getLogger(__name__)
NAME = "campaign-manager"
FOLLOW_UP_EVERY = 60.0  # seconds between looks for Located submissions never followed up


def build(settings: Settings, db: Database, bus: Bus) -> Service:
    """Subscriptions for commands and submission events, plus the outbox relay."""
    service = Service(NAME, db, bus)
    relay = service.attach_relay()
    registry = build_registry(settings)
    for queue in (CAMPAIGN_MANAGER_COMMANDS, CAMPAIGN_MANAGER_EVENTS):
        handler = transactional(db, NAME, registry, queue.name, after_commit=relay.wake)
        service.subscriptions.append((queue, handler))
    service.loops.append(Loop("clock", partial(tick, db, settings, relay.wake), 5.0))
    follow = partial(follow_up_located, db, settings, relay.wake)
    service.loops.append(Loop("located-follow-up", follow, FOLLOW_UP_EVERY))
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


def follow_up_located(
    db: Database, settings: Settings, wake: Callable[[], None], now: datetime | None = None
) -> bool:
    """Handle, one transaction each, the Located submissions whose event was lost or
    dead-lettered (``POMS_LOCATED_FOLLOW_UP`` seconds after they became Located). A
    catalog still failing ends the pass: the rest wait for the next one."""
    now = now or clock.utcnow()
    with db.transaction() as session:
        candidates = clock.unfollowed_located(session, now, settings.located_follow_up)
    handle = partial(_on_located, settings=settings)
    for submission_id in candidates:
        try:
            with db.transaction() as session:
                uow = UnitOfWork(session)
                if clock.follow_up(uow, submission_id, handle):
                    LOCATED_FOLLOW_UPS.inc()
        except CatalogError as exc:
            log.warning("following up submission %s: %s; retried later", submission_id, exc)
            break
        if uow.emitted:
            wake()
    return False


def _on_located(evt: SubmissionLocated, uow: UnitOfWork, *, settings: Settings) -> None:
    handlers.on_submission_located(evt, uow=uow, settings=settings)
