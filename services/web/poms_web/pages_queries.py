"""Bounded queries behind the pages: one grouped query per page of rows, never a query per
submission, and lists that can grow cut in SQL."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from poms_shared.db.models import (
    Campaign,
    CampaignDependency,
    CampaignStage,
    CampaignTag,
    Experimenter,
    Tag,
)
from poms_shared.db.tables import File, HeldLaunch, Job, Submission, SubmissionFile
from poms_shared.domain.dag import campaign_done
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_web.adapters import queries

FILES_SHOWN = 200  # input and output files listed on a submission page (all are counted)
SORTS: dict[str, Any] = {
    "name": (Campaign.name, Campaign.campaign_id),
    "-name": (Campaign.name.desc(), Campaign.campaign_id.desc()),
    "created": (Campaign.created, Campaign.campaign_id),
    "-created": (Campaign.created.desc(), Campaign.campaign_id.desc()),
    "creator": (Experimenter.username, Campaign.name),
    "-creator": (Experimenter.username.desc(), Campaign.name.desc()),
    "role": (Campaign.creator_role, Campaign.name),
    "-role": (Campaign.creator_role.desc(), Campaign.name.desc()),
}


def sorted_by(query: Select[Any], sort: str) -> Select[Any]:
    """The campaign listing ordered by a column the table offers (name by default)."""
    return query.order_by(None).order_by(*SORTS.get(sort, SORTS["name"]))


def campaign_rows(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
    """Campaign list rows (``(Campaign, creator)``) with state, running count, tags, each
    stage's latest submission: four grouped queries for the whole page."""
    campaigns: list[Campaign] = [row[0] for row in rows]
    tags = campaign_tags(session, [c.campaign_id for c in campaigns])
    stages = session.execute(
        select(CampaignStage.campaign_stage_id, CampaignStage.campaign_id, CampaignStage.name)
        .where(CampaignStage.campaign_id.in_([c.campaign_id for c in campaigns]))
        .order_by(CampaignStage.campaign_stage_id)
    ).all()
    stage_ids = [s.campaign_stage_id for s in stages]
    statuses: dict[int, list[SubmissionStatus]] = {sid: [] for sid in stage_ids}
    for stage_id, status_id in session.execute(
        select(Submission.campaign_stage_id, Submission.status_id)
        .where(Submission.campaign_stage_id.in_(stage_ids))
        .group_by(Submission.campaign_stage_id, Submission.status_id)
    ):
        statuses[stage_id].append(SubmissionStatus(status_id))
    latest = latest_submissions(session, stage_ids)
    by_campaign: dict[int, list[Any]] = defaultdict(list)
    for stage in stages:
        by_campaign[stage.campaign_id].append(stage)
    return [
        _campaign_row(
            campaign,
            creator,
            by_campaign[campaign.campaign_id],
            statuses,
            latest,
            tags.get(campaign.campaign_id, []),
        )
        for campaign, creator in rows
    ]


def campaign_tags(session: Session, campaign_ids: list[int]) -> dict[int, list[str]]:
    """Each campaign's tag names, sorted (one query, not one per campaign)."""
    found: dict[int, list[str]] = defaultdict(list)
    for campaign_id, name in session.execute(
        select(CampaignTag.campaign_id, Tag.tag_name)
        .join(Tag, Tag.tag_id == CampaignTag.tag_id)
        .where(CampaignTag.campaign_id.in_(campaign_ids))
    ):
        found[campaign_id].append(name)
    return {campaign_id: sorted(names) for campaign_id, names in found.items()}


def _campaign_row(
    campaign: Campaign,
    creator: str | None,
    stages: list[Any],
    statuses: dict[int, list[SubmissionStatus]],
    latest: dict[int, dict[str, Any]],
    tags: list[str],
) -> dict[str, Any]:
    ids = [s.campaign_stage_id for s in stages]
    located = {i for i in ids if SubmissionStatus.LOCATED in statuses[i]}
    active = {i for i in ids if any(s.is_active for s in statuses[i])}
    state = (
        "done"
        if campaign_done(ids, located, active)
        else "running"
        if active
        else "idle"
        if not any(statuses[i] for i in ids)
        else "stopped"
    )
    return {
        "campaign_id": campaign.campaign_id,
        "name": campaign.name,
        "active": campaign.active,
        "creator": creator,
        "creator_role": campaign.creator_role,
        "created": campaign.created,
        "tags": tags,
        "state": state,
        "running": sum(1 for i in ids if i in active),
        "stages": [
            {
                "stage_id": s.campaign_stage_id,
                "name": s.name,
                "latest": latest.get(s.campaign_stage_id),
            }
            for s in stages
        ],
    }


def latest_submissions(session: Session, stage_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each stage's newest submission (id and status label)."""
    newest = (
        select(func.max(Submission.submission_id))
        .where(Submission.campaign_stage_id.in_(stage_ids))
        .group_by(Submission.campaign_stage_id)
    )
    rows = session.execute(
        select(Submission.campaign_stage_id, Submission.submission_id, Submission.status_id).where(
            Submission.submission_id.in_(newest)
        )
    )
    return {
        stage_id: {"submission_id": sid, "status": SubmissionStatus(status).label}
        for stage_id, sid, status in rows
    }


def dependencies(session: Session, stage_ids: list[int]) -> list[dict[str, Any]]:
    """Dependency edges touching the stages: upstream → downstream with file patterns."""
    rows = session.scalars(
        select(CampaignDependency)
        .where(
            CampaignDependency.downstream_stage_id.in_(stage_ids)
            | CampaignDependency.upstream_stage_id.in_(stage_ids)
        )
        .order_by(CampaignDependency.campaign_dep_id)
    )
    return [
        {
            "upstream_id": d.upstream_stage_id,
            "upstream": d.upstream.name,
            "downstream_id": d.downstream_stage_id,
            "downstream": d.downstream.name,
            "file_patterns": d.file_patterns,
        }
        for d in rows
    ]


def stage_counts(session: Session, stage_id: int) -> dict[str, int]:
    """Submissions of a stage by status label, and its held launches."""
    counts = {
        SubmissionStatus(status).label: int(n)
        for status, n in session.execute(
            select(Submission.status_id, func.count())
            .where(Submission.campaign_stage_id == stage_id)
            .group_by(Submission.status_id)
            .order_by(Submission.status_id)
        )
    }
    held = session.scalar(select(func.count()).where(HeldLaunch.campaign_stage_id == stage_id))
    return {**counts, "held launches": int(held or 0)}


def username(session: Session, experimenter_id: int | None) -> str | None:
    if experimenter_id is None:
        return None
    return session.scalar(
        select(Experimenter.username).where(Experimenter.experimenter_id == experimenter_id)
    )


def job_counts(session: Session, submission_id: int) -> Counter[str]:
    rows = session.execute(
        select(Job.state, func.count())
        .where(Job.submission_id == submission_id)
        .group_by(Job.state)
    )
    return Counter({JobState(state).name.lower(): int(n) for state, n in rows})


def submission_files(session: Session, submission_id: int) -> dict[str, Any]:
    """The first ``FILES_SHOWN`` inputs (status, reporting job) and outputs, with totals."""
    inputs = session.execute(queries.input_files(submission_id).limit(FILES_SHOWN)).all()
    input_total = session.scalar(
        select(func.count()).where(SubmissionFile.submission_id == submission_id)
    )
    outputs = session.execute(
        select(File.name, File.location, File.size)
        .where(File.producing_submission_id == submission_id)
        .order_by(File.name)
        .limit(FILES_SHOWN)
    ).all()
    output_total = session.scalar(
        select(func.count()).where(File.producing_submission_id == submission_id)
    )
    return {
        "inputs": [{"name": n, "status": s, "updated": u, "job": j} for n, s, u, j in inputs],
        "input_total": int(input_total or 0),
        "outputs": [{"name": n, "location": loc, "size": size} for n, loc, size in outputs],
        "output_total": int(output_total or 0),
    }


def brief(session: Session, submission_ids: list[int]) -> list[dict[str, Any]]:
    """Submission id, stage and status of each (for lineage lists)."""
    if not submission_ids:
        return []
    rows = session.execute(
        select(
            Submission.submission_id,
            CampaignStage.name,
            Submission.status_id,
            Submission.submission_params,
        )
        .join(CampaignStage, CampaignStage.campaign_stage_id == Submission.campaign_stage_id)
        .where(Submission.submission_id.in_(submission_ids))
        .order_by(Submission.submission_id)
    )
    return [
        {
            "submission_id": sid,
            "stage": stage,
            "status": SubmissionStatus(status).label,
            "recovery_type": (params or {}).get("recovery_type"),
        }
        for sid, stage, status, params in rows
    ]
