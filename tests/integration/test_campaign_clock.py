"""The campaign manager's clock: scheduled launches and reservation expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from poms_campaign_manager import clock
from poms_campaign_manager.domain.launching import LaunchOptions
from poms_campaign_manager.handlers import launch_with_options
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.tables import HeldLaunch, LaunchRequest, Schedule, Submission
from poms_shared.demo.load import load_samples


def _stage(session, name="generate") -> CampaignStage:
    return session.scalar(select(CampaignStage).where(CampaignStage.name == name))


def test_a_due_schedule_launches_as_its_owner_and_moves_to_the_next_run(database):
    now = datetime(2026, 11, 21, 3, 0, 30, tzinfo=UTC)
    with database.transaction() as session:
        load_samples(session)
        session.add(
            Schedule(
                campaign_stage_id=_stage(session).campaign_stage_id,
                cron="0 * * * *",
                scheduled_by="alice",
                next_fire=now - timedelta(seconds=30),
            )
        )
    with database.transaction() as session:
        uow = UnitOfWork(session)
        assert clock.fire_due_schedules(uow, now, launch_with_options) == 1
        assert [e.type for e in uow.emitted] == ["LaunchSubmission"]
    with database.transaction() as session:
        schedule = session.scalar(select(Schedule))
        assert schedule.next_fire == datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
        assert session.scalar(select(Submission.launcher)) == "alice"
        assert clock.fire_due_schedules(UnitOfWork(session), now, launch_with_options) == 0


def test_a_schedule_of_an_inactive_campaign_is_dropped_instead_of_fired(database):
    now = datetime.now(UTC)
    with database.transaction() as session:
        load_samples(session)
        session.scalar(select(Campaign)).active = False
        session.add(
            Schedule(
                campaign_stage_id=_stage(session).campaign_stage_id,
                cron="* * * * *",
                scheduled_by="alice",
                next_fire=now - timedelta(minutes=1),
            )
        )
    with database.transaction() as session:
        clock.fire_due_schedules(UnitOfWork(session), now, launch_with_options)
    with database.transaction() as session:
        assert session.scalar(select(Schedule)) is None
        assert session.scalar(select(Submission)) is None


def test_a_scheduled_launch_of_a_held_stage_becomes_a_held_launch(database):
    now = datetime.now(UTC)
    with database.transaction() as session:
        load_samples(session)
        stage = _stage(session)
        stage.hold_experimenter_id = session.scalar(select(Campaign)).creator_id
        session.add(
            Schedule(
                campaign_stage_id=stage.campaign_stage_id,
                cron="* * * * *",
                scheduled_by="alice",
                next_fire=now,
            )
        )
    with database.transaction() as session:
        clock.fire_due_schedules(UnitOfWork(session), now, launch_with_options)
    with database.transaction() as session:
        held = session.scalars(select(HeldLaunch)).all()
        assert [h.launcher for h in held] == ["alice"]


def test_unused_reservations_fail_after_the_time_limit_once(database):
    now = datetime.now(UTC)
    with database.transaction() as session:
        load_samples(session)
        stage = _stage(session)
        launch_with_options(
            UnitOfWork(session), stage, LaunchOptions(launcher="bob", commands_only=True)
        )
        launch_with_options(UnitOfWork(session), stage, LaunchOptions(launcher="bob"))
        for sub in session.scalars(select(Submission)):
            sub.created = now - timedelta(hours=3)
    with database.transaction() as session:
        uow = UnitOfWork(session)
        assert clock.expire_reservations(uow, now, 7200) == 1
        assert [e.type for e in uow.emitted] == ["LaunchFailed"]
    with database.transaction() as session:
        assert clock.expire_reservations(UnitOfWork(session), now, 7200) == 0


def test_a_launch_with_a_bad_split_type_is_refused_and_nothing_is_allocated(database):
    with database.transaction() as session:
        load_samples(session)
        _stage(session).cs_split_type = "nfiles(lots)"
        session.add(LaunchRequest(request_id="r1", actor="bob"))
    with database.transaction() as session:
        stage = _stage(session)
        launch_with_options(
            UnitOfWork(session), stage, LaunchOptions(launcher="bob"), request_id="r1"
        )
    with database.transaction() as session:
        request = session.get(LaunchRequest, "r1")
        assert request.outcome == "failed"
        assert "nfiles" in request.error
        assert session.scalar(select(Submission)) is None
