"""A Located event that was lost or dead-lettered (a catalog outage outlasting the
retries) is handled late by the campaign manager's follow-up pass: the recovery walk and
the dependents happen once, as the event would have made them happen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sam_campaign import fill_world, sam_settings, simulate_submission, stage_id_of
from sqlalchemy import select

from poms_campaign_manager import bootstrap
from poms_shared.broker.errors import RetryPolicy
from poms_shared.broker.memory import InProcessBus
from poms_shared.contracts import decode, new_envelope
from poms_shared.contracts.messages import LaunchSubmission, SubmissionLocated
from poms_shared.db.session import Database
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import OutboxMessage, Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.testing.fake_samweb import FakeSamweb

LATER = timedelta(minutes=11)  # past the default POMS_LOCATED_FOLLOW_UP of 600 s


@pytest.fixture
def sam() -> Iterator[FakeSamweb]:
    with FakeSamweb() as fake:
        fill_world(fake)
        yield fake


def launches(db: Database) -> list[tuple[int, int | None]]:
    """(stage id, recovery parent) of every submission handed to the launcher so far."""
    with db.transaction() as session:
        found = []
        for body in session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.outbox_id)):
            payload = decode(body).payload
            if isinstance(payload, LaunchSubmission):
                row = session.get(Submission, payload.submission_id)
                found.append((row.campaign_stage_id, row.recovery_parent_id))
        return found


def follow_up(db: Database, sam: FakeSamweb, at: timedelta = LATER) -> list[bool]:
    woken: list[bool] = []
    now = datetime.now(UTC) + at
    bootstrap.follow_up_located(db, sam_settings(sam), lambda: woken.append(True), now=now)
    return woken


def dead_letter_the_located_event(db: Database, sam: FakeSamweb, sid: int) -> None:
    """SAM down for longer than the retries: the consumer parks the event."""
    sam.fail_next(count=1000)
    bus = InProcessBus(retry=RetryPolicy(attempts=2, min_wait=0.01, max_wait=0.02))
    service = bootstrap.build(sam_settings(sam), db, bus)
    service.subscribe_all()
    bus.start()
    stage = stage_id_of(db, "simulate")
    bus.publish(
        new_envelope(SubmissionLocated(submission_id=sid, stage_id=stage, campaign_id=None))
    )
    assert bus.wait_idle(30)
    bus.stop()
    assert len(bus.dead_letters) == 1
    sam.recover()


def test_a_dead_lettered_located_event_is_followed_up_once_the_catalog_answers(database, sam):
    sid = simulate_submission(database, recoveries=("consumed_status",))
    dead_letter_the_located_event(database, sam, sid)
    assert launches(database) == []

    assert follow_up(database, sam) == [True]

    assert launches(database) == [(stage_id_of(database, "simulate"), sid)]  # the recovery
    follow_up(database, sam)  # the recovery child is on its way: nothing more meanwhile
    assert len(launches(database)) == 1


def test_nothing_is_followed_up_before_the_grace_and_dependents_launch_after_it(database, sam):
    simulate_submission(database)  # no recovery list: Located means dependents

    follow_up(database, sam, at=timedelta(minutes=5))
    assert launches(database) == []

    follow_up(database, sam)
    assert launches(database) == [(stage_id_of(database, "reconstruct"), None)]
    follow_up(database, sam)  # handled: marked, never twice
    assert len(launches(database)) == 1


def test_a_handled_or_week_old_submission_is_left_alone(database, sam):
    handled = simulate_submission(database)
    with database.transaction() as session:
        row = session.get(Submission, handled)
        row.submission_params = {**row.submission_params, "dependents_launched": True}
    old = simulate_submission(database)

    follow_up(database, sam, at=timedelta(days=8))  # ``old`` is past the window by then
    assert launches(database) == []
    follow_up(database, sam)
    assert launches(database) == [(stage_id_of(database, "reconstruct"), None)]
    with database.transaction() as session:
        assert session.get(Submission, old).submission_params["dependents_launched"] is True


def test_a_located_recovery_child_whose_event_was_lost_continues_the_walk(database, sam):
    sid = simulate_submission(database, recoveries=("consumed_status",))
    follow_up(database, sam)  # launches the recovery child
    with database.transaction() as session:
        [child] = session.scalars(select(Submission).where(Submission.recovery_parent_id == sid))
        record_status(session, child, SubmissionStatus.LOCATED, reason="test")

    follow_up(database, sam)  # the child's event was lost too

    # The list is walked: the dependents follow, built on the original submission.
    assert launches(database)[1:] == [(stage_id_of(database, "reconstruct"), None)]
    with database.transaction() as session:
        assert session.get(Submission, sid).submission_params["dependents_launched"] is True


def test_a_catalog_still_down_ends_the_pass_and_changes_nothing(database, sam):
    first = simulate_submission(database, recoveries=("consumed_status",))
    assert simulate_submission(database, recoveries=("consumed_status",)) == first + 1
    sam.fail_next(count=1000)

    assert follow_up(database, sam) == []

    assert launches(database) == []
    with database.transaction() as session:
        row = session.get(Submission, first)
        assert row.recovery_position is None
        assert "dependents_launched" not in row.submission_params

    sam.recover()  # the next pass finds both again
    assert follow_up(database, sam) == [True, True]
    assert [parent for _stage, parent in launches(database)] == [first, first + 1]
