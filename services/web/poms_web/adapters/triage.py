"""Queries behind the triage page: what ran, failed and is stuck in an experiment over a
time window, aggregated in SQL (``GROUP BY``) and returned as plain values.

Every query reaches jobs through the submissions in scope (``jobs.submission_id`` is
indexed; ``jobs.finished_at`` is not): submissions of the experiment created before the
window ends that were created or ended in it, or are still active. A job counts in the
window when it ended in it (``finished_at``, else its last update)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.tables import Job, Submission, SubmissionHistory
from poms_shared.domain.statuses import ACTIVE_STATUSES, JobState, SubmissionStatus
from poms_shared.domain.why import why_not_done

S = SubmissionStatus
ACTIVE_IDS = sorted(int(s) for s in ACTIVE_STATUSES)
# How long a submission may stay in a status before the page calls it stuck.
STUCK_AFTER: dict[SubmissionStatus, timedelta] = {
    S.NEW: timedelta(minutes=30),
    S.APPROVED: timedelta(hours=1),
    S.HELD: timedelta(hours=1),
    S.IDLE: timedelta(hours=12),
    S.COMPLETED: timedelta(hours=12),  # Completed but not Located
    S.AWAITING_APPROVAL: timedelta(hours=24),
    S.RUNNING: timedelta(hours=48),
}
BLACK_HOLE_MIN_FAILED = 5  # a node with this many failures …
BLACK_HOLE_MAX_SUCCESS = 0.2  # … and at most this share of successes is a black hole
PER = ("experiment", "campaign", "stage")
MOST_LISTED = 20_000  # submissions of a window passed to the jobs queries by id
STUCK_SHOWN = 100  # stuck submissions listed, the longest stuck first


@dataclass(frozen=True)
class Scope:
    """Which submissions the page looks at: an experiment, a window, maybe one campaign
    or stage."""

    experiment: str
    tmin: datetime
    tmax: datetime
    campaign_id: int | None = None
    stage_id: int | None = None
    submission_ids: tuple[int, ...] | None = None  # listed by ``listed``; None: not listed


# ---- shared conditions -------------------------------------------------------------------

job_end = func.coalesce(Job.finished_at, Job.updated)  # when a job ended (if it has)
DONE = and_(Job.state == int(JobState.COMPLETED), func.coalesce(Job.exit_code, 0) == 0)
FAILED = or_(
    Job.state == int(JobState.FAILED),
    and_(Job.state == int(JobState.COMPLETED), func.coalesce(Job.exit_code, 0) != 0),
)
KILLED = Job.state.in_([int(JobState.REMOVED), int(JobState.CANCELLED)])
NAMES = (Campaign.campaign_id, Campaign.name, CampaignStage.campaign_stage_id, CampaignStage.name)


def ended_in(scope: Scope) -> ColumnElement[bool]:
    """The job has ended, inside the window."""
    return and_(Job.state >= int(JobState.COMPLETED), job_end >= scope.tmin, job_end < scope.tmax)


def in_scope(scope: Scope, *, filtered: bool = True) -> list[ColumnElement[bool]]:
    """Conditions on submissions (joined with their stage) for the scope; ``filtered``
    False: ignoring the campaign and stage filters."""
    found = [
        CampaignStage.experiment == scope.experiment,
        Submission.created < scope.tmax,
        or_(
            Submission.created >= scope.tmin,
            Submission.updated >= scope.tmin,
            Submission.status_id.in_(ACTIVE_IDS),
        ),
    ]
    return found + chosen(scope) if filtered else found


def chosen(scope: Scope) -> list[ColumnElement[bool]]:
    """Conditions on stages for the campaign and stage filters."""
    found = []
    if scope.campaign_id is not None:
        found.append(CampaignStage.campaign_id == scope.campaign_id)
    if scope.stage_id is not None:
        found.append(CampaignStage.campaign_stage_id == scope.stage_id)
    return found


def with_stage(query: Select[Any]) -> Select[Any]:
    """``query`` over submissions joined with their stage and (maybe) campaign."""
    return query.join(
        CampaignStage, CampaignStage.campaign_stage_id == Submission.campaign_stage_id
    ).outerjoin(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)


def jobs_in(query: Select[Any], scope: Scope) -> Select[Any]:
    """``query`` over the jobs of the submissions in scope."""
    joined = query.select_from(Job).join(Submission, Submission.submission_id == Job.submission_id)
    joined = with_stage(joined).where(*in_scope(scope))
    if scope.submission_ids is not None:
        joined = joined.where(Job.submission_id.in_(scope.submission_ids))
    return joined


def listed(session: Session, scope: Scope) -> Scope:
    """The scope with its submissions' ids (unless more than ``MOST_LISTED``): with the
    ids spelled out PostgreSQL reads the jobs through their ``submission_id`` index;
    given only the conditions, it cannot tell how few submissions a window holds and
    scans every job instead."""
    query = with_stage(select(Submission.submission_id).select_from(Submission))
    ids = session.scalars(query.where(*in_scope(scope)).limit(MOST_LISTED + 1)).all()
    return replace(scope, submission_ids=tuple(ids) if len(ids) <= MOST_LISTED else None)


def counted(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows of a group meet ``condition``."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# ---- the filters' choices ------------------------------------------------------------------


@dataclass(frozen=True)
class StageRef:
    campaign_id: int | None
    campaign: str | None
    stage_id: int
    stage: str


def choices(session: Session, scope: Scope) -> list[StageRef]:
    """Stages with submissions in the window (whatever the filters), plus the chosen one."""
    query = (
        with_stage(select(*NAMES).select_from(Submission))
        .where(*in_scope(scope, filtered=False))
        .distinct()
    )
    found = {StageRef(*row) for row in session.execute(query)}
    wanted = [
        CampaignStage.campaign_stage_id == scope.stage_id,
        CampaignStage.campaign_id == scope.campaign_id,
    ]
    if scope.stage_id is not None or scope.campaign_id is not None:
        # so the selects can show what is chosen, even without activity
        extra = (
            select(*NAMES)
            .select_from(CampaignStage)
            .outerjoin(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
            .where(CampaignStage.experiment == scope.experiment, or_(*wanted))
        )
        found |= {StageRef(*row) for row in session.execute(extra)}
    return sorted(found, key=lambda s: (s.campaign or "", s.stage, s.stage_id))


# ---- the summary per campaign and stage ----------------------------------------------------


@dataclass
class StageSummary:
    """One stage's submissions (by status) and jobs in the window."""

    campaign_id: int | None
    campaign: str | None
    stage_id: int
    stage: str
    submissions: dict[str, int] = field(default_factory=dict)
    done: int = 0
    failed: int = 0
    killed: int = 0
    running: int = 0
    idle: int = 0
    held: int = 0
    cpu: float = 0.0
    wall: float = 0.0

    @property
    def efficiency(self) -> float | None:
        """CPU over wall time in per cent (None: no job told both)."""
        return round(100 * self.cpu / self.wall, 1) if self.wall > 0 else None


def summary(session: Session, scope: Scope) -> list[StageSummary]:
    """Per stage: submissions by status, jobs ended (done, failed, killed) in the window,
    jobs still queued or running, and the CPU efficiency of the jobs ended."""
    rows: dict[int, StageSummary] = {}
    by_status = (
        with_stage(select(*NAMES, Submission.status_id, func.count()).select_from(Submission))
        .where(*in_scope(scope))
        .group_by(*NAMES, Submission.status_id)
    )
    for cid, cname, sid, sname, status_id, count in session.execute(by_status):
        row = rows.setdefault(sid, StageSummary(cid, cname, sid, sname))
        row.submissions[S(status_id).label] = count
    window = ended_in(scope)
    usable = efficiency_known()
    jobs = jobs_in(
        select(
            CampaignStage.campaign_stage_id,
            counted(and_(window, DONE)),
            counted(and_(window, FAILED)),
            counted(and_(window, KILLED)),
            counted(Job.state == int(JobState.RUNNING)),
            counted(Job.state == int(JobState.IDLE)),
            counted(Job.state == int(JobState.HELD)),
            func.sum(case((and_(window, usable), Job.cpu_seconds), else_=0.0)),
            func.sum(case((and_(window, usable), Job.wall_seconds), else_=0.0)),
        ),
        scope,
    ).group_by(CampaignStage.campaign_stage_id)
    for sid, done, failed, killed, running, idle, held, cpu, wall in session.execute(jobs):
        row = rows[sid]
        row.done, row.failed, row.killed = int(done), int(failed), int(killed)
        row.running, row.idle, row.held = int(running), int(idle), int(held)
        row.cpu, row.wall = float(cpu or 0), float(wall or 0)
    return sorted(rows.values(), key=lambda r: (r.campaign or "", r.stage, r.stage_id))


def efficiency_known() -> ColumnElement[bool]:
    """Jobs whose CPU and wall time make a believable efficiency (reference §10.7: CPU
    below ten times the wall time)."""
    return and_(Job.cpu_seconds >= 0, Job.wall_seconds > 0, Job.cpu_seconds < 10 * Job.wall_seconds)


# ---- stuck submissions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Stuck:
    submission_id: int
    campaign: str | None
    stage_id: int
    stage: str
    status: str
    since: datetime
    why: str | None


def stuck(session: Session, scope: Scope, now: datetime, limit: int = STUCK_SHOWN) -> list[Stuck]:
    """Submissions (of the campaign or stage filters, whatever the window) in a status for
    longer than ``STUCK_AFTER`` allows, the longest stuck first."""
    candidates = with_stage(select(Submission.submission_id).select_from(Submission)).where(
        CampaignStage.experiment == scope.experiment,
        Submission.status_id.in_([int(s) for s in STUCK_AFTER]),
        *chosen(scope),
    )
    last = (
        select(SubmissionHistory.submission_id, func.max(SubmissionHistory.created).label("at"))
        .where(SubmissionHistory.submission_id.in_(candidates.scalar_subquery()))
        .group_by(SubmissionHistory.submission_id)
        .subquery()
    )
    since = func.coalesce(last.c.at, Submission.created)
    too_long = [
        and_(Submission.status_id == int(status), since < now - after)
        for status, after in STUCK_AFTER.items()
    ]
    query = (
        with_stage(
            select(
                Submission.submission_id,
                Campaign.name,
                CampaignStage.campaign_stage_id,
                CampaignStage.name,
                Submission.status_id,
                since,
                Submission.submission_params,
            ).select_from(Submission)
        )
        .outerjoin(last, last.c.submission_id == Submission.submission_id)
        .where(Submission.submission_id.in_(candidates.scalar_subquery()), or_(*too_long))
        .order_by(since, Submission.submission_id)
        .limit(limit)
    )
    # a show-commands reservation stays New on purpose: not stuck
    rows = [r for r in session.execute(query) if not (r[-1] or {}).get("commands_only")]
    jobs = job_counts(session, [r[0] for r in rows])
    return [
        Stuck(
            sid,
            cname,
            stage_id,
            sname,
            S(status_id).label,
            at,
            _why(S(status_id), jobs.get(sid, {}), params or {}),
        )
        for sid, cname, stage_id, sname, status_id, at, params in rows
    ]


def job_counts(session: Session, submission_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per submission, its jobs by state name (``running``, ``failed`` …)."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if not submission_ids:
        return counts
    query = (
        select(Job.submission_id, Job.state, func.count())
        .where(Job.submission_id.in_(submission_ids))
        .group_by(Job.submission_id, Job.state)
    )
    for sid, state, count in session.execute(query):
        counts[sid][JobState(state).name.lower()] = count
    return counts


def _why(status: SubmissionStatus, jobs: dict[str, int], params: dict[str, Any]) -> str | None:
    return why_not_done(
        status,
        jobs,
        completion_why=params.get("completion_why"),
        launch_started="launch_started" in params,
        reservation=bool(params.get("commands_only")),
    )


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign's stages and their sum (stages without a campaign: campaign None)."""

    campaign_id: int | None
    campaign: str | None
    stages: list[StageSummary]
    total: StageSummary


def by_campaign(stages: list[StageSummary]) -> list[CampaignSummary]:
    """Stage summaries gathered per campaign, each with the campaign's totals."""
    grouped: dict[int | None, list[StageSummary]] = defaultdict(list)
    for stage in stages:
        grouped[stage.campaign_id].append(stage)
    found = []
    for campaign_id, rows in grouped.items():
        total = StageSummary(campaign_id, rows[0].campaign, 0, "")
        for row in rows:
            for status, count in row.submissions.items():
                total.submissions[status] = total.submissions.get(status, 0) + count
            for name in ("done", "failed", "killed", "running", "idle", "held", "cpu", "wall"):
                setattr(total, name, getattr(total, name) + getattr(row, name))
        found.append(CampaignSummary(campaign_id, rows[0].campaign, rows, total))
    return sorted(found, key=lambda c: (c.campaign is None, c.campaign or ""))
