"""Read-only views of campaigns and submissions for the API and the pages."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from poms_shared.db.campaigns import CampaignNotFound, load_campaign_spec
from poms_shared.db.models import Campaign, CampaignDependency, CampaignStage
from poms_shared.db.tables import (
    File,
    FileParent,
    HeldLaunch,
    Job,
    Schedule,
    Submission,
    SubmissionFile,
    SubmissionHistory,
)
from poms_shared.domain.dag import Edge, campaign_done, leading_stages
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.domain.why import why_not_done
from poms_shared.ini.writer import write_ini


class NotFound(LookupError):
    """The thing asked for does not exist."""


def campaign_or_none(session: Session, experiment: str, name: str) -> Campaign | None:
    return session.scalar(
        select(Campaign).where(Campaign.experiment == experiment, Campaign.name == name)
    )


def find_campaign(session: Session, experiment: str, name: str) -> Campaign:
    campaign = campaign_or_none(session, experiment, name)
    if campaign is None:
        raise NotFound(f"campaign {name!r} was not found in experiment {experiment!r}")
    return campaign


def campaign_ini_or_none(session: Session, experiment: str, name: str) -> dict[str, Any] | None:
    """The campaign as `.ini` text before a change (for the audit log), if it exists."""
    try:
        spec = load_campaign_spec(session, experiment=experiment, name=name)
    except CampaignNotFound:
        return None
    return {"ini": write_ini(spec)}


def list_campaigns(session: Session, experiment: str | None) -> list[dict[str, Any]]:
    query = select(Campaign).order_by(Campaign.name)
    if experiment:
        query = query.where(Campaign.experiment == experiment)
    return [_campaign_summary(session, c) for c in session.scalars(query)]


def _campaign_summary(session: Session, campaign: Campaign) -> dict[str, Any]:
    stage_ids = [s.campaign_stage_id for s in campaign.stages]
    statuses = _stage_statuses(session, stage_ids)
    return {
        "campaign_id": campaign.campaign_id,
        "name": campaign.name,
        "experiment": campaign.experiment,
        "active": campaign.active,
        "stages": len(stage_ids),
        "state": _campaign_state(stage_ids, statuses),
    }


def _stage_statuses(session: Session, stage_ids: list[int]) -> dict[int, list[SubmissionStatus]]:
    result: dict[int, list[SubmissionStatus]] = {sid: [] for sid in stage_ids}
    rows = session.execute(
        select(Submission.campaign_stage_id, Submission.status_id).where(
            Submission.campaign_stage_id.in_(stage_ids)
        )
    )
    for stage_id, status_id in rows:
        result[stage_id].append(SubmissionStatus(status_id))
    return result


def _campaign_state(stage_ids: list[int], statuses: dict[int, list[SubmissionStatus]]) -> str:
    located = {s for s, sts in statuses.items() if SubmissionStatus.LOCATED in sts}
    active = {s for s, sts in statuses.items() if any(x.is_active for x in sts)}
    if campaign_done(stage_ids, located, active):
        return "done"
    if active:
        return "running"
    return "idle" if not any(statuses.values()) else "stopped"


def campaign_graph(session: Session, campaign: Campaign) -> tuple[dict[int, str], list[Edge]]:
    """Stage names by id and the dependency edges feeding them."""
    names = {s.campaign_stage_id: s.name for s in campaign.stages}
    deps = session.scalars(
        select(CampaignDependency).where(CampaignDependency.downstream_stage_id.in_(names))
    )
    return names, [Edge(d.upstream_stage_id, d.downstream_stage_id, d.file_patterns) for d in deps]


def campaign_detail(session: Session, campaign: Campaign) -> dict[str, Any]:
    """Stages with their settings and submissions, dependencies, overall state."""
    names, edges = campaign_graph(session, campaign)
    return {
        **_campaign_summary(session, campaign),
        "keywords": campaign.campaign_keywords,
        "leading_stages": [names[i] for i in leading_stages(list(names), edges)],
        "dependencies": [
            {
                "upstream": names.get(e.upstream, e.upstream),
                "downstream": names[e.downstream],
                "file_patterns": e.file_patterns,
            }
            for e in edges
        ],
        "stages_detail": [_stage_detail(session, s) for s in campaign.stages],
    }


def _stage_detail(session: Session, stage: CampaignStage) -> dict[str, Any]:
    submissions = session.scalars(
        select(Submission)
        .where(Submission.campaign_stage_id == stage.campaign_stage_id)
        .order_by(Submission.submission_id)
    ).all()
    return {
        "stage_id": stage.campaign_stage_id,
        "name": stage.name,
        "stage_type": stage.campaign_stage_type,
        "job_type": stage.job_type.name,
        "job_type_id": stage.job_type_id,
        "login_setup": stage.login_setup.name,
        "login_setup_id": stage.login_setup_id,
        "completion_type": stage.completion_type,
        "completion_pct": stage.completion_pct,
        "software_version": stage.software_version,
        "dataset": stage.dataset,
        "submissions": [_submission_summary(s) for s in submissions],
    }


def _submission_summary(sub: Submission) -> dict[str, Any]:
    return {
        "submission_id": sub.submission_id,
        "status": SubmissionStatus(sub.status_id).label,
        "dataset": sub.submission_params.get("dataset"),
        "batch_id": sub.batch_id,
        "created": sub.created.isoformat(),
        "launcher": sub.launcher,
    }


def get_submission(session: Session, submission_id: int) -> Submission:
    """The submission, or NotFound (a 404) naming it."""
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise NotFound(f"submission {submission_id} does not exist")
    return sub


def submission_detail(session: Session, submission_id: int) -> dict[str, Any]:
    """Status, history, job counts by state, output files, and why it is not done yet."""
    sub = get_submission(session, submission_id)
    history = session.scalars(
        select(SubmissionHistory)
        .where(SubmissionHistory.submission_id == submission_id)
        .order_by(SubmissionHistory.history_id)
    ).all()
    last_reason = history[-1].reason if history else None
    jobs = session.scalars(select(Job).where(Job.submission_id == submission_id)).all()
    outputs = session.scalars(
        select(File).where(File.producing_submission_id == submission_id).order_by(File.name)
    )
    counts = Counter(JobState(j.state).name.lower() for j in jobs)
    return {
        **_submission_summary(sub),
        "stage": sub.stage.name,
        "campaign": sub.stage.campaign.name if sub.stage.campaign else None,
        "command": sub.command_executed,
        "launch_log": sub.launch_log,
        "parent_submission_id": sub.submission_params.get("parent"),
        "parent_id": sub.submission_params.get("parent"),
        "test": bool(sub.submission_params.get("test")),
        "launched_by": sub.submission_params.get("launched_by", sub.launcher),
        "why": why_not_done(
            SubmissionStatus(sub.status_id),
            counts,
            completion_why=sub.submission_params.get("completion_why"),
            last_reason=last_reason,
            launch_started="launch_started" in sub.submission_params,
            reservation=bool(sub.submission_params.get("commands_only")),
        ),
        "recovery_parent_id": sub.recovery_parent_id,
        "recovery_type": sub.submission_params.get("recovery_type"),
        "drift": sub.submission_params.get("drift", []),
        "history": [
            {
                "status": SubmissionStatus(h.status_id).label,
                "at": h.created.isoformat(),
                "reason": h.reason,
            }
            for h in history
        ],
        "jobs": {"total": len(jobs), **{k: counts[k] for k in sorted(counts)}},
        "output_files": [{"name": f.name, "location": f.location, "size": f.size} for f in outputs],
    }


def stage_info(session: Session, stage: CampaignStage) -> dict[str, Any]:
    """Everything about one stage: settings, hold, schedule, split state, submissions."""
    schedule = session.scalar(
        select(Schedule).where(Schedule.campaign_stage_id == stage.campaign_stage_id)
    )
    return {
        **_stage_detail(session, stage),
        "campaign": stage.campaign.name if stage.campaign else None,
        "experiment": stage.experiment,
        "split_type": stage.cs_split_type,
        "test_split_type": stage.test_split_type,
        "cs_last_split": stage.cs_last_split,
        "held": stage.hold_experimenter_id is not None,
        "param_overrides": stage.param_overrides,
        "test_param_overrides": stage.test_param_overrides,
        "failed_ratio": stage.failed_ratio,
        "located_after_hours": stage.located_after_hours,
        "schedule": schedule_info(stage.campaign_stage_id, schedule),
    }


def schedule_info(stage_id: int, row: Schedule | None) -> dict[str, Any]:
    if row is None:
        return {"stage_id": stage_id, "cron": None, "next_runs": []}
    it = croniter(row.cron, datetime.now(UTC))
    return {
        "stage_id": stage_id,
        "cron": row.cron,
        "scheduled_by": row.scheduled_by,
        "next_runs": [it.get_next(datetime).isoformat() for _ in range(5)],
    }


def held_launch_info(held: HeldLaunch) -> dict[str, Any]:
    return {
        "held_launch_id": held.held_launch_id,
        "stage_id": held.campaign_stage_id,
        "created": held.created.isoformat(),
        "launcher": held.launcher,
        "dataset": held.dataset,
        "test": held.test,
        "parent_submission_id": held.parent_submission_id,
    }


def submissions_in_scope(
    session: Session, *, stage_ids: list[int] | None = None, submission_id: int | None = None
) -> list[Submission]:
    """Submissions a job-control action may touch: still at most Running. Their rows are
    locked (in id order, as the services lock them) and read afresh, so marking them never
    overwrites what a launcher or the tracker wrote meanwhile."""
    query = select(Submission).where(Submission.status_id <= int(SubmissionStatus.RUNNING))
    if submission_id is not None:
        query = query.where(Submission.submission_id == submission_id)
    if stage_ids is not None:
        query = query.where(Submission.campaign_stage_id.in_(stage_ids))
    query = query.order_by(Submission.submission_id).with_for_update(of=Submission)
    return list(session.scalars(query.execution_options(populate_existing=True)))


def input_files(submission_id: int) -> Select[tuple[str, str, datetime, str | None]]:
    """(name, status, updated, reporting batch job) of a submission's inputs, by name."""
    return (
        select(File.name, SubmissionFile.status, SubmissionFile.updated, Job.batch_job_id)
        .join(File, File.file_id == SubmissionFile.file_id)
        .outerjoin(Job, Job.job_id == SubmissionFile.job_id)
        .where(SubmissionFile.submission_id == submission_id)
        .order_by(File.name)
    )


def submission_files(session: Session, submission_id: int) -> dict[str, list[dict[str, Any]]]:
    """The submission's inputs (status, reporting job) and outputs (location, parents)."""
    get_submission(session, submission_id)
    inputs = session.execute(input_files(submission_id))
    parent = aliased(File)
    links = session.execute(
        select(FileParent.file_id, parent.name)
        .join(parent, parent.file_id == FileParent.parent_file_id)
        .join(File, File.file_id == FileParent.file_id)
        .where(File.producing_submission_id == submission_id)
    )
    parents: dict[int, list[str]] = {}
    for child, name in links:
        parents.setdefault(child, []).append(name)
    outputs = session.scalars(
        select(File).where(File.producing_submission_id == submission_id).order_by(File.name)
    )
    return {
        "inputs": [
            {"name": name, "status": status, "job": job, "updated": when and when.isoformat()}
            for name, status, when, job in inputs
        ],
        "outputs": [
            {
                "name": f.name,
                "location": f.location,
                "located": f.location is not None,
                "parents": sorted(parents.get(f.file_id, [])),
            }
            for f in outputs
        ],
    }
