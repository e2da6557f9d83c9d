"""A service = its subscriptions and loops over one database and one bus."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from poms_shared.broker import Bus, PermanentError
from poms_shared.broker.names import QueueSpec
from poms_shared.contracts import Envelope, Message
from poms_shared.db.messaging import OutboxRelay, UnitOfWork, claim_inbox
from poms_shared.db.session import Database
from poms_shared.metrics import HANDLER_SECONDS
from poms_shared.runtime.loop import Loop

log = logging.getLogger(__name__)

MessageHandler = Callable[..., None]


class HandlerRegistry:
    """Maps message types to handler functions ``handler(message, uow=..., **deps)``."""

    def __init__(self, deps: dict[str, Any] | None = None) -> None:
        self.handlers: dict[type[Message], MessageHandler] = {}
        self.deps = deps or {}

    def register(self, message_type: type[Message], handler: MessageHandler) -> None:
        self.handlers[message_type] = handler

    def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        """Call the handler for the envelope's payload type; unknown types are ignored."""
        handler = self.handlers.get(type(envelope.payload))
        if handler is None:
            log.debug("no handler for %s; acknowledged", envelope.type)
            return
        handler(envelope.payload, uow=uow, **self.deps)


def transactional(
    db: Database,
    consumer: str,
    registry: HandlerRegistry,
    queue: str = "",
    after_commit: Callable[[], None] | None = None,
) -> Callable[[Envelope], None]:
    """Wrap dispatch in one transaction with the inbox check (exactly-once effects)."""

    def handle(envelope: Envelope) -> None:
        started = time.perf_counter()
        try:
            with db.transaction() as session:
                if not claim_inbox(session, consumer, envelope.message_id):
                    return
                registry.dispatch(envelope, UnitOfWork(session, cause=envelope))
        except (LookupError, ValueError) as exc:
            raise PermanentError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            HANDLER_SECONDS.labels(queue or consumer, envelope.type).observe(
                time.perf_counter() - started
            )
        if after_commit is not None:
            after_commit()

    return handle


@dataclass(frozen=True)
class BatchSubscription:
    """A micro-batch consumer of ``queue``; ``workers``: batches handled at once."""

    queue: QueueSpec
    handler: Callable[[list[Envelope]], None]
    workers: int = 1


@dataclass
class Service:
    """What a service's ``bootstrap.build`` returns: wiring, not behaviour."""

    name: str
    db: Database
    bus: Bus
    subscriptions: list[tuple[QueueSpec, Callable[[Envelope], None]]] = field(default_factory=list)
    batch_subscriptions: list[BatchSubscription] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    relay: Loop | None = None
    on_start: list[Callable[[], None]] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)

    def attach_relay(self, interval: float = 0.5) -> Loop:
        """Create the outbox relay loop publishing through this service's bus."""
        relay = OutboxRelay(self.db, self.bus.publish_raw)
        self.relay = Loop(f"{self.name}-outbox", relay.run_once, interval)
        return self.relay

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def subscribe_all(self) -> None:
        for queue, handler in self.subscriptions:
            self.bus.subscribe(queue, handler)
        for sub in self.batch_subscriptions:
            self.bus.subscribe_batch(sub.queue, sub.handler, workers=sub.workers)

    def start_loops(self) -> None:
        for loop in [*self.loops, *([self.relay] if self.relay else [])]:
            loop.start()
        for callback in self.on_start:
            callback()

    def stop_loops(self) -> None:
        for loop in [*self.loops, *([self.relay] if self.relay else [])]:
            loop.stop()
        for callback in self.on_stop:
            callback()
