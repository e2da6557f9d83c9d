"""Job and file rows, and the catalog counts behind completion."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from poms_shared.contracts.messages import JobEvent
from poms_shared.db.base import utcnow
from poms_shared.db.models import CampaignDependency
from poms_shared.db.tables import (
    File,
    FileParent,
    Job,
    Submission,
    SubmissionFile,
    SubmissionHistory,
)
from poms_shared.domain.patterns import matches_any, split_patterns
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_tracker.domain.completion import LocatedEvidence
from poms_tracker.domain.rules import JobCounts, JobView, accept_job_event

STATE_NAMES = {s.name.lower(): s for s in JobState}


def apply_job_events(session: Session, events: Iterable[JobEvent]) -> set[int]:
    """Upsert jobs from observations in one pass; returns the submissions touched."""
    events = sorted(events, key=lambda e: (e.backend, e.batch_job_id, e.seq))
    wanted = {e.submission_id for e in events}
    known_sids = set(
        session.scalars(
            select(Submission.submission_id).where(Submission.submission_id.in_(wanted))
        )
    )
    events = [e for e in events if e.submission_id in known_sids]  # strangers are not ours
    keys = {(e.backend, e.batch_job_id) for e in events}
    existing = {
        (j.backend, j.batch_job_id): j
        for j in session.scalars(select(Job).where(Job.batch_job_id.in_([k[1] for k in keys])))
        if (j.backend, j.batch_job_id) in keys
    }
    touched: set[int] = set()
    for event in events:
        state = STATE_NAMES[event.state]
        job = existing.get((event.backend, event.batch_job_id))
        view = JobView(JobState(job.state), job.last_seq) if job else None
        if not accept_job_event(view, state, event.seq):
            continue
        if job is None:
            job = Job(
                backend=event.backend,
                batch_job_id=event.batch_job_id,
                submission_id=event.submission_id,
                state=int(state),
                last_seq=event.seq,
            )
            session.add(job)
            existing[(event.backend, event.batch_job_id)] = job
        _update_job(job, event, state)
        touched.add(job.submission_id)
    session.flush()
    return touched


def _update_job(job: Job, event: JobEvent, state: JobState) -> None:
    job.state = int(state)
    job.last_seq = event.seq
    job.updated = utcnow()
    job.node = event.node or job.node
    job.log_path = event.log_path or job.log_path
    if state == JobState.RUNNING and job.started_at is None:
        job.started_at = event.at
    if state.is_terminal:
        job.finished_at = event.at
        job.exit_code = event.exit_code


def job_counts(session: Session, submission_id: int) -> JobCounts:
    states = session.scalars(select(Job.state).where(Job.submission_id == submission_id))
    return JobCounts.of([JobState(s) for s in states])


def output_patterns(session: Session, submission: Submission) -> str:
    """Downstream dependency patterns, else the job type's output patterns."""
    deps = session.scalars(
        select(CampaignDependency.file_patterns).where(
            CampaignDependency.upstream_stage_id == submission.campaign_stage_id
        )
    ).all()
    if deps:
        return ",".join(split_patterns(",".join(deps)))
    return ",".join(split_patterns(submission.stage.job_type.output_file_patterns))


def hours_completed(session: Session, submission: Submission, now: datetime) -> float:
    """Hours since the submission last became Completed (0 if the history does not say)."""
    since = session.scalar(
        select(func.max(SubmissionHistory.created)).where(
            SubmissionHistory.submission_id == submission.submission_id,
            SubmissionHistory.status_id == int(SubmissionStatus.COMPLETED),
        )
    )
    if since is None:
        return 0.0
    if since.tzinfo is None:  # an aggregate bypasses the column type's UTC conversion
        since = since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds() / 3600)


def located_evidence(
    session: Session, submission: Submission, jobs: int, now: datetime | None = None
) -> LocatedEvidence:
    """Count inputs with located children and located outputs matching the patterns."""
    stage = submission.stage
    limit = stage.located_after_hours
    waited = hours_completed(session, submission, now or utcnow()) if limit is not None else None
    patterns = output_patterns(session, submission)
    pats = split_patterns(patterns)
    outputs = [
        (f.file_id, f.name)
        for f in session.scalars(
            select(File).where(
                File.producing_submission_id == submission.submission_id,
                File.location.is_not(None),
            )
        )
        if matches_any(f.name, pats)
    ]
    inputs = (
        session.scalar(
            select(func.count()).where(SubmissionFile.submission_id == submission.submission_id)
        )
        or 0
    )
    with_outputs = 0
    if inputs and outputs:
        parent = aliased(SubmissionFile)
        with_outputs = (
            session.scalar(
                select(func.count(func.distinct(FileParent.parent_file_id)))
                .join(parent, parent.file_id == FileParent.parent_file_id)
                .where(
                    parent.submission_id == submission.submission_id,
                    FileParent.file_id.in_([fid for fid, _ in outputs]),
                )
            )
            or 0
        )
    return LocatedEvidence(
        completion_type=stage.completion_type,
        completion_pct=stage.completion_pct,
        is_recovery=submission.recovery_parent_id is not None,
        inputs=inputs,
        inputs_with_outputs=with_outputs,
        jobs=jobs,
        located_outputs=len(outputs),
        patterns=patterns,
        forced=bool(submission.submission_params.get("force_located")),
        stage_type=stage.campaign_stage_type,
        located_after_hours=limit,
        hours_completed=waited,
    )
