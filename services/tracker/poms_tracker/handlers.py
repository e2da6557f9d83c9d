"""Tracker handlers: ingest job and file events, roll up, decide completion, emit events."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from poms_shared.contracts.messages import (
    FilesDeclared,
    JobControlApplied,
    JobEvent,
    JobEventsReported,
    LaunchFailed,
    SetSubmissionStatus,
    SubmissionCompleted,
    SubmissionLaunched,
    SubmissionLocated,
    SubmissionStatusChanged,
)
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.metrics import JOB_EVENTS
from poms_shared.runtime.service import HandlerRegistry
from poms_tracker.adapters import files
from poms_tracker.adapters import repository as repo
from poms_tracker.domain.completion import decide_located
from poms_tracker.domain.launch_timeout import NewSubmission, NewTimeouts, launch_failed_reason
from poms_tracker.domain.rules import next_status, rollup_status
from poms_tracker.metrics import LAUNCHES_TIMED_OUT, observe_job_events

log = logging.getLogger(__name__)


def on_launched(evt: SubmissionLaunched, *, uow: UnitOfWork) -> None:
    """Remember the batch id; jobs reported before the launch event are rolled up now."""
    submission = _lock(uow, evt.submission_id)
    if submission.batch_id is None:
        submission.batch_id = evt.batch_id
        submission.batch_backend = evt.backend
    refresh(uow, submission)


def on_launch_failed(evt: LaunchFailed, *, uow: UnitOfWork) -> None:
    submission = _lock(uow, evt.submission_id)
    transition(uow, submission, SubmissionStatus.LAUNCH_FAILED, reason=evt.reason)


def on_job_control(evt: JobControlApplied, *, uow: UnitOfWork) -> None:
    """A kill ends the submission Removed, a cancel Cancelled (a person's decision)."""
    if not evt.ok or evt.action not in ("kill", "cancel"):
        return
    submission = _lock(uow, evt.submission_id)
    status = SubmissionStatus.REMOVED if evt.action == "kill" else SubmissionStatus.CANCELLED
    if SubmissionStatus(submission.status_id) <= SubmissionStatus.RUNNING:
        transition(
            uow, submission, status, reason=f"jobs {evt.action}ed: {evt.detail}", automatic=False
        )


def on_set_status(cmd: SetSubmissionStatus, *, uow: UnitOfWork) -> None:
    """Approve, reject, kick to Completed or force Located, as a person asked."""
    submission = _lock(uow, cmd.submission_id)
    wanted = SubmissionStatus.from_label(cmd.status)
    reason = f"{cmd.reason or 'set'} by {cmd.actor}"
    if wanted == SubmissionStatus.LOCATED:
        # Forcing: remember it, so the completion rule says located whatever the counts.
        submission.submission_params = {**submission.submission_params, "force_located": True}
        if SubmissionStatus(submission.status_id) < SubmissionStatus.COMPLETED:
            transition(uow, submission, SubmissionStatus.COMPLETED, reason=reason, automatic=False)
        refresh(uow, submission)
        return
    transition(uow, submission, wanted, reason=reason, automatic=False)
    refresh(uow, submission)


def on_job_events(evt: JobEventsReported, *, uow: UnitOfWork) -> None:
    """A report naming a submission that does not exist is refused whole (dead-lettered
    with the reason), as ``POST /api/v1/job-events`` refuses it with a 400."""
    wanted = {e.submission_id for e in evt.events}
    known = set(
        uow.session.scalars(
            select(Submission.submission_id).where(Submission.submission_id.in_(wanted))
        )
    )
    if unknown := sorted(wanted - known):
        if len(unknown) == 1:
            what = f"submission {unknown[0]} does not exist"
        else:
            what = f"submissions {', '.join(map(str, unknown))} do not exist"
        raise LookupError(f"{what}; the job events report is refused")
    ingest_job_events(uow, evt.events)


def ingest_job_events(uow: UnitOfWork, events: Iterable[JobEvent]) -> set[int]:
    """Apply job observations and roll up every submission they touch."""
    events = list(events)
    observe_job_events(events)
    touched = repo.apply_job_events(uow.session, events)
    JOB_EVENTS.labels("received").inc(len(events))
    for sid in sorted(touched):
        refresh(uow, _lock(uow, sid))
    return touched


def on_files_declared(evt: FilesDeclared, *, uow: UnitOfWork) -> None:
    for sid in sorted(files.declare_files(uow.session, evt)):
        refresh(uow, _lock(uow, sid))


def refresh(uow: UnitOfWork, submission: Submission) -> None:
    """Roll job counts up into the status, then check whether it is Located."""
    counts = repo.job_counts(uow.session, submission.submission_id)
    proposed = rollup_status(counts, submission.stage.failed_ratio)
    if proposed is not None:
        transition(uow, submission, proposed, reason=f"jobs: {counts}")
    if SubmissionStatus(submission.status_id) == SubmissionStatus.COMPLETED:
        evidence = repo.located_evidence(uow.session, submission, counts.total)
        decision = decide_located(evidence)
        submission.submission_params = {
            **submission.submission_params,
            "completion_why": decision.why,
        }
        if decision.located:
            transition(uow, submission, SubmissionStatus.LOCATED, reason=decision.why)


def transition(
    uow: UnitOfWork,
    submission: Submission,
    proposed: SubmissionStatus,
    *,
    reason: str,
    automatic: bool = True,
) -> bool:
    """Apply the guards, write history, emit the status events."""
    current = SubmissionStatus(submission.status_id)
    new = next_status(
        current,
        proposed,
        is_recovery=submission.recovery_parent_id is not None,
        automatic=automatic,
    )
    if new is None:
        return False
    record_status(uow.session, submission, new, reason=reason)
    stage = submission.stage
    ids = {
        "submission_id": submission.submission_id,
        "stage_id": stage.campaign_stage_id,
        "campaign_id": stage.campaign_id,
    }
    uow.emit(SubmissionStatusChanged(**ids, old_status=current.label, new_status=new.label))
    if new == SubmissionStatus.COMPLETED:
        uow.emit(SubmissionCompleted(**ids))
    elif new == SubmissionStatus.LOCATED:
        uow.emit(SubmissionLocated(**ids))
    log.info("submission %s: %s -> %s", submission.submission_id, current.label, new.label)
    return True


def sweep_completed(uow: UnitOfWork) -> None:
    """Re-check Completed submissions (outputs may reach the catalog after the jobs end)."""
    rows = uow.session.scalars(
        select(Submission)
        .where(Submission.status_id == int(SubmissionStatus.COMPLETED))
        .with_for_update(of=Submission, skip_locked=True)
    )
    for submission in rows:
        refresh(uow, submission)


def fail_stale_new(uow: UnitOfWork, limits: NewTimeouts, now: datetime | None = None) -> int:
    """Submissions New for too long become LaunchFailed (reference §2.7); returns how many."""
    now = now or datetime.now(UTC)
    rows = uow.session.scalars(
        select(Submission)
        .where(
            Submission.status_id == int(SubmissionStatus.NEW),
            Submission.created < now - timedelta(seconds=limits.new_after),
        )
        .with_for_update(of=Submission, skip_locked=True)
    ).all()
    failed = 0
    for submission in rows:
        reason = launch_failed_reason(_new_view(submission), now, limits)
        if reason and transition(uow, submission, SubmissionStatus.LAUNCH_FAILED, reason=reason):
            LAUNCHES_TIMED_OUT.inc()
            failed += 1
    return failed


def _new_view(submission: Submission) -> NewSubmission:
    params = submission.submission_params or {}
    return NewSubmission(
        created=submission.created,
        commands_only=bool(params.get("commands_only")),
        launch_started=_when(params.get("launch_started"), submission.created),
        launch_finished="launch_finished" in params,
        batch_id=submission.batch_id,
    )


def _when(value: Any, fallback: datetime) -> datetime | None:
    """A timestamp the launcher wrote into the params (ISO text); unreadable: ``fallback``."""
    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return fallback
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _lock(uow: UnitOfWork, submission_id: int) -> Submission:
    submission = uow.session.scalar(
        select(Submission)
        .where(Submission.submission_id == submission_id)
        .with_for_update(of=Submission)
    )
    if submission is None:
        raise LookupError(f"submission {submission_id} does not exist")
    return submission


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(SubmissionLaunched, on_launched)
    registry.register(LaunchFailed, on_launch_failed)
    registry.register(JobEventsReported, on_job_events)
    registry.register(FilesDeclared, on_files_declared)
    registry.register(JobControlApplied, on_job_control)
    registry.register(SetSubmissionStatus, on_set_status)
    return registry
