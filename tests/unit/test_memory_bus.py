"""The in-process bus honours the Bus contract: routing, ack after handler, dead letters."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from poms_shared.broker import PermanentError, UnroutableError
from poms_shared.broker.errors import RetryPolicy
from poms_shared.broker.memory import InProcessBus, topic_matches
from poms_shared.broker.names import QueueSpec, routing_key
from poms_shared.contracts import Envelope, decode, new_envelope
from poms_shared.contracts.messages import CampaignCompleted, LaunchSubmission

LAUNCHES = QueueSpec("unit", "launches", (routing_key("command", "LaunchSubmission"),))
EVENTS = QueueSpec("unit", "events", ("event.*",))
AUDIT = QueueSpec("unit", "audit", ("#",))
FAST_RETRY = RetryPolicy(attempts=2, min_wait=0.001, max_wait=0.005)


@pytest.fixture
def bus() -> Iterator[InProcessBus]:
    bus = InProcessBus([LAUNCHES, EVENTS], retry=FAST_RETRY)
    bus.declare()
    yield bus
    bus.stop()


def launch(submission_id: int) -> Envelope:
    """A LaunchSubmission command in its envelope."""
    return new_envelope(LaunchSubmission(submission_id=submission_id))


def submission_id(envelope: Envelope) -> int:
    """The submission a LaunchSubmission envelope is about."""
    payload = envelope.payload
    assert isinstance(payload, LaunchSubmission)
    return payload.submission_id


def ids(envelopes: list[Envelope]) -> list[int]:
    """Submission ids of LaunchSubmission envelopes."""
    return [submission_id(envelope) for envelope in envelopes]


@pytest.mark.parametrize(
    ("binding", "key", "expected"),
    [
        ("event.CampaignCompleted", "event.CampaignCompleted", True),
        ("event.CampaignCompleted", "event.SubmissionLocated", False),
        ("event.*", "event.CampaignCompleted", True),
        ("event.*", "event.a.b", False),
        ("#", "command.LaunchSubmission", True),
        ("event.#", "event", True),
        ("*.LaunchSubmission", "command.LaunchSubmission", True),
    ],
)
def test_topic_bindings_match_like_amqp(binding: str, key: str, expected: bool) -> None:
    assert topic_matches(binding, key) is expected


def test_messages_reach_only_the_queues_bound_to_their_routing_key(bus: InProcessBus) -> None:
    launches: list[Envelope] = []
    events: list[Envelope] = []
    bus.subscribe(LAUNCHES, launches.append)
    bus.subscribe(EVENTS, events.append)
    bus.start()
    bus.publish(launch(1))
    bus.publish(new_envelope(CampaignCompleted(campaign_id=7)))
    assert bus.wait_idle(5)
    assert ids(launches) == [1]
    assert [e.type for e in events] == ["CampaignCompleted"]


def test_a_message_reaches_every_bound_queue() -> None:
    bus = InProcessBus([LAUNCHES, AUDIT], retry=FAST_RETRY)
    seen: list[str] = []
    bus.subscribe(LAUNCHES, lambda e: seen.append("launches"))
    bus.subscribe(AUDIT, lambda e: seen.append("audit"))
    bus.start()
    try:
        bus.publish(launch(1))
        assert bus.wait_idle(5)
    finally:
        bus.stop()
    assert sorted(seen) == ["audit", "launches"]


def test_publishing_a_key_bound_to_no_queue_raises_unroutable(bus: InProcessBus) -> None:
    with pytest.raises(UnroutableError):
        bus.publish_raw("command.Nobody", "m-1", b"{}")


def test_a_handler_failing_transiently_is_retried_and_succeeds_once(bus: InProcessBus) -> None:
    calls: list[int] = []
    committed: list[int] = []

    def flaky(envelope: Envelope) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database went away")
        committed.append(submission_id(envelope))

    bus.subscribe(LAUNCHES, flaky)
    bus.start()
    bus.publish(launch(5))
    assert bus.wait_idle(5)
    assert committed == [5]
    assert len(calls) == 2
    assert bus.dead_letters == []


def test_a_message_failing_every_retry_is_redelivered_then_processed_once(
    bus: InProcessBus,
) -> None:
    calls: list[int] = []
    committed: list[int] = []

    def fails_first_round(envelope: Envelope) -> None:
        calls.append(1)
        if len(calls) <= FAST_RETRY.attempts:
            raise TimeoutError("lock wait timeout")
        committed.append(submission_id(envelope))

    bus.subscribe(LAUNCHES, fails_first_round)
    bus.start()
    bus.publish(launch(9))
    assert bus.wait_idle(5)
    assert committed == [9]
    assert len(calls) == FAST_RETRY.attempts + 1
    assert bus.dead_letters == []


def test_a_message_failing_again_after_redelivery_is_dead_lettered(bus: InProcessBus) -> None:
    def always_fails(envelope: Envelope) -> None:
        raise TimeoutError("still locked")

    bus.subscribe(LAUNCHES, always_fails)
    bus.start()
    bus.publish(launch(3))
    assert bus.wait_idle(5)
    [(queue, body, reason)] = bus.dead_letters
    assert queue == LAUNCHES.name
    assert decode(body).payload == LaunchSubmission(submission_id=3)
    assert "after redelivery" in reason and "still locked" in reason


def test_a_malformed_body_is_dead_lettered_and_the_consumer_keeps_going(
    bus: InProcessBus,
) -> None:
    received: list[Envelope] = []
    bus.subscribe(LAUNCHES, received.append)
    bus.start()
    bus.publish_raw("command.LaunchSubmission", "bad-1", b"not json")
    bus.publish(launch(2))
    assert bus.wait_idle(5)
    [(queue, body, reason)] = bus.dead_letters
    assert (queue, body) == (LAUNCHES.name, b"not json")
    assert "not JSON" in reason
    assert ids(received) == [2]


def test_a_permanent_error_dead_letters_the_message_with_its_reason(bus: InProcessBus) -> None:
    calls: list[int] = []

    def refuses(envelope: Envelope) -> None:
        calls.append(1)
        raise PermanentError("submission 4 does not exist")

    bus.subscribe(LAUNCHES, refuses)
    bus.start()
    bus.publish(launch(4))
    assert bus.wait_idle(5)
    [(_, _, reason)] = bus.dead_letters
    assert reason == "PermanentError: submission 4 does not exist"
    assert len(calls) == 1


def test_batch_consumers_receive_messages_grouped(bus: InProcessBus) -> None:
    batches: list[list[int]] = []
    for n in range(10):
        bus.publish(launch(n))
    bus.subscribe_batch(LAUNCHES, lambda batch: batches.append(ids(batch)), max_batch=4)
    bus.start()
    assert bus.wait_idle(5)
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_a_poison_message_in_a_batch_is_isolated_and_alone_dead_lettered(
    bus: InProcessBus,
) -> None:
    committed: list[int] = []
    gate = threading.Event()

    def ingest(batch: list[Envelope]) -> None:
        gate.wait(5)
        if 13 in ids(batch):
            raise PermanentError("submission 13 is poison")
        committed.extend(ids(batch))

    bus.subscribe_batch(LAUNCHES, ingest, max_batch=50, max_wait=0.05)
    bus.start()
    for n in (11, 12, 13, 14):
        bus.publish(launch(n))
    bus.publish_raw("command.LaunchSubmission", "bad-2", b"[]")
    gate.set()
    assert bus.wait_idle(5)
    assert sorted(committed) == [11, 12, 14]
    reasons = sorted(reason for _, _, reason in bus.dead_letters)
    assert reasons == [
        "MalformedMessage: body is not a JSON object",
        "PermanentError: submission 13 is poison",
    ]


def test_wait_idle_reports_a_handler_still_running(bus: InProcessBus) -> None:
    release = threading.Event()

    def slow(envelope: Envelope) -> None:
        release.wait(5)

    bus.subscribe(LAUNCHES, slow)
    bus.start()
    bus.publish(launch(1))
    assert bus.wait_idle(0.1) is False
    release.set()
    assert bus.wait_idle(5)
