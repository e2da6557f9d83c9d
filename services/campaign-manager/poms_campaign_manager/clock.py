"""The campaign manager's clock: scheduled launches, expiry of unused reservations, and
the follow-up of Located submissions whose event never got handled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_campaign_manager.adapters import repository as repo
from poms_campaign_manager.domain.launching import LaunchOptions
from poms_shared.contracts.messages import LaunchFailed, SubmissionLocated
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignStage
from poms_shared.db.tables import Schedule, Submission
from poms_shared.domain.statuses import SubmissionStatus

log = logging.getLogger(__name__)
Launch = Callable[[UnitOfWork, CampaignStage, LaunchOptions], None]
FollowUp = Callable[[SubmissionLocated, UnitOfWork], None]
FOLLOW_UP_WINDOW = timedelta(days=7)  # older Located submissions are left alone


def fire_due_schedules(uow: UnitOfWork, now: datetime, launch: Launch) -> int:
    """Launch every stage whose schedule is due, as the person who scheduled it."""
    due = uow.session.scalars(
        select(Schedule)
        .where(Schedule.enabled.is_(True), Schedule.next_fire <= now)
        .with_for_update(of=Schedule, skip_locked=True)
    ).all()
    for schedule in due:
        stage = repo.get_stage(uow.session, schedule.campaign_stage_id, lock=True)
        if stage.campaign is not None and not stage.campaign.active:
            uow.session.delete(schedule)  # an inactive campaign keeps no schedules
            continue
        schedule.last_fired = now
        schedule.next_fire = croniter(schedule.cron, now).get_next(datetime)
        log.info("schedule of stage %s fired", stage.name)
        launch(uow, stage, LaunchOptions(launcher=schedule.scheduled_by))
    return len(due)


def expire_reservations(uow: UnitOfWork, now: datetime, ttl_seconds: float) -> int:
    """ "Show commands" reservations never used within the time limit become LaunchFailed."""
    cutoff = now - timedelta(seconds=ttl_seconds)
    stale = uow.session.scalars(
        select(Submission).where(
            Submission.status_id == int(SubmissionStatus.NEW),
            Submission.created < cutoff,
            Submission.batch_id.is_(None),
        )
    ).all()
    expired = 0
    for sub in stale:
        if not sub.submission_params.get("commands_only") or sub.submission_params.get("expired"):
            continue
        sub.submission_params = {**sub.submission_params, "expired": True}
        uow.emit(
            LaunchFailed(
                submission_id=sub.submission_id,
                reason=f"reservation unused for {ttl_seconds / 3600:g} h",
            )
        )
        expired += 1
    return expired


def utcnow() -> datetime:
    return datetime.now(UTC)


def unfollowed_located(session: Session, now: datetime, grace: float) -> list[int]:
    """Original submissions Located more than ``grace`` seconds (and at most a week) ago
    whose recoveries and dependents were never handled: their Located event was lost or
    dead-lettered (a catalog outage outlasting the retries). Oldest first."""
    located_before = now - timedelta(seconds=grace)
    return list(
        session.scalars(
            select(Submission.submission_id)
            .where(
                Submission.status_id == int(SubmissionStatus.LOCATED),
                Submission.recovery_parent_id.is_(None),
                Submission.updated < located_before,
                Submission.updated >= located_before - FOLLOW_UP_WINDOW,
                Submission.submission_params["dependents_launched"].as_boolean().is_(None),
            )
            .order_by(Submission.updated)
        )
    )


def follow_up(uow: UnitOfWork, submission_id: int, handle: FollowUp) -> bool:
    """Handle a lost Located event of the original submission now, as the event would
    have been: for its latest recovery child when there is one (the walk goes on from
    there), else for itself. Nothing happens (False) if, under the lock, the submission
    was handled meanwhile or a recovery child is still on its way to Located."""
    original = uow.session.scalar(
        select(Submission)
        .where(Submission.submission_id == submission_id)
        .with_for_update(of=Submission)
    )
    if original is None or original.submission_params.get("dependents_launched"):
        return False
    child = uow.session.scalar(
        select(Submission)
        .where(Submission.recovery_parent_id == submission_id)
        .order_by(Submission.submission_id.desc())
        .limit(1)
    )
    current = child or original
    if SubmissionStatus(current.status_id) != SubmissionStatus.LOCATED:
        return False  # a recovery still running (its own event follows), or one that died
    log.warning(
        "submission %s: Located but its recoveries and dependents were never handled "
        "(the event was lost or dead-lettered); handling it now",
        submission_id,
    )
    handle(
        SubmissionLocated(
            submission_id=current.submission_id,
            stage_id=current.campaign_stage_id,
            campaign_id=current.stage.campaign_id,
        ),
        uow,
    )
    return True
