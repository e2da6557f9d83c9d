"""The campaign manager's clock: scheduled launches and expiry of unused reservations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from croniter import croniter
from sqlalchemy import select

from poms_campaign_manager.adapters import repository as repo
from poms_campaign_manager.domain.launching import LaunchOptions
from poms_shared.contracts.messages import LaunchFailed
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignStage
from poms_shared.db.tables import Schedule, Submission
from poms_shared.domain.statuses import SubmissionStatus

log = logging.getLogger(__name__)
Launch = Callable[[UnitOfWork, CampaignStage, LaunchOptions], None]


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
