"""Outbox (publish after commit) and inbox (apply each message once) on the shared database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from poms_shared.contracts import Envelope, Message, encode, new_envelope
from poms_shared.db.base import utcnow
from poms_shared.db.session import Database
from poms_shared.db.tables import InboxMessage, OutboxMessage
from poms_shared.metrics import DUPLICATES_SKIPPED, OUTBOX_PENDING

log = logging.getLogger(__name__)


def add_to_outbox(session: Session, envelope: Envelope) -> None:
    """Queue a message in the caller's transaction; the relay publishes it after commit."""
    session.add(
        OutboxMessage(
            message_id=envelope.message_id,
            routing_key=envelope.routing_key,
            body=encode(envelope).decode(),
        )
    )


def claim_inbox(session: Session, consumer: str, message_id: str) -> bool:
    """Record ``message_id`` as applied by ``consumer``; False if it already was."""
    if session.get(InboxMessage, (consumer, message_id)) is not None:
        DUPLICATES_SKIPPED.labels(consumer).inc()
        return False
    session.add(InboxMessage(consumer=consumer, message_id=message_id))
    session.flush()
    return True


@dataclass
class UnitOfWork:
    """A handler's transaction: the session plus the messages it decides to emit."""

    session: Session
    cause: Envelope | None = None
    emitted: list[Envelope] = field(default_factory=list)

    def emit(self, payload: Message, *, correlation_id: str | None = None) -> Envelope:
        """Add a message to the outbox, inheriting correlation from the cause."""
        envelope = new_envelope(payload, correlation_id=correlation_id, causation=self.cause)
        add_to_outbox(self.session, envelope)
        self.emitted.append(envelope)
        return envelope


class OutboxRelay:
    """Publishes committed outbox rows in order and marks them sent."""

    def __init__(self, db: Database, publish: Callable[[str, str, bytes], None]) -> None:
        self.db = db
        self.publish = publish
        self.wakeup = threading.Event()
        self._lock = threading.Lock()

    def run_once(self, limit: int = 200) -> bool:
        """Relay one batch; True when a full batch went out (more may be waiting)."""
        with self._lock:
            with self.db.transaction() as session:
                query = (
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.outbox_id)
                    .limit(limit)
                )
                if session.bind is not None and session.bind.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                rows = list(session.scalars(query))
                # If the broker is down the publish below raises: the gauge then shows
                # at least this batch as waiting, which is what the backlog alert needs.
                OUTBOX_PENDING.set(len(rows))
                for row in rows:
                    # A confirmed publish followed by a crash before commit re-sends the
                    # message: consumers de-duplicate by message_id through their inbox.
                    self.publish(row.routing_key, row.message_id, row.body.encode())
                    row.published_at = utcnow()
            full = len(rows) == limit
            # A short batch emptied the outbox; only a full one needs a count of the rest,
            # so an idle relay does not open a second transaction every pass.
            OUTBOX_PENDING.set(self._pending() if full else 0)
            return full

    def _pending(self) -> int:
        with self.db.transaction() as session:
            pending = session.scalar(
                select(func.count()).where(OutboxMessage.published_at.is_(None))
            )
        return pending or 0
