"""Queries behind the list pages: submissions ordered by a chosen column, the choices the
filter forms offer, stage schedules with who owns their stage, an experiment's tag names.
Every list is bounded: a page in SQL, or a capped list of choices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage, Experimenter, Tag
from poms_shared.db.tables import Schedule, Submission
from poms_shared.domain.permissions import Owner

CHOICES_SHOWN = 1000  # campaign names, stages and tags a form offers (typing still works)

# (sort key: columns); "-key" is the same, descending. Ties: newest submission first.
_NEWEST = Submission.submission_id.desc()
SUBMISSION_COLUMNS: dict[str, Any] = {
    "id": Submission.submission_id,
    "campaign": Campaign.name,
    "stage": CampaignStage.name,
    "status": Submission.status_id,
    "created": Submission.created,
    "updated": Submission.updated,
    "launcher": Submission.launcher,
}
SUBMISSION_SORTS = (*SUBMISSION_COLUMNS, *(f"-{k}" for k in SUBMISSION_COLUMNS))


def submissions_sorted(query: Select[Any], sort: str) -> Select[Any]:
    """``submission_lists.submissions_query`` ordered by a column of the page's table."""
    column = SUBMISSION_COLUMNS[sort.lstrip("-")]
    first = column.desc() if sort.startswith("-") else column.asc()
    return query.order_by(None).order_by(first, _NEWEST)


def campaign_names(session: Session, experiment: str) -> list[str]:
    """The experiment's campaign names, for the filter's suggestions."""
    query = (
        select(Campaign.name)
        .where(Campaign.experiment == experiment)
        .order_by(Campaign.name)
        .limit(CHOICES_SHOWN)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class StageChoice:
    stage_id: int
    name: str
    campaign: str | None
    owner: Owner


def stage_choices(
    session: Session, experiment: str, campaign_id: int | None = None
) -> list[StageChoice]:
    """Stages of the experiment (or of one campaign) by campaign and name, with their
    owner so a page can offer only those the requester may change."""
    query = (
        select(
            CampaignStage.campaign_stage_id,
            CampaignStage.name,
            Campaign.name,
            CampaignStage.creator_role,
            Experimenter.username,
        )
        .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
        .outerjoin(Experimenter, Experimenter.experimenter_id == CampaignStage.creator_id)
        .where(CampaignStage.experiment == experiment)
        .order_by(Campaign.name, CampaignStage.name, CampaignStage.campaign_stage_id)
        .limit(CHOICES_SHOWN)
    )
    if campaign_id is not None:
        query = query.where(CampaignStage.campaign_id == campaign_id)
    return [
        StageChoice(sid, name, campaign, Owner(experiment, creator, role))
        for sid, name, campaign, role, creator in session.execute(query)
    ]


def tag_names(session: Session, experiment: str | None) -> list[str]:
    """The experiment's tag names, for autocompletion."""
    if not experiment:
        return []
    query = (
        select(Tag.tag_name)
        .where(Tag.experiment == experiment)
        .order_by(Tag.tag_name)
        .limit(CHOICES_SHOWN)
    )
    return list(session.scalars(query))


# ---- schedules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRow:
    stage_id: int
    stage: str
    campaign: str | None
    cron: str
    scheduled_by: str
    enabled: bool
    next_fire: datetime | None
    last_fired: datetime | None
    owner: Owner


def schedules_query(experiment: str) -> Select[Any]:
    """Every stage schedule of the experiment, by campaign and stage (for ``page_query``)."""
    return (
        select(
            Schedule,
            CampaignStage.name,
            Campaign.name,
            CampaignStage.creator_role,
            Experimenter.username,
        )
        .join(CampaignStage, CampaignStage.campaign_stage_id == Schedule.campaign_stage_id)
        .outerjoin(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
        .outerjoin(Experimenter, Experimenter.experimenter_id == CampaignStage.creator_id)
        .where(CampaignStage.experiment == experiment)
        .order_by(Campaign.name, CampaignStage.name, Schedule.campaign_stage_id)
    )


def schedule_row(experiment: str, row: Any) -> ScheduleRow:
    schedule: Schedule = row[0]
    return ScheduleRow(
        stage_id=schedule.campaign_stage_id,
        stage=row[1],
        campaign=row[2],
        cron=schedule.cron,
        scheduled_by=schedule.scheduled_by,
        enabled=schedule.enabled,
        next_fire=schedule.next_fire,
        last_fired=schedule.last_fired,
        owner=Owner(experiment, row[4], row[3]),
    )


def scheduled_stage_ids(session: Session, stage_ids: list[int]) -> set[int]:
    """Which of the stages have a schedule."""
    query = select(Schedule.campaign_stage_id).where(Schedule.campaign_stage_id.in_(stage_ids))
    return set(session.scalars(query))
