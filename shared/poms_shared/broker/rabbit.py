"""The RabbitMQ bus of the distributed mode; pika is imported only in this package.

pika's BlockingConnection is not thread-safe, so every consumer thread owns its connection
(see ``rabbit_consumer``) and the publisher's connection is used under a lock. Handlers
run in a helper thread while the consumer thread keeps servicing its connection, so
heartbeats survive long handlers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pika
import pika.exceptions
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from poms_shared.broker import BatchHandler, Handler
from poms_shared.broker.errors import PublishNackedError, RetryPolicy, UnroutableError
from poms_shared.broker.names import (
    ALL_QUEUES,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    EXCHANGE,
    QueueSpec,
)
from poms_shared.broker.rabbit_consumer import (
    CONNECTION_ERRORS,
    Consumer,
    Subscription,
    close_quietly,
)
from poms_shared.contracts import Envelope, encode
from poms_shared.metrics import BUS_RECONNECTS, MESSAGES_PUBLISHED

__all__ = ["CONNECTION_ERRORS", "RabbitBus", "Subscription", "close_quietly"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class RabbitBus:
    """Durable topic exchange, confirmed persistent publishing, ack after the handler."""

    def __init__(
        self,
        url: str,
        service: str,
        *,
        queues: Iterable[QueueSpec] = ALL_QUEUES,
        prefetch: int = 10,
        retry: RetryPolicy | None = None,
        publish_timeout: float = 30.0,
        reconnect_max_wait: float = 5.0,
        heartbeat: int = 30,
        poll_interval: float = 0.25,
    ) -> None:
        self.url = url
        self.service = service
        self.retry = retry or RetryPolicy()
        self.prefetch = prefetch
        self.poll_interval = poll_interval
        self._queues = list(queues)
        self._publish_timeout = publish_timeout
        self._reconnect_max_wait = reconnect_max_wait
        self._heartbeat = heartbeat
        self._subscriptions: list[Subscription] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._publish_lock = threading.Lock()
        self._publisher: Any = None
        self._publisher_channel: Any = None
        self._publisher_lost = False

    # ---- Bus protocol ------------------------------------------------------------------

    def declare(self) -> None:
        """Create the exchanges, the dead-letter queue and every queue (idempotent)."""
        self._with_publisher(lambda channel: self.declare_on(channel))

    def publish(self, envelope: Envelope) -> None:
        """Publish one message; return once the broker has confirmed it."""
        self._publish(envelope.routing_key, envelope.message_id, envelope.type, encode(envelope))

    def publish_raw(self, routing_key: str, message_id: str, body: bytes) -> None:
        """Publish an encoded message; its type is the routing key's last part."""
        self._publish(routing_key, message_id, routing_key.partition(".")[2], body)

    def subscribe(self, queue: QueueSpec, handler: Handler) -> None:
        """Register a per-message consumer; takes effect on ``start``."""
        self._subscriptions.append(Subscription(queue, handler=handler))

    def subscribe_batch(
        self,
        queue: QueueSpec,
        handler: BatchHandler,
        max_batch: int = 500,
        max_wait: float = 0.2,
        workers: int = 1,
    ) -> None:
        """Register a micro-batch consumer; takes effect on ``start``. ``workers``
        batches are handled at once (each in its own thread), still acked in order."""
        sub = Subscription(
            queue, None, handler, max(1, max_batch), max(0.0, max_wait), max(1, workers)
        )
        self._subscriptions.append(sub)

    def start(self) -> None:
        """Start one consumer thread, with its own connection, per subscription."""
        self._stopping.clear()
        for sub in self._subscriptions[len(self._threads) :]:
            consumer = Consumer(self, sub, self._stopping)
            thread = threading.Thread(
                target=consumer.run, name=f"consume-{sub.queue.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the consumers after their current message, join them, close connections."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("consumer %s did not stop within %ss", thread.name, timeout)
        self._threads.clear()
        with self._publish_lock:
            close_quietly(self._publisher)
            self._publisher = self._publisher_channel = None

    # ---- helpers for tests and operations ----------------------------------------------

    def purge_all(self) -> int:
        """Empty every queue, dead letters included; return how many messages went."""
        names = [spec.name for spec in self._all_queues()] + [DEAD_LETTER_QUEUE]
        return self._with_publisher(
            lambda channel: sum(channel.queue_purge(name).method.message_count for name in names)
        )

    def dead_letter_messages(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Drain the dead-letter queue, returning each (body, headers)."""

        def drain(channel: Any) -> list[tuple[bytes, dict[str, Any]]]:
            drained: list[tuple[bytes, dict[str, Any]]] = []
            last_tag = 0
            while True:
                method, properties, body = channel.basic_get(DEAD_LETTER_QUEUE)
                if method is None:
                    break
                last_tag = method.delivery_tag
                drained.append((body, dict(properties.headers or {})))
            # One ack at the end: a drain cut short by a lost connection loses nothing.
            if last_tag:
                channel.basic_ack(last_tag, multiple=True)
            return drained

        return self._with_publisher(drain)

    # ---- connections -------------------------------------------------------------------

    def connect(self, role: str) -> tuple[Any, Any]:
        """Open a connection and a channel, and (re-)declare the topology on it."""
        parameters = pika.URLParameters(self.url)
        parameters.heartbeat = self._heartbeat
        parameters.blocked_connection_timeout = 60
        # The name shows in the management UI and rabbitmqctl, to tell connections apart.
        parameters.client_properties = {"connection_name": f"{self.service}/{role}"}
        connection = pika.BlockingConnection(parameters)
        try:
            channel = connection.channel()
            self.declare_on(channel)
        except BaseException:
            close_quietly(connection)
            raise
        return connection, channel

    def declare_on(self, channel: Any) -> None:
        """Declare the whole topology on an open channel."""
        channel.exchange_declare(EXCHANGE, "topic", durable=True)
        channel.exchange_declare(DEAD_LETTER_EXCHANGE, "topic", durable=True)
        channel.queue_declare(DEAD_LETTER_QUEUE, durable=True)
        channel.queue_bind(DEAD_LETTER_QUEUE, DEAD_LETTER_EXCHANGE, "#")
        for spec in self._all_queues():
            arguments = {
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-dead-letter-routing-key": spec.name,
            }
            channel.queue_declare(spec.name, durable=True, arguments=arguments)
            for binding in spec.bindings:
                channel.queue_bind(spec.name, EXCHANGE, binding)

    def backoff(self) -> wait_exponential:
        """Wait strategy between reconnection attempts."""
        return wait_exponential(multiplier=0.1, min=0.1, max=self._reconnect_max_wait)

    def _all_queues(self) -> list[QueueSpec]:
        subscribed = [sub.queue for sub in self._subscriptions]
        return list({spec.name: spec for spec in [*self._queues, *subscribed]}.values())

    # ---- publishing --------------------------------------------------------------------

    def _publish(self, routing_key: str, message_id: str, message_type: str, body: bytes) -> None:
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
            type=message_type,
            app_id=self.service,
        )

        def send(channel: Any) -> None:
            try:
                channel.basic_publish(EXCHANGE, routing_key, body, properties, mandatory=True)
            except pika.exceptions.UnroutableError as exc:
                raise UnroutableError(f"no queue is bound to {routing_key!r}") from exc
            except pika.exceptions.NackError as exc:
                raise PublishNackedError(f"broker nacked {routing_key} {message_id}") from exc

        self._with_publisher(send)
        MESSAGES_PUBLISHED.labels(routing_key).inc()

    def _with_publisher(self, action: Callable[[Any], T]) -> T:
        """Run ``action`` on the publisher channel, reconnecting across connection losses.

        A publish cut off by a lost connection is sent again: a duplicate is harmless since
        consumers de-duplicate by message_id, a loss is not.
        """
        retrying = Retrying(
            retry=retry_if_exception_type(CONNECTION_ERRORS),
            stop=stop_after_delay(self._publish_timeout),
            wait=self.backoff(),
            before_sleep=self._drop_publisher,
            reraise=True,
        )
        with self._publish_lock:
            return retrying(lambda: action(self._open_publisher()))

    def _open_publisher(self) -> Any:
        if self._publisher is not None and self._publisher.is_open:
            # Lets pika notice a close by the broker that happened while idle.
            self._publisher.process_data_events(0)
        if self._publisher_channel is None or not self._publisher_channel.is_open:
            close_quietly(self._publisher)
            self._publisher, self._publisher_channel = self.connect("publisher")
            self._publisher_channel.confirm_delivery()
            if self._publisher_lost:
                BUS_RECONNECTS.labels("publisher").inc()
                self._publisher_lost = False
        return self._publisher_channel

    def _drop_publisher(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("publisher connection lost (%s); reconnecting", error)
        close_quietly(self._publisher)
        self._publisher = self._publisher_channel = None
        self._publisher_lost = True
