"""Wiring of the campaign manager (reused by the embedded runner and tests)."""

from __future__ import annotations

from poms_campaign_manager.handlers import build_registry
from poms_shared.broker import Bus
from poms_shared.broker.names import CAMPAIGN_MANAGER_COMMANDS, CAMPAIGN_MANAGER_EVENTS
from poms_shared.db.session import Database
from poms_shared.runtime.service import Service, transactional
from poms_shared.settings import Settings

NAME = "campaign-manager"


def build(settings: Settings, db: Database, bus: Bus) -> Service:
    """Subscriptions for commands and submission events, plus the outbox relay."""
    service = Service(NAME, db, bus)
    relay = service.attach_relay()
    registry = build_registry()
    for queue in (CAMPAIGN_MANAGER_COMMANDS, CAMPAIGN_MANAGER_EVENTS):
        handler = transactional(db, NAME, registry, queue.name, after_commit=relay.wake)
        service.subscriptions.append((queue, handler))
    return service
