"""RabbitBus against a real broker: topology, confirms, dead letters, redelivery, reconnects.

The broker restart runs on a private node, never on the shared one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pika
import pika.exceptions
import pytest
from prometheus_client import REGISTRY
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from poms_shared.broker import PermanentError, UnroutableError
from poms_shared.broker.errors import Delivery, RetryPolicy, Settlement
from poms_shared.broker.names import (
    ALL_QUEUES,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    EXCHANGE,
    LAUNCHER_COMMANDS,
)
from poms_shared.broker.rabbit import RabbitBus
from poms_shared.broker.rabbit_consumer import Consumer
from poms_shared.contracts import Envelope, new_envelope
from poms_shared.contracts.messages import LaunchSubmission
from poms_shared.testing.rabbit import close_connections, private_broker

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(attempts=2, min_wait=0.01, max_wait=0.05)
BusFactory = Callable[[str], RabbitBus]


def eventually(check: Callable[[], None], timeout: float = 15.0) -> None:
    """Re-run an asserting check until it passes or the timeout is spent."""
    Retrying(
        retry=retry_if_exception_type(AssertionError),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.05),
        reraise=True,
    )(check)


@pytest.fixture
def make_bus(amqp_url: str) -> Iterator[BusFactory]:
    """Buses on a purged vhost, all stopped at the end of the test."""
    buses: list[RabbitBus] = []

    def make(service: str) -> RabbitBus:
        bus = RabbitBus(amqp_url, service, retry=FAST_RETRY, poll_interval=0.05)
        buses.append(bus)
        return bus

    make("test-setup").purge_all()
    yield make
    for bus in buses:
        bus.stop()


@pytest.fixture
def channel(amqp_url: str) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """A plain pika channel for looking at the broker from outside the bus."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    yield connection.channel()
    if connection.is_open:
        connection.close()


def launch(submission_id: int) -> Envelope:
    """A LaunchSubmission command in its envelope."""
    return new_envelope(LaunchSubmission(submission_id=submission_id))


def submission_id(envelope: Envelope) -> int:
    """The submission a LaunchSubmission envelope is about."""
    payload = envelope.payload
    assert isinstance(payload, LaunchSubmission)
    return payload.submission_id


def ready_messages(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str) -> int:
    """Messages ready in a queue (unacked ones are not counted)."""
    return int(channel.queue_declare(queue, passive=True).method.message_count)


def reconnects(role: str) -> float:
    """Current value of the reconnection counter for a role."""
    return REGISTRY.get_sample_value("poms_bus_reconnects_total", {"role": role}) or 0.0


def test_declare_creates_durable_queues_dead_lettering_to_the_dead_letter_exchange(
    make_bus: BusFactory, amqp_url: str
) -> None:
    make_bus("test-topology").declare()
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, passive=True)
        channel.exchange_declare(DEAD_LETTER_EXCHANGE, passive=True)
        channel.queue_declare(DEAD_LETTER_QUEUE, passive=True)
        for spec in ALL_QUEUES:
            # The broker refuses a re-declaration whose arguments differ, so this passing
            # proves the queue is durable and dead-letters exactly like this.
            arguments = {
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-dead-letter-routing-key": spec.name,
            }
            channel.queue_declare(spec.name, durable=True, arguments=arguments)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="PRECONDITION_FAILED"):
            channel.queue_declare(LAUNCHER_COMMANDS.name, durable=True)
    finally:
        if connection.is_open:
            connection.close()


def test_a_confirmed_publish_is_in_its_queue_and_an_unroutable_one_raises(
    make_bus: BusFactory, channel: pika.adapters.blocking_connection.BlockingChannel
) -> None:
    bus = make_bus("test-publisher")
    bus.publish(launch(1))
    assert ready_messages(channel, LAUNCHER_COMMANDS.name) == 1
    with pytest.raises(UnroutableError):
        bus.publish_raw("command.NobodyListens", "m-unroutable", b"{}")
    bus.publish(launch(2))
    assert ready_messages(channel, LAUNCHER_COMMANDS.name) == 2


def test_a_malformed_message_is_dead_lettered_with_its_reason_and_consuming_goes_on(
    make_bus: BusFactory,
) -> None:
    bus = make_bus("test-malformed")
    received: list[int] = []
    bus.subscribe(LAUNCHER_COMMANDS, lambda envelope: received.append(submission_id(envelope)))
    bus.start()
    bus.publish_raw("command.LaunchSubmission", "m-bad", b"not json")
    bus.publish(launch(2))

    def good_one_consumed() -> None:
        assert received == [2]

    eventually(good_one_consumed)
    [(body, headers)] = bus.dead_letter_messages()
    assert body == b"not json"
    assert "not JSON" in headers["x-poms-reason"]
    assert headers["x-poms-queue"] == LAUNCHER_COMMANDS.name


def test_a_permanent_error_dead_letters_only_that_message(make_bus: BusFactory) -> None:
    bus = make_bus("test-permanent")
    committed: list[int] = []

    def handle(envelope: Envelope) -> None:
        if submission_id(envelope) == 13:
            raise PermanentError("submission 13 does not exist")
        committed.append(submission_id(envelope))

    bus.subscribe(LAUNCHER_COMMANDS, handle)
    bus.start()
    for n in (12, 13, 14):
        bus.publish(launch(n))
    eventually(lambda: assert_equal(committed, [12, 14]))
    [(_, headers)] = bus.dead_letter_messages()
    assert headers["x-poms-reason"] == "PermanentError: submission 13 does not exist"


def test_a_failing_handler_gets_the_message_redelivered_and_commits_it_once(
    make_bus: BusFactory, channel: pika.adapters.blocking_connection.BlockingChannel
) -> None:
    bus = make_bus("test-redelivery")
    calls: list[int] = []
    committed: list[int] = []

    def handle(envelope: Envelope) -> None:
        calls.append(submission_id(envelope))
        if len(calls) <= FAST_RETRY.attempts:
            raise TimeoutError("lock wait timeout")
        committed.append(submission_id(envelope))  # the "commit"

    bus.subscribe(LAUNCHER_COMMANDS, handle)
    bus.start()
    bus.publish(launch(5))
    eventually(lambda: assert_equal(committed, [5]))
    bus.stop()
    assert calls == [5] * (FAST_RETRY.attempts + 1)
    # Acked, not merely unacked: nothing comes back once the consumer is gone.
    assert ready_messages(channel, LAUNCHER_COMMANDS.name) == 0
    assert bus.dead_letter_messages() == []


def test_batches_are_acked_together_and_a_poison_message_is_isolated(
    make_bus: BusFactory, channel: pika.adapters.blocking_connection.BlockingChannel
) -> None:
    bus = make_bus("test-batch")
    for n in range(20):
        bus.publish(launch(n))
    committed: list[int] = []
    sizes: list[int] = []

    def ingest(batch: list[Envelope]) -> None:
        ids = [submission_id(envelope) for envelope in batch]
        sizes.append(len(ids))
        if 7 in ids:
            raise PermanentError("submission 7 is poison")
        committed.extend(ids)

    bus.subscribe_batch(LAUNCHER_COMMANDS, ingest, max_batch=8, max_wait=0.1)
    bus.start()
    eventually(lambda: assert_equal(sorted(committed), [n for n in range(20) if n != 7]))
    bus.stop()
    assert max(sizes) > 1
    assert ready_messages(channel, LAUNCHER_COMMANDS.name) == 0
    [(_, headers)] = bus.dead_letter_messages()
    assert headers["x-poms-reason"] == "PermanentError: submission 7 is poison"


def test_a_batch_consumer_takes_in_the_next_batch_while_the_handler_works(
    make_bus: BusFactory, channel: pika.adapters.blocking_connection.BlockingChannel
) -> None:
    """Two batches held at once (one handled, the next received and decoded), handled in
    order, one at a time."""
    bus = make_bus("test-pipeline")
    for n in range(15):
        bus.publish(launch(n))
    release = threading.Event()
    handled: list[list[int]] = []

    def ingest(batch: list[Envelope]) -> None:
        release.wait(15)
        handled.append([submission_id(envelope) for envelope in batch])

    bus.subscribe_batch(LAUNCHER_COMMANDS, ingest, max_batch=5, max_wait=0.1)
    bus.start()
    eventually(lambda: assert_equal(ready_messages(channel, LAUNCHER_COMMANDS.name), 5))
    assert handled == []  # the first batch is still in the handler
    release.set()
    eventually(lambda: assert_equal([n for batch in handled for n in batch], list(range(15))))
    assert all(len(batch) <= 5 for batch in handled)
    bus.stop()  # anything not acked would be back in the queue now
    assert ready_messages(channel, LAUNCHER_COMMANDS.name) == 0


class HeldHandler:
    """A batch handler that holds every batch until ``release`` is set; ``handled``:
    the submission ids of each batch, in the order handled."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.handled: list[list[int]] = []

    def __call__(self, batch: list[Envelope]) -> None:
        self.started.set()
        self.release.wait(15)
        self.handled.append([submission_id(envelope) for envelope in batch])

    def ids(self) -> list[int]:
        return [n for batch in self.handled for n in batch]


def test_while_the_handler_works_the_next_batch_grows_past_max_wait_and_goes_when_it_is_done(
    make_bus: BusFactory, channel: pika.adapters.blocking_connection.BlockingChannel
) -> None:
    """Messages trickling in while a batch is handled make one next batch (up to
    ``max_batch``), not one per ``max_wait``, handed over once the handler is free."""
    bus = make_bus("test-grow")
    held = HeldHandler()
    bus.subscribe_batch(LAUNCHER_COMMANDS, held, max_batch=50, max_wait=0.05)
    bus.start()
    bus.publish(launch(0))
    assert held.started.wait(15)
    for n in range(1, 13):  # well past max_wait apart
        bus.publish(launch(n))
        time.sleep(0.06)
    eventually(lambda: assert_equal(ready_messages(channel, LAUNCHER_COMMANDS.name), 0))
    held.release.set()
    eventually(lambda: assert_equal(held.ids(), list(range(13))))
    bus.stop()
    assert held.handled == [[0], list(range(1, 13))]


def test_a_full_batch_waits_in_the_handler_queue_while_the_handler_works(
    make_bus: BusFactory,
    channel: pika.adapters.blocking_connection.BlockingChannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under load the next batch is handed over as soon as it is full, to wait behind
    the running one, so the handler starts it without waiting for the consumer thread;
    batches are still handled and acked in order."""
    bus = make_bus("test-queued")
    held = HeldHandler()
    handed: list[tuple[list[int], bool]] = []  # (batch, handed while the first one ran)
    job = Consumer._job

    def spy(self: Consumer, pending: list[Delivery]) -> Callable[[], list[Settlement]]:
        ids = [submission_id(d.envelope()) for d in pending]
        handed.append((ids, not held.release.is_set()))
        return job(self, pending)

    monkeypatch.setattr(Consumer, "_job", spy)
    bus.subscribe_batch(LAUNCHER_COMMANDS, held, max_batch=5, max_wait=0.05)
    bus.start()
    bus.publish(launch(0))
    assert held.started.wait(15)
    for n in range(1, 12):
        bus.publish(launch(n))
    # The first batch holds one message of the prefetch (10): five make the next batch,
    # handed over at once; the four after them wait in the consumer.
    eventually(lambda: assert_equal([batch for batch, _ in handed], [[0], [1, 2, 3, 4, 5]]))
    assert all(running for _, running in handed)
    eventually(lambda: assert_equal(ready_messages(channel, LAUNCHER_COMMANDS.name), 2))
    held.release.set()
    eventually(lambda: assert_equal(held.ids(), list(range(12))))
    bus.stop()
    assert held.handled[:2] == [[0], [1, 2, 3, 4, 5]]
    assert ready_messages(channel, LAUNCHER_COMMANDS.name) == 0


def test_two_workers_handle_two_batches_at_once_and_settle_them_in_the_order_cut(
    make_bus: BusFactory,
    channel: pika.adapters.blocking_connection.BlockingChannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``workers=2`` the next batch is handled while the first is held; it finishes
    first, yet is acked only after the first batch is settled."""
    bus = make_bus("test-workers")
    release, first_started = threading.Event(), threading.Event()
    finished: list[list[int]] = []
    settled: list[list[int]] = []
    settle = Consumer._settle

    def spy(self: Consumer, channel: object, settlements: list[Settlement]) -> None:
        settled.append([submission_id(s.delivery.envelope()) for s in settlements])
        settle(self, channel, settlements)

    def ingest(batch: list[Envelope]) -> None:
        ids = [submission_id(envelope) for envelope in batch]
        if 0 in ids:
            first_started.set()
            release.wait(15)
        finished.append(ids)

    monkeypatch.setattr(Consumer, "_settle", spy)
    bus.subscribe_batch(LAUNCHER_COMMANDS, ingest, max_batch=5, max_wait=0.05, workers=2)
    bus.start()
    bus.publish(launch(0))
    assert first_started.wait(15)
    for n in range(1, 6):
        bus.publish(launch(n))
    eventually(lambda: assert_equal(finished, [[1, 2, 3, 4, 5]]))  # beside the held one
    time.sleep(0.2)
    assert settled == []  # the second waits for the first to be settled
    release.set()
    eventually(lambda: assert_equal(settled, [[0], [1, 2, 3, 4, 5]]))
    bus.stop()
    assert ready_messages(channel, LAUNCHER_COMMANDS.name) == 0


def test_a_message_held_by_a_consumer_that_dies_is_redelivered_to_another(
    make_bus: BusFactory, amqp_url: str
) -> None:
    holding, release = threading.Event(), threading.Event()
    held: list[str] = []
    first = make_bus("test-dying")

    def hold(envelope: Envelope) -> None:
        held.append(envelope.message_id)
        holding.set()
        release.wait(30)

    first.subscribe(LAUNCHER_COMMANDS, hold)
    first.start()
    message = launch(21)
    first.publish(message)
    assert holding.wait(10)
    try:
        assert close_connections(amqp_url, "test-dying/consumer", "consumer dies") == 1
        taken_over: list[str] = []
        second = make_bus("test-survivor")
        second.subscribe(LAUNCHER_COMMANDS, lambda envelope: taken_over.append(envelope.message_id))
        second.start()
        eventually(lambda: assert_equal(taken_over, [message.message_id]))
        assert held == [message.message_id]
    finally:
        release.set()


def test_consumers_and_publisher_carry_on_after_the_broker_drops_every_connection(
    make_bus: BusFactory, amqp_url: str
) -> None:
    bus = make_bus("test-reconnect")
    received: set[int] = set()
    bus.subscribe(LAUNCHER_COMMANDS, lambda envelope: received.add(submission_id(envelope)))
    bus.start()
    for n in range(10):
        bus.publish(launch(n))
    eventually(lambda: assert_equal(received, set(range(10))))
    consumer_before, publisher_before = reconnects("consumer"), reconnects("publisher")

    assert close_connections(amqp_url, reason="broker loss") >= 2
    for n in range(10, 20):
        bus.publish(launch(n))

    eventually(lambda: assert_equal(received, set(range(20))))
    assert reconnects("publisher") == publisher_before + 1
    eventually(lambda: assert_equal(reconnects("consumer"), consumer_before + 1))


def test_a_broker_restart_loses_no_confirmed_message_and_both_clients_carry_on() -> None:
    # A node of its own: stopping the shared broker would disturb every other test.
    with private_broker() as broker:
        bus = RabbitBus(
            broker.url, "test-restart", retry=FAST_RETRY, poll_interval=0.05, reconnect_max_wait=0.5
        )
        gate = threading.Event()
        holding = threading.Event()
        received: set[int] = set()

        def handle(envelope: Envelope) -> None:
            n = submission_id(envelope)
            if n >= 10:
                # Messages from 10 on pile up (unacked or ready) until the broker is back.
                holding.set()
                assert gate.wait(30), "the gate was never opened"
            received.add(n)

        bus.subscribe(LAUNCHER_COMMANDS, handle)
        bus.start()
        try:
            for n in range(10):
                bus.publish(launch(n))
            eventually(lambda: assert_equal(received, set(range(10))))
            for n in range(10, 30):
                bus.publish(launch(n))  # confirmed: the broker has them on disk
            assert holding.wait(10)
            consumer_before, publisher_before = reconnects("consumer"), reconnects("publisher")

            broker.stop_app()
            with ThreadPoolExecutor(1) as publisher:
                # Published while the broker is down: it goes through once it is back.
                outage = publisher.submit(bus.publish, launch(30))
                broker.start_app()
                gate.set()
                outage.result(timeout=30)
            for n in range(31, 40):
                bus.publish(launch(n))

            eventually(lambda: assert_equal(received, set(range(40))), timeout=30)
            assert reconnects("publisher") >= publisher_before + 1
            assert reconnects("consumer") >= consumer_before + 1
        finally:
            gate.set()
            bus.stop()


def assert_equal(actual: object, expected: object) -> None:
    """An assertion usable inside lambdas given to eventually()."""
    assert actual == expected
