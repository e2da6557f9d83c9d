"""Lists of submissions, their histories and jobs, filtered and ordered in the database.

Time windows follow the reference pages (§12.12): ``tmin``/``tmax`` are UTC times
(``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM:SS`` or ISO ``T`` form; the first 19 characters count)
and ``tdays`` a length in days. Both ends given: ``tdays`` is their distance; only
``tmin``: ``tmax`` = ``tmin`` + ``tdays``; ``tmax`` missing otherwise: now; ``tdays``
defaults to 1; ``tmin`` missing: ``tmax`` − ``tdays``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage, Experimenter
from poms_shared.db.tables import File, Job, Submission, SubmissionHistory
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_web.adapters.actions import BadRequest

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
# Default ``projre`` (reference §1.10, ``[launch_commands] projre``): the first capture
# group of the first pattern matching the launch command names the SAM project.
DEFAULT_PROJECT_PATTERNS: tuple[str, ...] = (
    r"--sam_project[= ]+['\"]?([^\s'\"]+)",
    r"--project_name[= ]+['\"]?([^\s'\"]+)",
    r"SAM_PROJECT(?:_NAME)?=['\"]?([^\s'\"]+)",
)


def project_from_command(
    command: str | None, patterns: Sequence[str] = DEFAULT_PROJECT_PATTERNS
) -> str | None:
    """The SAM project a launch command names, if any pattern finds one."""
    if not command:
        return None
    for pattern in patterns:
        found = re.search(pattern, command)
        if found and found.group(1):
            return found.group(1)
    return None


# ---- time windows ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    tmin: datetime
    tmax: datetime

    @property
    def tdays(self) -> float:
        return (self.tmax - self.tmin).total_seconds() / 86400

    def as_data(self) -> dict[str, Any]:
        """The window as the pages give it, with the windows before and after it."""
        step = self.tmax - self.tmin
        return {
            "tmin": _text(self.tmin),
            "tmax": _text(self.tmax),
            "tdays": round(self.tdays, 6),
            "tminsec": int(self.tmin.timestamp()),
            "prevlink": f"tmax={_text(self.tmin)}&tdays={round(self.tdays, 6)}",
            "nextlink": f"tmax={_text(self.tmax + step)}&tdays={round(self.tdays, 6)}",
        }


def _text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(name: str, raw: str) -> datetime:
    """A UTC time from ``YYYY-MM-DD[ HH:MM[:SS]]`` (or with ``T``); BadRequest naming it."""
    text = raw.strip().replace("T", " ")[:19]
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise BadRequest(f"{name}: expected a date like 2026-01-31 or 2026-01-31 12:00:00, not {raw!r}")


def parse_days(raw: str) -> float:
    try:
        days = float(raw)
    except ValueError:
        raise BadRequest(f"tdays: expected a number of days, not {raw!r}") from None
    if not 0 < days <= 36600:
        raise BadRequest(f"tdays: expected a positive number of days, not {raw!r}")
    return days


def time_window(
    tmin: str | None,
    tmax: str | None,
    tdays: str | None,
    *,
    default: Window | None = None,
    now: datetime | None = None,
) -> Window | None:
    """The window the fields ask for; ``default`` (or None: no window) when none is given."""
    if not (tmin or tmax or tdays):
        return default
    start = parse_time("tmin", tmin) if tmin else None
    end = parse_time("tmax", tmax) if tmax else None
    days = parse_days(tdays) if tdays else 1.0
    if start is not None and end is None and tdays:
        end = start + timedelta(days=days)
    if end is None:
        end = (now or datetime.now(UTC)).astimezone(UTC)
    if start is None:
        start = end - timedelta(days=days)
    if start > end:
        raise BadRequest("tmin: the window starts after it ends (tmin is later than tmax)")
    return Window(start, end)


def in_window(window: Window | None, *, updated_too: bool) -> list[Any]:
    """Conditions for submissions created (or, ``updated_too``, updated) in the window."""
    if window is None:
        return []
    created = and_(Submission.created >= window.tmin, Submission.created <= window.tmax)
    if not updated_too:
        return [created]
    updated = and_(Submission.updated >= window.tmin, Submission.updated <= window.tmax)
    return [or_(created, updated)]


# ---- the submissions list ----------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    experiment: str
    campaign_id: int | None = None
    stage_id: int | None = None
    statuses: tuple[SubmissionStatus, ...] = ()
    window: Window | None = None
    mine: str | None = None  # a user name


def parse_statuses(values: Iterable[str]) -> tuple[SubmissionStatus, ...]:
    """Status labels (repeated or comma-separated); BadRequest naming an unknown one."""
    found: list[SubmissionStatus] = []
    for value in values:
        for label in value.split(","):
            if not label.strip():
                continue
            try:
                found.append(SubmissionStatus.from_label(label))
            except ValueError:
                known = ", ".join(s.label for s in SubmissionStatus)
                raise BadRequest(
                    f"status: unknown submission status {label.strip()!r}; one of {known}"
                ) from None
    return tuple(found)


COLUMNS = (
    Submission.submission_id,
    Submission.campaign_stage_id,
    CampaignStage.name.label("stage"),
    Campaign.name.label("campaign"),
    Submission.status_id,
    Submission.batch_id,
    Submission.project,
    Submission.created,
    Submission.updated,
    Submission.launcher,
    Submission.submission_params,
)


def submissions_query(session: Session, filters: Filters) -> Select[Any]:
    """Newest first, every condition in SQL (stage, status, creation time are indexed or
    ordered by the key), so a page costs a bounded scan however many submissions exist."""
    query = (
        select(*COLUMNS)
        .join(CampaignStage, CampaignStage.campaign_stage_id == Submission.campaign_stage_id)
        .outerjoin(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
        .where(CampaignStage.experiment == filters.experiment)
    )
    if filters.stage_id is not None:
        query = query.where(Submission.campaign_stage_id == filters.stage_id)
    if filters.campaign_id is not None:
        query = query.where(CampaignStage.campaign_id == filters.campaign_id)
    if filters.statuses:
        query = query.where(Submission.status_id.in_([int(s) for s in filters.statuses]))
    query = query.where(*in_window(filters.window, updated_too=False))
    if filters.mine:
        me = select(Experimenter.experimenter_id).where(Experimenter.username == filters.mine)
        query = query.where(
            or_(
                Submission.launcher == filters.mine, Submission.creator_id.in_(me.scalar_subquery())
            )
        )
    return query.order_by(Submission.submission_id.desc())


def submission_row(row: Any) -> dict[str, Any]:
    params = row.submission_params or {}
    return {
        "submission_id": row.submission_id,
        "stage_id": row.campaign_stage_id,
        "stage": row.stage,
        "campaign": row.campaign,
        "status": SubmissionStatus(row.status_id).label,
        "batch_id": row.batch_id,
        "project": row.project,
        "dataset": params.get("dataset"),
        "test": bool(params.get("test")),
        "created": row.created.isoformat(),
        "updated": row.updated.isoformat() if row.updated else None,
        "launcher": row.launcher,
    }


# ---- one submission's history and jobs ------------------------------------------------


def history(session: Session, submission_id: int) -> list[dict[str, Any]]:
    """Status changes in the order they happened."""
    rows = session.scalars(
        select(SubmissionHistory)
        .where(SubmissionHistory.submission_id == submission_id)
        .order_by(SubmissionHistory.created, SubmissionHistory.history_id)
    )
    return [
        {"status": SubmissionStatus(h.status_id).label, "at": h.created, "reason": h.reason}
        for h in rows
    ]


def jobs_query(submission_id: int) -> Select[Any]:
    return select(Job).where(Job.submission_id == submission_id).order_by(Job.job_id)


def job_row(row: Any) -> dict[str, Any]:
    job: Job = row[0]
    wall = job.wall_seconds
    if wall is None and job.started_at and job.finished_at:
        wall = (job.finished_at - job.started_at).total_seconds()
    cpu = job.cpu_seconds
    return {
        "job_id": job.job_id,
        "batch_id": job.batch_job_id,
        "backend": job.backend,
        "state": JobState(job.state).name.lower(),
        "exit_code": job.exit_code,
        "site": job.site,
        "node": job.node,
        "started": job.started_at.isoformat() if job.started_at else None,
        "finished": job.finished_at.isoformat() if job.finished_at else None,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "efficiency": round(cpu / wall, 3) if cpu is not None and wall else None,
        "memory_mb": job.memory_mb,
        "memory_requested_mb": job.memory_requested_mb,
        "log_path": job.log_path,
        "updated": job.updated.isoformat(),
    }


def readable_job_log(backend: str, log_path: str | None, batch_dir: Path) -> Path | None:
    """The job's log file when this server may show it: a local job's ``job.log`` inside
    the local batch spool. Log paths come with job events, which anyone allowed to report
    jobs can send, so no other path is ever opened."""
    if backend != "local" or not log_path:
        return None
    jobs = (batch_dir / "jobs").resolve()
    path = Path(log_path).resolve()
    if path.name != "job.log" or path.parent.parent != jobs or not path.is_file():
        return None
    return path


def located_outputs(session: Session, submission_ids: list[int]) -> dict[int, int]:
    """Located output files per submission (one grouped query)."""
    if not submission_ids:
        return {}
    rows = session.execute(
        select(File.producing_submission_id, func.count())
        .where(File.producing_submission_id.in_(submission_ids), File.location.is_not(None))
        .group_by(File.producing_submission_id)
    )
    return {int(sid): int(n) for sid, n in rows}


# ---- pages of the original client ---------------------------------------------------------

DATASET_IN_COMMAND = re.compile(r"--dataset(?:_definition)?[= ]+['\"]?([^\s'\"]+)")
RUNNING = (SubmissionStatus.NEW, SubmissionStatus.IDLE, SubmissionStatus.RUNNING)


def parent_of(sub: Submission) -> int | None:
    """The submission this one recovers, or whose output it processes."""
    parent = sub.recovery_parent_id or (sub.submission_params or {}).get("parent")
    return int(parent) if parent else None


def dataset_of(sub: Submission) -> str | None:
    """The input dataset: the launch's own, else the one its command names (§10.3)."""
    dataset = (sub.submission_params or {}).get("dataset")
    if dataset:
        return str(dataset)
    found = DATASET_IN_COMMAND.search(sub.command_executed or "")
    return found.group(1) if found else None


def related(session: Session, submission_id: int) -> dict[str, list[int]]:
    """Recoveries of the submission and launches on its output."""
    upstream = Submission.submission_params["parent"].as_integer()
    recoveries = session.scalars(
        select(Submission.submission_id)
        .where(Submission.recovery_parent_id == submission_id)
        .order_by(Submission.submission_id)
    )
    dependents = session.scalars(
        select(Submission.submission_id)
        .where(Submission.recovery_parent_id.is_(None), upstream == submission_id)
        .order_by(Submission.submission_id)
    )
    return {"recoveries": list(recoveries), "dependents": list(dependents)}


def stage_submissions(
    session: Session, stage_ids: list[int], window: Window, limit: int = 5000
) -> tuple[list[Submission], bool]:
    """Submissions of the stages created or updated in the window, newest first (at most
    ``limit``; True when more were left out)."""
    rows = session.scalars(
        select(Submission)
        .where(Submission.campaign_stage_id.in_(stage_ids), *in_window(window, updated_too=True))
        .order_by(Submission.submission_id.desc())
        .limit(limit + 1)
    ).all()
    return list(rows[:limit]), len(rows) > limit


def depths(parents: dict[int, int | None]) -> dict[int, int]:
    """How many listed ancestors each listed submission has (the page's indentation)."""
    found: dict[int, int] = {}
    for sid in parents:
        depth, seen, current = 0, {sid}, parents[sid]
        while current is not None and current in parents and current not in seen:
            depth, seen, current = depth + 1, seen | {current}, parents[current]
        found[sid] = depth
    return found


def running_counts(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    """Submissions New, Idle or Running per campaign (zero for the quiet ones)."""
    rows = session.execute(
        select(CampaignStage.campaign_id, func.count())
        .join(Submission, Submission.campaign_stage_id == CampaignStage.campaign_stage_id)
        .where(
            CampaignStage.campaign_id.in_(campaign_ids),
            Submission.status_id.in_([int(s) for s in RUNNING]),
        )
        .group_by(CampaignStage.campaign_id)
    )
    counts = dict.fromkeys(campaign_ids, 0)
    counts.update({int(cid): int(n) for cid, n in rows})
    return counts


def running_list(session: Session, experiment: str) -> list[list[Any]]:
    """``[submission id, batch id, experiment]`` of every New/Idle/Running submission."""
    rows = session.execute(
        select(Submission.submission_id, Submission.batch_id, CampaignStage.experiment)
        .join(CampaignStage, CampaignStage.campaign_stage_id == Submission.campaign_stage_id)
        .where(
            CampaignStage.experiment == experiment,
            Submission.status_id.in_([int(s) for s in RUNNING]),
        )
        .order_by(Submission.submission_id)
    )
    return [[sid, batch, exp] for sid, batch, exp in rows]
