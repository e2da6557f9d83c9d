"""The in-process bus of the embedded mode: RabbitMQ's contract without a broker.

Messages are kept as encoded bytes and decoded at delivery, so a malformed body is
dead-lettered exactly as it would be by ``RabbitBus``; failures are settled by the same
``Dispatcher``. Nothing survives the process: durability is the outbox's job here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from poms_shared.broker import BatchHandler, Handler, PermanentError
from poms_shared.broker.errors import (
    Delivery,
    Dispatcher,
    Outcome,
    RetryPolicy,
    Settlement,
    UnroutableError,
    record,
)
from poms_shared.broker.names import ALL_QUEUES, QueueSpec
from poms_shared.contracts import Envelope, encode
from poms_shared.metrics import MESSAGES_PUBLISHED

log = logging.getLogger(__name__)


def topic_matches(binding: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` is zero or more words."""
    return _match(binding.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words or head not in ("*", words[0]):
        return False
    return _match(rest, words[1:])


@dataclass
class _Queue:
    spec: QueueSpec
    messages: deque[Delivery] = field(default_factory=deque)


@dataclass(frozen=True)
class _Subscription:
    queue: QueueSpec
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    max_batch: int = 1
    max_wait: float = 0.0


class InProcessBus:
    """Topic routing to in-memory queues, one worker thread per subscription."""

    def __init__(
        self,
        queues: Iterable[QueueSpec] = ALL_QUEUES,
        *,
        retry: RetryPolicy | None = None,
        join_timeout: float = 10.0,
    ) -> None:
        self._specs = list(queues)
        self._retry = retry or RetryPolicy()
        self._join_timeout = join_timeout
        self._queues: dict[str, _Queue] = {}
        self._subscriptions: list[_Subscription] = []
        self._threads: list[threading.Thread] = []
        self._dead: list[tuple[str, bytes, str]] = []
        # One condition guards every queue, the busy count and the dead letters.
        self._cond = threading.Condition()
        self._busy = 0
        self._stopping = threading.Event()

    # ---- Bus protocol ------------------------------------------------------------------

    def declare(self) -> None:
        """Create the queues given to the constructor (idempotent)."""
        with self._cond:
            for spec in self._specs:
                self._queues.setdefault(spec.name, _Queue(spec))

    def publish(self, envelope: Envelope) -> None:
        """Route one message to every queue bound to its routing key."""
        self.publish_raw(envelope.routing_key, envelope.message_id, encode(envelope))

    def publish_raw(self, routing_key: str, message_id: str, body: bytes) -> None:
        """Route an encoded message; raise UnroutableError if no queue is bound to the key."""
        with self._cond:
            targets = [
                queue
                for queue in self._queues.values()
                if any(topic_matches(binding, routing_key) for binding in queue.spec.bindings)
            ]
            if not targets:
                raise UnroutableError(f"no queue is bound to {routing_key!r} ({message_id})")
            for queue in targets:
                queue.messages.append(Delivery(bytes(body)))
            self._cond.notify_all()
        MESSAGES_PUBLISHED.labels(routing_key).inc()

    def subscribe(self, queue: QueueSpec, handler: Handler) -> None:
        """Register a per-message consumer (its queue exists from now on)."""
        self._add(_Subscription(queue, handler=handler))

    def subscribe_batch(
        self,
        queue: QueueSpec,
        handler: BatchHandler,
        max_batch: int = 500,
        max_wait: float = 0.2,
        workers: int = 1,
    ) -> None:
        """Register a micro-batch consumer (its queue exists from now on). Its batches
        are handled one at a time whatever ``workers`` asks: this bus serves one
        process, where a single worker thread keeps the embedded mode simple."""
        self._add(_Subscription(queue, None, handler, max(1, max_batch), max(0.0, max_wait)))

    def start(self) -> None:
        """Start one worker thread per subscription not yet running."""
        self.declare()
        self._stopping.clear()
        for sub in self._subscriptions[len(self._threads) :]:
            thread = threading.Thread(
                target=self._work, args=(sub,), name=f"bus-{sub.queue.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop the workers once their current message is settled, and join them."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(self._join_timeout)
            if thread.is_alive():
                log.warning("bus worker %s did not stop in time", thread.name)
        self._threads.clear()

    # ---- helpers for tests and the embedded runtime ------------------------------------

    @property
    def dead_letters(self) -> list[tuple[str, bytes, str]]:
        """Dead-lettered messages as (queue name, body, reason), oldest first."""
        with self._cond:
            return list(self._dead)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every consumed queue is empty and no handler runs; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._idle():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # ---- internals ---------------------------------------------------------------------

    def _add(self, sub: _Subscription) -> None:
        with self._cond:
            self._queues.setdefault(sub.queue.name, _Queue(sub.queue))
            self._subscriptions.append(sub)

    def _idle(self) -> bool:
        consumed = {sub.queue.name for sub in self._subscriptions}
        return self._busy == 0 and not any(self._queues[name].messages for name in consumed)

    def _work(self, sub: _Subscription) -> None:
        dispatcher = Dispatcher(sub.queue.name, self._retry, PermanentError, self._stopping)
        while (taken := self._take(sub)) is not None:
            try:
                if sub.batch_handler is not None:
                    settlements = dispatcher.batch(taken, sub.batch_handler)
                else:
                    assert sub.handler is not None
                    settlements = [dispatcher.one(taken[0], sub.handler)]
            except Exception:
                log.exception("bus worker for %s failed; redelivering", sub.queue.name)
                settlements = [Settlement(d, Outcome.REDELIVER) for d in taken]
            self._settle(sub.queue.name, settlements, len(taken))

    def _take(self, sub: _Subscription) -> list[Delivery] | None:
        """Block for the next message (or micro-batch); None once stopping."""
        with self._cond:
            messages = self._queues[sub.queue.name].messages
            while not self._stopping.is_set() and not messages:
                self._cond.wait()
            if self._stopping.is_set():
                return None
            # Counted busy as soon as popped, so wait_idle never sees a batch in the making
            # as idle.
            taken = [messages.popleft()]
            self._busy += 1
            deadline = time.monotonic() + sub.max_wait
            while len(taken) < sub.max_batch and not self._stopping.is_set():
                if messages:
                    taken.append(messages.popleft())
                    self._busy += 1
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return taken

    def _settle(self, queue: str, settlements: list[Settlement], taken: int) -> None:
        with self._cond:
            for settlement in settlements:
                delivery = settlement.delivery
                if settlement.outcome is Outcome.REDELIVER:
                    self._queues[queue].messages.append(Delivery(delivery.body, redelivered=True))
                elif settlement.outcome is Outcome.DEAD_LETTER:
                    log.error("dead-lettered a message of %s: %s", queue, settlement.reason)
                    self._dead.append((queue, delivery.body, settlement.reason))
            self._busy -= taken
            self._cond.notify_all()
        for settlement in settlements:
            record(queue, settlement)
