"""Bus errors, and the policy turning a handler's failures into settle outcomes.

Both adapters settle messages through ``Dispatcher`` so the embedded and the distributed
mode treat a failing or malformed message identically. Nothing here touches a transport:
the dispatcher decides (ack, redeliver, dead-letter), the adapter carries it out.
"""

from __future__ import annotations

import enum
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import (
    Retrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from poms_shared.contracts import Envelope, MalformedMessage, decode
from poms_shared.metrics import (
    HANDLER_SECONDS,
    MESSAGES_CONSUMED,
    MESSAGES_DEAD_LETTERED,
    MESSAGES_REDELIVERED,
)

log = logging.getLogger(__name__)


class UnroutableError(Exception):
    """A published message matched no queue binding, so nobody would ever receive it."""


class PublishNackedError(Exception):
    """The broker refused (nacked) a published message."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing handler is retried in-process."""

    attempts: int = 5
    min_wait: float = 0.05
    max_wait: float = 1.0


class Outcome(enum.Enum):
    """How a delivery is settled."""

    ACK = "ack"
    REDELIVER = "redeliver"
    DEAD_LETTER = "dead-letter"


@dataclass
class Delivery:
    """One received message as the policy sees it; ``tag`` and ``meta`` are the transport's."""

    body: bytes
    redelivered: bool = False
    tag: int = 0
    meta: Any = None
    _decoded: Envelope | MalformedMessage | None = field(default=None, repr=False, compare=False)

    def envelope(self) -> Envelope:
        """The body decoded, once (a consumer may decode while the handler is busy);
        MalformedMessage if it cannot be."""
        if self._decoded is None:
            try:
                self._decoded = decode(self.body)
            except MalformedMessage as exc:
                self._decoded = exc
        if isinstance(self._decoded, MalformedMessage):
            raise self._decoded
        return self._decoded


@dataclass(frozen=True)
class Settlement:
    """What to do with one delivery, and why."""

    delivery: Delivery
    outcome: Outcome
    message_type: str = "unknown"
    reason: str = ""


def describe(exc: BaseException) -> str:
    """Human-readable reason stored with a dead-lettered message."""
    return f"{type(exc).__name__}: {exc}"


def record(queue: str, settlement: Settlement) -> None:
    """Count a settlement once the adapter has carried it out."""
    if settlement.outcome is Outcome.ACK:
        MESSAGES_CONSUMED.labels(queue, settlement.message_type).inc()
    elif settlement.outcome is Outcome.REDELIVER:
        MESSAGES_REDELIVERED.labels(queue).inc()
    else:
        MESSAGES_DEAD_LETTERED.labels(queue).inc()


class Dispatcher:
    """Decode, call the handler with retries, and decide each delivery's outcome."""

    def __init__(
        self,
        queue: str,
        policy: RetryPolicy,
        permanent: type[Exception],
        stopping: threading.Event,
    ) -> None:
        self.queue = queue
        self._policy = policy
        # A handler may itself find a body malformed: that is as final as PermanentError.
        self._permanent: tuple[type[Exception], ...] = (permanent, MalformedMessage)
        self._stopping = stopping

    def one(self, delivery: Delivery, handler: Callable[[Envelope], None]) -> Settlement:
        """Settle a single delivery for a per-message handler."""
        try:
            envelope = delivery.envelope()
        except MalformedMessage as exc:
            return Settlement(delivery, Outcome.DEAD_LETTER, reason=describe(exc))
        return self._settle(delivery, envelope, lambda: handler(envelope))

    def batch(
        self, deliveries: list[Delivery], handler: Callable[[list[Envelope]], None]
    ) -> list[Settlement]:
        """Settle a micro-batch; a batch that keeps failing is retried one message at a time."""
        settled: list[Settlement] = []
        good: list[tuple[Delivery, Envelope]] = []
        for delivery in deliveries:
            try:
                good.append((delivery, delivery.envelope()))
            except MalformedMessage as exc:
                settled.append(Settlement(delivery, Outcome.DEAD_LETTER, reason=describe(exc)))
        if not good:
            return settled
        envelopes = [envelope for _, envelope in good]
        error = self._call(lambda: handler(envelopes), "batch")
        if error is None:
            return settled + [Settlement(d, Outcome.ACK, e.type) for d, e in good]
        isolate = isinstance(error, self._permanent) or any(d.redelivered for d, _ in good)
        if self._stopping.is_set() or not isolate:
            # A first transient failure of the whole batch: hand it all back once.
            return settled + [Settlement(d, Outcome.REDELIVER, e.type) for d, e in good]
        log.warning("batch on %s failed (%s); retrying one by one", self.queue, describe(error))
        for delivery, envelope in good:
            settled.append(self._settle(delivery, envelope, functools.partial(handler, [envelope])))
        return settled

    def _settle(
        self, delivery: Delivery, envelope: Envelope, call: Callable[[], None]
    ) -> Settlement:
        error = self._call(call, envelope.type)
        if error is None:
            return Settlement(delivery, Outcome.ACK, envelope.type)
        reason = describe(error)
        if isinstance(error, self._permanent):
            return Settlement(delivery, Outcome.DEAD_LETTER, envelope.type, reason)
        if delivery.redelivered and not self._stopping.is_set():
            reason = f"failed again after redelivery: {reason}"
            return Settlement(delivery, Outcome.DEAD_LETTER, envelope.type, reason)
        log.warning("handler on %s failed (%s); redelivering", self.queue, reason)
        return Settlement(delivery, Outcome.REDELIVER, envelope.type, reason)

    def _pause(self, seconds: float) -> None:
        # Waiting on the stop event lets stop() cut a backoff short.
        self._stopping.wait(seconds)

    def _call(self, call: Callable[[], None], message_type: str) -> Exception | None:
        """Run the handler with backoff; return the last error, or None on success."""
        policy = self._policy
        retrying = Retrying(
            retry=retry_if_not_exception_type(self._permanent),
            stop=stop_after_attempt(policy.attempts) | stop_when_event_set(self._stopping),
            wait=wait_exponential(
                multiplier=policy.min_wait, min=policy.min_wait, max=policy.max_wait
            ),
            sleep=self._pause,
            reraise=True,
        )
        histogram = HANDLER_SECONDS.labels(self.queue, message_type)

        def attempt() -> None:
            with histogram.time():
                call()

        try:
            retrying(attempt)
        except Exception as exc:
            return exc
        return None
