"""The tracker service over real RabbitMQ and PostgreSQL: dead letters, exactly-once effects.

Each test gets a vhost and a database schema of its own. The tracker is wired exactly as
its process wires it (``poms_tracker.bootstrap.build``); a test only wraps a handler to
count calls, hold one up, or make a commit fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pika
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from poms_campaign_manager.adapters.repository import allocate_submission
from poms_campaign_manager.domain.launching import LaunchOptions
from poms_shared.broker.errors import RetryPolicy
from poms_shared.broker.names import TRACKER_LAUNCHES
from poms_shared.broker.rabbit import RabbitBus
from poms_shared.contracts import Envelope, decode, new_envelope
from poms_shared.contracts.messages import LaunchFailed, SubmissionStatusChanged
from poms_shared.db.messaging import OutboxRelay, UnitOfWork
from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import InboxMessage, OutboxMessage, Submission, SubmissionHistory
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.runtime.service import Service
from poms_shared.settings import Settings, load_settings
from poms_shared.testing.rabbit import close_connections
from poms_tracker import bootstrap
from poms_tracker import handlers as tracker_handlers

pytestmark = pytest.mark.integration

CONSUMER = bootstrap.NAME  # the tracker's inbox name
LAUNCH_FAILED = SubmissionStatus.LAUNCH_FAILED
LaunchFailedHandler = Callable[..., None]


def eventually(check: Callable[[], None], timeout: float = 20.0) -> None:
    """Re-run an asserting check until it passes or the timeout is spent."""
    Retrying(
        retry=retry_if_exception_type(AssertionError),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.05),
        reraise=True,
    )(check)


def metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def duplicates_skipped() -> float:
    return metric("poms_messages_duplicate_total", {"consumer": CONSUMER})


def requeued() -> float:
    return metric("poms_messages_requeued_total", {"queue": TRACKER_LAUNCHES.name})


# ---- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, pg_database: Database, private_amqp_url: str) -> Settings:
    return load_settings(
        mode="distributed",
        var_dir=tmp_path,
        database_url=pg_database.url,
        bus="rabbitmq",
        amqp_url=private_amqp_url,
        poll_interval=0.2,
    )


@pytest.fixture
def submission_id(pg_database: Database) -> int:
    """A submission in status New of the demo campaign's first stage."""
    with pg_database.transaction() as session:
        load_samples(session)
        stage = session.scalars(
            select(CampaignStage)
            .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
            .where(Campaign.name == DEMO_CAMPAIGN)
            .order_by(CampaignStage.campaign_stage_id)
        ).first()
        assert stage is not None
        submission = allocate_submission(session, stage, LaunchOptions(launcher="poms", test=True))
        return submission.submission_id


@pytest.fixture
def publisher(private_amqp_url: str) -> Iterator[RabbitBus]:
    """A bus standing for the other services: it publishes and reads dead letters."""
    bus = RabbitBus(private_amqp_url, "test-publisher")
    bus.declare()
    yield bus
    bus.stop()


@contextmanager
def running_tracker(
    settings: Settings,
    db: Database,
    *,
    connection_name: str = "tracker",
    retry: RetryPolicy | None = None,
    loops: bool = True,
    wrap: Callable[[Callable[[Envelope], None]], Callable[[Envelope], None]] | None = None,
) -> Iterator[Service]:
    """The tracker as its process runs it, on its own bus; stopped on the way out."""
    bus = RabbitBus(settings.amqp_url, connection_name, retry=retry, poll_interval=0.05)
    bus.declare()
    service = bootstrap.build(settings, db, bus)
    if wrap is not None:
        service.subscriptions = [(queue, wrap(handle)) for queue, handle in service.subscriptions]
    service.subscribe_all()
    try:
        bus.start()
        if loops:
            service.start_loops()
        yield service
    finally:
        if loops:
            service.stop_loops()
        bus.stop()


def patch_launch_failed(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[LaunchFailedHandler], LaunchFailedHandler]
) -> None:
    """Replace the tracker's LaunchFailed handler before ``build`` registers it."""
    monkeypatch.setattr(
        tracker_handlers, "on_launch_failed", make(tracker_handlers.on_launch_failed)
    )


def launch_failed(submission_id: int) -> Envelope:
    return new_envelope(LaunchFailed(submission_id=submission_id, reason="no grid proxy"))


def status_of(db: Database, submission_id: int) -> SubmissionStatus:
    with db.transaction() as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        return SubmissionStatus(submission.status_id)


def history_of(db: Database, submission_id: int) -> list[SubmissionStatus]:
    with db.transaction() as session:
        rows = session.scalars(
            select(SubmissionHistory.status_id)
            .where(SubmissionHistory.submission_id == submission_id)
            .order_by(SubmissionHistory.history_id)
        )
        return [SubmissionStatus(status) for status in rows]


def inbox_rows(db: Database, message_id: str) -> int:
    query = (
        select(func.count())
        .select_from(InboxMessage)
        .where(InboxMessage.consumer == CONSUMER, InboxMessage.message_id == message_id)
    )
    with db.transaction() as session:
        return session.scalar(query) or 0


def status_changes_emitted(db: Database, submission_id: int) -> list[str]:
    """New statuses of the SubmissionStatusChanged events in the outbox for a submission."""
    with db.transaction() as session:
        bodies = session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.outbox_id)).all()
    changes = [decode(body).payload for body in bodies]
    return [
        change.new_status
        for change in changes
        if isinstance(change, SubmissionStatusChanged) and change.submission_id == submission_id
    ]


def drain(url: str, queue: str) -> list[tuple[pika.BasicProperties, bytes]]:
    """Take every ready message off a queue, as a consumer outside the bus would."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        taken: list[tuple[pika.BasicProperties, bytes]] = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append((properties, body))
    finally:
        connection.close()


# ---- tests -------------------------------------------------------------------------------


def test_a_malformed_message_is_dead_lettered_and_the_tracker_goes_on_with_the_next_one(
    settings: Settings, pg_database: Database, publisher: RabbitBus, submission_id: int
) -> None:
    with running_tracker(settings, pg_database):
        publisher.publish_raw("event.SubmissionLaunched", "garbage-1", b"{not json")
        publisher.publish(launch_failed(submission_id))

        eventually(lambda: assert_equal(status_of(pg_database, submission_id), LAUNCH_FAILED))
        dead: list[tuple[bytes, dict[str, Any]]] = []

        def dead_lettered() -> None:
            dead.extend(publisher.dead_letter_messages())
            assert len(dead) == 1

        eventually(dead_lettered)
        # The relay running in the service publishes the status change it emitted.
        eventually(lambda: assert_equal(unpublished_outbox_rows(pg_database), 0))

    [(body, headers)] = dead
    assert body == b"{not json"
    assert headers["x-poms-reason"].startswith("MalformedMessage: body is not JSON")
    assert headers["x-poms-queue"] == TRACKER_LAUNCHES.name
    assert history_of(pg_database, submission_id) == [SubmissionStatus.NEW, LAUNCH_FAILED]


def test_the_same_message_delivered_twice_is_applied_once(
    settings: Settings,
    pg_database: Database,
    publisher: RabbitBus,
    submission_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    applied: list[int] = []

    def counting(real: LaunchFailedHandler) -> LaunchFailedHandler:
        def handle(evt: LaunchFailed, *, uow: UnitOfWork) -> None:
            applied.append(evt.submission_id)
            real(evt, uow=uow)

        return handle

    patch_launch_failed(monkeypatch, counting)
    envelope = launch_failed(submission_id)
    skipped_before = duplicates_skipped()
    with running_tracker(settings, pg_database, loops=False):
        publisher.publish(envelope)
        publisher.publish(envelope)  # e.g. the relay re-sent it after a crash
        eventually(lambda: assert_equal(duplicates_skipped(), skipped_before + 1))

    assert applied == [submission_id]
    assert history_of(pg_database, submission_id) == [SubmissionStatus.NEW, LAUNCH_FAILED]
    assert inbox_rows(pg_database, envelope.message_id) == 1
    assert status_changes_emitted(pg_database, submission_id) == [LAUNCH_FAILED.label]
    assert publisher.dead_letter_messages() == []


def test_a_failed_commit_leaves_nothing_behind_and_the_redelivered_message_is_applied_once(
    settings: Settings,
    pg_database: Database,
    publisher: RabbitBus,
    submission_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    seen_by_the_retry: list[tuple[SubmissionStatus, list[SubmissionStatus], int, list[str]]] = []
    envelope = launch_failed(submission_id)

    def commit_fails_once(real: LaunchFailedHandler) -> LaunchFailedHandler:
        def handle(evt: LaunchFailed, *, uow: UnitOfWork) -> None:
            calls.append(evt.submission_id)
            if len(calls) > 1:
                # What the first, failed attempt left behind, seen from another session.
                seen_by_the_retry.append(
                    (
                        status_of(pg_database, submission_id),
                        history_of(pg_database, submission_id),
                        inbox_rows(pg_database, envelope.message_id),
                        status_changes_emitted(pg_database, submission_id),
                    )
                )
            real(evt, uow=uow)  # history row, status, outbox event: all in this transaction
            if len(calls) == 1:
                event.listen(uow.session, "before_commit", lose_the_connection, once=True)

        return handle

    patch_launch_failed(monkeypatch, commit_fails_once)
    requeued_before = requeued()
    # One attempt in-process: the failure goes back to the broker, which redelivers.
    once = RetryPolicy(attempts=1, min_wait=0.01, max_wait=0.01)
    with running_tracker(settings, pg_database, retry=once, loops=False):
        publisher.publish(envelope)
        eventually(lambda: assert_equal(status_of(pg_database, submission_id), LAUNCH_FAILED))
        eventually(lambda: assert_equal(inbox_rows(pg_database, envelope.message_id), 1))

    assert calls == [submission_id, submission_id]
    assert seen_by_the_retry == [(SubmissionStatus.NEW, [SubmissionStatus.NEW], 0, [])]
    assert requeued() == requeued_before + 1
    assert history_of(pg_database, submission_id) == [SubmissionStatus.NEW, LAUNCH_FAILED]
    assert status_changes_emitted(pg_database, submission_id) == [LAUNCH_FAILED.label]
    assert publisher.dead_letter_messages() == []
    assert drain(settings.amqp_url, TRACKER_LAUNCHES.name) == []


def test_the_outbox_relay_publishes_committed_messages_with_their_id_and_never_rolled_back_ones(
    pg_database: Database, private_amqp_url: str, publisher: RabbitBus
) -> None:
    with pg_database.transaction() as session:
        committed = UnitOfWork(session).emit(LaunchFailed(submission_id=41, reason="committed"))
    with pytest.raises(RuntimeError, match="abandoned"), pg_database.transaction() as session:
        UnitOfWork(session).emit(LaunchFailed(submission_id=42, reason="rolled back"))
        raise RuntimeError("abandoned")
    relay = OutboxRelay(pg_database, publisher.publish_raw)

    assert relay.run_once() is False  # not a full batch: nothing more waiting
    [(properties, body)] = drain(private_amqp_url, TRACKER_LAUNCHES.name)
    assert properties.message_id == committed.message_id
    assert properties.type == "LaunchFailed"
    assert properties.delivery_mode == pika.DeliveryMode.Persistent.value
    assert decode(body) == committed
    with pg_database.transaction() as session:
        [row] = session.scalars(select(OutboxMessage)).all()
        assert row.message_id == committed.message_id
        assert row.published_at is not None

    relay.run_once()
    assert drain(private_amqp_url, TRACKER_LAUNCHES.name) == []  # published once only


def test_a_message_held_by_a_tracker_whose_connection_dies_is_applied_once_by_another(
    settings: Settings,
    pg_database: Database,
    publisher: RabbitBus,
    submission_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holding, release = threading.Event(), threading.Event()
    applied: list[str] = []

    def held_once(real: LaunchFailedHandler) -> LaunchFailedHandler:
        def handle(evt: LaunchFailed, *, uow: UnitOfWork) -> None:
            applied.append(threading.current_thread().name)
            if len(applied) == 1:
                # Inside the first tracker's transaction: its inbox row is written, not
                # committed, when its connection goes.
                holding.set()
                assert release.wait(30), "never released"
            real(evt, uow=uow)

        return handle

    received_by_second: list[str] = []

    def recording(handle: Callable[[Envelope], None]) -> Callable[[Envelope], None]:
        def record(envelope: Envelope) -> None:
            received_by_second.append(envelope.message_id)
            handle(envelope)

        return record

    patch_launch_failed(monkeypatch, held_once)
    envelope = launch_failed(submission_id)
    skipped_before = duplicates_skipped()
    try:
        with running_tracker(settings, pg_database, connection_name="tracker-a", loops=False):
            publisher.publish(envelope)
            assert holding.wait(10)
            consumer = f"tracker-a/consumer/{TRACKER_LAUNCHES.name}"
            assert close_connections(settings.amqp_url, consumer, "tracker a dies") == 1
            with running_tracker(
                settings,
                pg_database,
                connection_name="tracker-b",
                loops=False,
                wrap=recording,
            ):
                # The broker hands the unacknowledged message to the other tracker ...
                eventually(lambda: assert_equal(received_by_second, [envelope.message_id]))
                # ... whose inbox insert waits on the first one's uncommitted row. Once the
                # first commits, that insert fails on the key and the retry finds the
                # message already applied.
                release.set()
                eventually(lambda: assert_equal(duplicates_skipped(), skipped_before + 1))
    finally:
        release.set()

    assert len(applied) == 1
    assert history_of(pg_database, submission_id) == [SubmissionStatus.NEW, LAUNCH_FAILED]
    assert inbox_rows(pg_database, envelope.message_id) == 1
    assert status_changes_emitted(pg_database, submission_id) == [LAUNCH_FAILED.label]
    assert publisher.dead_letter_messages() == []
    assert drain(settings.amqp_url, TRACKER_LAUNCHES.name) == []


# ---- small helpers -----------------------------------------------------------------------


def lose_the_connection(session: Session) -> None:
    """A ``before_commit`` hook making the commit fail as a dropped connection would."""
    raise OperationalError("COMMIT", {}, ConnectionResetError("server closed the connection"))


def unpublished_outbox_rows(db: Database) -> int:
    pending = OutboxMessage.published_at.is_(None)
    query = select(func.count()).select_from(OutboxMessage).where(pending)
    with db.transaction() as session:
        return session.scalar(query) or 0


def assert_equal(actual: object, expected: object) -> None:
    """An assertion usable inside lambdas given to eventually()."""
    assert actual == expected
