"""The consumer side of the RabbitMQ bus: one consume loop per subscription.

Every consumer thread owns its connection (pika's BlockingConnection is not thread-safe).
Handlers run in helper threads while the consumer thread keeps servicing its
connection, so heartbeats survive long handlers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pika
import pika.exceptions
from tenacity import Retrying, retry_if_exception_type, stop_when_event_set

from poms_shared.broker import BatchHandler, Handler, PermanentError
from poms_shared.broker.errors import Delivery, Dispatcher, Outcome, Settlement, record
from poms_shared.broker.names import DEAD_LETTER_EXCHANGE, QueueSpec
from poms_shared.contracts import MalformedMessage
from poms_shared.metrics import BUS_RECONNECTS

if TYPE_CHECKING:
    from poms_shared.broker.rabbit import RabbitBus

log = logging.getLogger(__name__)

# Seconds a batch consumer waits for a message before looking at its handler again.
BUSY_TICK = 0.02
# Anything that means "this connection or channel is unusable": reconnect and go on.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (pika.exceptions.AMQPError, OSError)


@dataclass(frozen=True)
class Subscription:
    """One consumer: a queue and either a per-message or a micro-batch handler."""

    queue: QueueSpec
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    max_batch: int = 1
    max_wait: float = 0.0
    workers: int = 1  # batches handled at once (a per-message consumer has one)


def _decode_early(delivery: Delivery) -> None:
    """Decode now, in the consumer thread; a malformed body is settled with its batch."""
    with contextlib.suppress(MalformedMessage):
        delivery.envelope()


def close_quietly(connection: Any) -> None:
    """Close a connection that may already be dead."""
    try:
        if connection is not None and connection.is_open:
            connection.close()
    except Exception as exc:  # the connection is being discarded either way
        log.debug("closing a broken connection: %s", exc)


class Consumer:
    """One subscription's consume loop; owns its connection and reconnects until stopped."""

    def __init__(self, bus: RabbitBus, sub: Subscription, stopping: threading.Event) -> None:
        self.bus = bus
        self.sub = sub
        self.queue = sub.queue.name
        self.role = f"consumer/{self.queue}"
        self.stopping = stopping
        self.dispatcher = Dispatcher(self.queue, bus.retry, PermanentError, stopping)

    def run(self) -> None:
        """Consume until stop(), reconnecting with backoff whenever the connection is lost."""
        connecting = Retrying(
            retry=retry_if_exception_type(CONNECTION_ERRORS),
            stop=stop_when_event_set(self.stopping),
            wait=self.bus.backoff(),
            sleep=self._pause,
            before_sleep=lambda state: log.warning("%s cannot connect; retrying", self.role),
            reraise=True,
        )
        # Handlers run here so this thread can keep the connection serviced meanwhile.
        workers = self.sub.workers
        with ThreadPoolExecutor(workers, thread_name_prefix=f"handle-{self.queue}") as handlers:
            lost = False
            while not self.stopping.is_set():
                try:
                    connection, channel = connecting(self._open)
                except Exception as exc:
                    if not self.stopping.is_set():
                        log.exception("%s cannot start: %s", self.role, exc)
                        self._pause(self.bus.backoff().max)
                    continue
                if lost:
                    BUS_RECONNECTS.labels("consumer").inc()
                try:
                    self._consume(connection, channel, handlers)
                except Exception as exc:
                    if not self.stopping.is_set():
                        log.warning("%s lost its connection (%s); reconnecting", self.role, exc)
                finally:
                    close_quietly(connection)
                lost = True
                # Keeps a session that fails at once from spinning.
                self._pause(0.1)

    def _pause(self, seconds: float) -> None:
        self.stopping.wait(seconds)

    def _open(self) -> tuple[Any, Any]:
        connection, channel = self.bus.connect(self.role)
        # Confirms on this channel make dead-letter publishes safe before the ack.
        channel.confirm_delivery()
        # A batch consumer holds a batch per handler thread and one more: the next one
        # arrives (and is decoded) while the handlers work on theirs.
        sub = self.sub
        batch = sub.batch_handler is not None
        held = (sub.workers + 1) * sub.max_batch
        channel.basic_qos(prefetch_count=held if batch else self.bus.prefetch)
        return connection, channel

    def _consume(self, connection: Any, channel: Any, handlers: ThreadPoolExecutor) -> None:
        """Receive, cut batches, hand each to the handler threads (``workers`` of them,
        each handling one batch at a time). A batch consumer collects (and decodes) the
        next batch while the previous ones are handled: with a handler thread free, a
        batch goes when ``max_batch`` messages are in, ``max_wait`` after its first, or
        when none came for a moment; with all of them busy, it grows until ``max_batch``
        and then waits in the handlers' queue, so a handler starts it the moment it is
        done with the one before (a batch cut short goes as soon as one is free). So
        under load batches are full (a batch's fixed cost is paid once for more events),
        no time is lost between them, and a quiet stream waits little. Batches are
        settled in the order they were cut, whichever handler finishes first."""
        sub = self.sub
        batched = sub.batch_handler is not None
        idle = self.bus.poll_interval
        if batched:  # it wakes every BUSY_TICK at least, to see its handler finish
            idle = min(idle, sub.max_wait, BUSY_TICK)
        # At most one batch more than there are handler threads is with them, the next
        # one waiting: the prefetch lets no more in until the first is acked.
        most = sub.workers + 1 if batched else 1
        pending: list[Delivery] = []
        in_flight: deque[Future[list[Settlement]]] = deque()
        deadline = 0.0
        try:
            for method, properties, body in channel.consume(
                self.queue, inactivity_timeout=max(idle, 0.01)
            ):
                if method is not None:
                    if not pending:
                        deadline = time.monotonic() + sub.max_wait
                    delivery = Delivery(body, method.redelivered, method.delivery_tag, properties)
                    pending.append(delivery)
                    if batched:
                        _decode_early(delivery)
                freed = False
                while in_flight and in_flight[0].done():
                    self._settle(channel, in_flight.popleft().result())
                    freed = True
                stopping = self.stopping.is_set()
                full = len(pending) >= sub.max_batch
                due = method is None or time.monotonic() >= deadline
                free = len(in_flight) < sub.workers
                if pending and (stopping or full or (free and (due or freed))):
                    if len(in_flight) >= most:  # the handler threads have all they may hold
                        self._settle(channel, self._wait(connection, in_flight.popleft()))
                    in_flight.append(handlers.submit(self._job(pending)))
                    pending = []
                    if not batched:
                        self._settle(channel, self._wait(connection, in_flight.popleft()))
                if stopping:
                    break
            else:
                log.warning("%s was cancelled by the broker", self.role)
            while in_flight:
                self._settle(channel, self._wait(connection, in_flight.popleft()))
            if self.stopping.is_set():
                channel.cancel()
        except BaseException:
            # The connection died under a running handler and the broker requeues its
            # messages: reconnect only once it is done, or the stuck handler's consumer
            # would grab the redeliveries and hold them hostage.
            if in_flight:
                wait_futures(in_flight)
            raise

    def _job(self, pending: list[Delivery]) -> Callable[[], list[Settlement]]:
        if self.sub.batch_handler is not None:
            return functools.partial(self.dispatcher.batch, pending, self.sub.batch_handler)
        handler = self.sub.handler
        assert handler is not None
        return lambda: [self.dispatcher.one(pending[0], handler)]

    @staticmethod
    def _wait(connection: Any, future: Future[list[Settlement]]) -> list[Settlement]:
        """The handler's settlements; meanwhile answer heartbeats, so the broker keeps
        the connection through a long handler."""
        while True:
            try:
                return future.result(timeout=1.0)
            except TimeoutError:
                connection.process_data_events(0)

    def _settle(self, channel: Any, settlements: list[Settlement]) -> None:
        if len(settlements) > 1 and all(s.outcome is Outcome.ACK for s in settlements):
            channel.basic_ack(max(s.delivery.tag for s in settlements), multiple=True)
        else:
            for settlement in settlements:
                tag = settlement.delivery.tag
                if settlement.outcome is Outcome.ACK:
                    channel.basic_ack(tag)
                elif settlement.outcome is Outcome.REDELIVER:
                    channel.basic_nack(tag, requeue=True)
                else:
                    self._dead_letter(channel, settlement)
        for settlement in settlements:
            record(self.queue, settlement)

    def _dead_letter(self, channel: Any, settlement: Settlement) -> None:
        """Park the message in the dead-letter queue with the reason, then ack it."""
        delivery = settlement.delivery
        original = delivery.meta
        log.error("dead-lettering a message of %s: %s", self.queue, settlement.reason)
        headers = dict(original.headers or {})
        headers.update({"x-poms-reason": settlement.reason, "x-poms-queue": self.queue})
        properties = pika.BasicProperties(
            content_type=original.content_type,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=original.message_id,
            type=original.type,
            app_id=original.app_id,
            headers=headers,
        )
        try:
            channel.basic_publish(
                DEAD_LETTER_EXCHANGE, self.queue, delivery.body, properties, mandatory=True
            )
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            log.error("dead-letter publish failed (%s); rejecting to the queue's DLX", exc)
            # The queue's own x-dead-letter arguments still park it, without our reason.
            channel.basic_nack(delivery.tag, requeue=False)
            return
        channel.basic_ack(delivery.tag)
