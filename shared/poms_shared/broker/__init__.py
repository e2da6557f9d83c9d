"""The message bus port: topology names, the interface, and two adapters.

``memory.InProcessBus`` serves the embedded mode; ``rabbit.RabbitBus`` (the only module
that imports pika) serves the distributed mode. Both honour the same contract:

* ``publish(envelope)`` / ``publish_raw(routing_key, message_id, body)`` return only once
  the broker has accepted the message (confirms), and raise if it is unroutable.
* ``subscribe(queue, handler)`` delivers envelopes one at a time; ``subscribe_batch``
  delivers lists (micro-batches). The message is acknowledged only after the handler
  returns, i.e. after the handler's own commit.
* A handler raising ``PermanentError`` or a body failing to decode sends the message to
  the dead-letter queue with the reason; any other exception is retried with backoff and
  then redelivered; the consumer keeps going either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from poms_shared.broker.errors import PublishNackedError, UnroutableError
from poms_shared.broker.names import QueueSpec
from poms_shared.contracts import Envelope

Handler = Callable[[Envelope], None]
BatchHandler = Callable[[list[Envelope]], None]


class PermanentError(Exception):
    """A message that can never be processed; it goes to the dead-letter queue."""


class Bus(Protocol):
    def declare(self) -> None:
        """Create exchanges and queues (idempotent)."""

    def publish(self, envelope: Envelope) -> None:
        """Publish one message, waiting for the broker's confirm."""

    def publish_raw(self, routing_key: str, message_id: str, body: bytes) -> None:
        """Publish an already encoded message (used by the outbox relay)."""

    def subscribe(self, queue: QueueSpec, handler: Handler) -> None:
        """Register a per-message consumer; takes effect on ``start``."""

    def subscribe_batch(
        self,
        queue: QueueSpec,
        handler: BatchHandler,
        max_batch: int = 500,
        max_wait: float = 0.2,
        workers: int = 1,
    ) -> None:
        """Register a micro-batch consumer; takes effect on ``start``. ``workers``: how
        many batches may be handled at once (settled in order all the same); an adapter
        may handle them one at a time."""

    def start(self) -> None:
        """Start consuming in background threads."""

    def stop(self) -> None:
        """Stop consuming and close connections."""


__all__ = [
    "BatchHandler",
    "Bus",
    "Handler",
    "PermanentError",
    "PublishNackedError",
    "QueueSpec",
    "UnroutableError",
]
