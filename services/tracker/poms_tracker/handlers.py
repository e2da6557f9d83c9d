"""Tracker handlers: ingest job and file events, roll up, decide completion, emit events.

Roll-up, the located check and transitions of one submission are in ``status``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.contracts import Envelope
from poms_shared.contracts.messages import (
    FilesDeclared,
    JobControlApplied,
    JobEvent,
    JobEventsReported,
    LaunchFailed,
    SetSubmissionStatus,
    SubmissionLaunched,
)
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.metrics import JOB_EVENTS
from poms_shared.runtime.service import HandlerRegistry
from poms_shared.settings import Settings
from poms_tracker.adapters import files
from poms_tracker.adapters import repository as repo
from poms_tracker.adapters.job_upsert import Step
from poms_tracker.domain.launch_timeout import NewSubmission, NewTimeouts, launch_failed_reason
from poms_tracker.domain.rules import JobCounts
from poms_tracker.metrics import LAUNCHES_TIMED_OUT, observe_job_events
from poms_tracker.status import refresh, transition

log = logging.getLogger(__name__)


def on_launched(
    evt: SubmissionLaunched, *, uow: UnitOfWork, settings: Settings | None = None
) -> None:
    """Remember the batch id; jobs reported before the launch event are rolled up now."""
    submission = _lock(uow, evt.submission_id)
    if submission.batch_id is None:
        submission.batch_id = evt.batch_id
        submission.batch_backend = evt.backend
    refresh(uow, submission, settings=settings)


def on_launch_failed(evt: LaunchFailed, *, uow: UnitOfWork) -> None:
    submission = _lock(uow, evt.submission_id)
    transition(uow, submission, SubmissionStatus.LAUNCH_FAILED, reason=evt.reason)


def on_job_control(evt: JobControlApplied, *, uow: UnitOfWork) -> None:
    """A kill ends the submission Removed, a cancel Cancelled (a person's decision); one
    that failed leaves the jobs to end as they will (the request's mark is dropped)."""
    if evt.action not in ("kill", "cancel"):
        return
    submission = _lock(uow, evt.submission_id)
    if not evt.ok:
        params = dict(submission.submission_params or {})
        if params.pop("ended_by", None) is not None:
            submission.submission_params = params
        return
    status = SubmissionStatus.REMOVED if evt.action == "kill" else SubmissionStatus.CANCELLED
    if SubmissionStatus(submission.status_id) <= SubmissionStatus.RUNNING:
        transition(
            uow, submission, status, reason=f"jobs {evt.action}ed: {evt.detail}", automatic=False
        )


def on_set_status(
    cmd: SetSubmissionStatus, *, uow: UnitOfWork, settings: Settings | None = None
) -> None:
    """Approve, reject, kick to Completed or force Located, as a person asked."""
    submission = _lock(uow, cmd.submission_id)
    wanted = SubmissionStatus.from_label(cmd.status)
    reason = f"{cmd.reason or 'set'} by {cmd.actor}"
    if wanted == SubmissionStatus.LOCATED:
        # Forcing: remember it, so the completion rule says located whatever the counts.
        submission.submission_params = {**submission.submission_params, "force_located": True}
        if SubmissionStatus(submission.status_id) < SubmissionStatus.COMPLETED:
            transition(uow, submission, SubmissionStatus.COMPLETED, reason=reason, automatic=False)
        refresh(uow, submission, settings=settings)
        return
    transition(uow, submission, wanted, reason=reason, automatic=False)
    refresh(uow, submission, settings=settings)


def on_job_events(
    evt: JobEventsReported, *, uow: UnitOfWork, settings: Settings | None = None
) -> None:
    """A report naming a submission that does not exist is refused whole (dead-lettered
    with the reason), as ``POST /api/v1/job-events`` refuses it with a 400."""
    locked = _lock_named(uow.session, {e.submission_id for e in evt.events})
    _observe(evt.events)
    _apply(uow.session, [evt.events], locked, lambda index: uow, settings)


def ingest_job_reports(
    envelopes: list[Envelope], *, session: Session, settings: Settings | None = None
) -> set[int]:
    """Several ``JobEventsReported`` as if one after the other, set-based: the events
    folded per job and written with one statement, one lock and one count query for the
    submissions they touch, whose statuses then move (in memory) message by message as
    before, each status event caused by its message. Returns the submissions touched.

    Raises LookupError, applying nothing, if any report names a submission that does not
    exist: the consumer then retries the messages one by one, refusing only that report.
    """
    messages: list[list[JobEvent]] = []
    for envelope in envelopes:
        assert isinstance(envelope.payload, JobEventsReported)
        messages.append(envelope.payload.events)
    locked = _lock_named(session, {e.submission_id for events in messages for e in events})
    _observe([e for events in messages for e in events])
    units = [UnitOfWork(session, cause=envelope) for envelope in envelopes]
    return _apply(session, messages, locked, units.__getitem__, settings)


def ingest_job_events(
    uow: UnitOfWork, events: Iterable[JobEvent], settings: Settings | None = None
) -> set[int]:
    """Apply job observations and roll up every submission they touch (events of unknown
    submissions are dropped)."""
    events = list(events)
    _observe(events)
    locked = _locked(uow.session, {e.submission_id for e in events})
    mine = [e for e in events if e.submission_id in locked]  # strangers are not ours
    return _apply(uow.session, [mine], locked, lambda index: uow, settings)


def _observe(events: list[JobEvent]) -> None:
    observe_job_events(events)
    JOB_EVENTS.labels("received").inc(len(events))


def _locked(session: Session, wanted: set[int]) -> dict[int, Submission]:
    """Those of the submissions that exist, by id, locked (in id order) for this batch.

    Locked before their jobs are read or written, not only for the roll-up: another
    transaction writing jobs of one of them (a second batch in flight, another tracker)
    waits for this one's commit, so every roll-up counts all the jobs written before it.
    A roll-up blind to another's uncommitted jobs could end a submission Completed, for
    good, while some of its jobs still run."""
    return {s.submission_id: s for s in repo.lock_submissions(session, wanted)}


def _lock_named(session: Session, wanted: set[int]) -> dict[int, Submission]:
    """``_locked``; LookupError naming them if some of the submissions do not exist."""
    locked = _locked(session, wanted)
    if unknown := sorted(wanted - locked.keys()):
        if len(unknown) == 1:
            what = f"submission {unknown[0]} does not exist"
        else:
            what = f"submissions {', '.join(map(str, unknown))} do not exist"
        raise LookupError(f"{what}; the job events report is refused")
    return locked


def _apply(
    session: Session,
    messages: list[list[JobEvent]],
    locked: dict[int, Submission],
    uow_for: Callable[[int], UnitOfWork],
    settings: Settings | None = None,
) -> set[int]:
    """Write the messages' job events, then roll up what each message did, in order
    (``locked``: ``_locked`` of the submissions the events name, every one of them;
    ``uow_for(index)``: the unit of work of the index-th message's status events)."""
    if not any(messages):
        return set()
    named = set(locked)
    had_jobs = repo.submissions_with_jobs(session, named)
    steps, written = repo.write_job_events(session, messages, named, had_jobs)
    covered = set().union(*steps)
    if stray := written - covered:  # moved by the write yet by no fold step: roll up last
        steps[-1] = {**steps[-1], **{sid: {} for sid in stray}}
    _roll_up(session, steps, uow_for, settings, locked, named - had_jobs)
    return covered | stray


def _roll_up(
    session: Session,
    steps: list[Step],
    uow_for: Callable[[int], UnitOfWork],
    settings: Settings | None,
    locked: dict[int, Submission],
    jobless: set[int],
) -> None:
    """Refresh each submission after each message that moved its jobs, as if the messages
    came one by one, from one grouped count of the submissions' jobs (``locked``: those
    already locked, any other is locked now; ``jobless``: locked ones that had no job
    before the batch, whose counts are then all in the steps, and are not counted)."""
    touched = set().union(*steps)
    if not touched:
        return
    if rest := touched - locked.keys():  # a job's stored submission, not its event's
        locked.update((s.submission_id, s) for s in repo.lock_submissions(session, rest))
    counts = repo.state_counts(session, touched - jobless)  # after the whole batch
    for step in steps:
        for sid, change in step.items():
            if sid not in jobless:
                counts[sid].subtract(change)  # back to before the batch
    counts.update((sid, Counter()) for sid in touched & jobless)  # nothing before it
    ask = True  # after one catalog failure the rest of the batch does not wait on it again
    for index, step in enumerate(steps):
        for sid in sorted(step):
            counts[sid].update(step[sid])
            jobs = JobCounts.tally(counts[sid])
            ask = refresh(uow_for(index), locked[sid], jobs, settings, ask_catalog=ask) and ask


def on_files_declared(
    evt: FilesDeclared, *, uow: UnitOfWork, settings: Settings | None = None
) -> None:
    declare_and_refresh([(evt, uow)], settings)


def ingest_file_declarations(
    envelopes: list[Envelope], *, session: Session, settings: Settings | None = None
) -> set[int]:
    """Several ``FilesDeclared`` in turn, then one refresh of each submission they touch
    (a job's outputs arrive in many small declarations; the located check, which may ask
    the data catalog, runs once per submission instead of once per declaration)."""
    declared = []
    for envelope in envelopes:
        assert isinstance(envelope.payload, FilesDeclared)
        declared.append((envelope.payload, UnitOfWork(session, cause=envelope)))
    return declare_and_refresh(declared, settings)


def declare_and_refresh(
    declared: list[tuple[FilesDeclared, UnitOfWork]], settings: Settings | None = None
) -> set[int]:
    """Record each declaration, then refresh every producing submission once, its status
    events caused by the last declaration that touched it; returns those submissions."""
    last: dict[int, UnitOfWork] = {}
    for evt, uow in declared:
        for sid in files.declare_files(uow.session, evt):
            last[sid] = uow
    if not last:
        return set()
    session = declared[0][1].session
    ask = True  # after one catalog failure the rest of the pass does not wait on it again
    for submission in repo.lock_submissions(session, set(last)):
        uow = last[submission.submission_id]
        ask = refresh(uow, submission, settings=settings, ask_catalog=ask) and ask
    return set(last)


def sweep_completed(uow: UnitOfWork, settings: Settings | None = None) -> None:
    """Re-check Completed submissions (outputs may reach the catalog after the jobs end).

    A catalog that does not answer ends the pass (the rest wait for the next one rather
    than each waiting out the catalog's timeouts).
    """
    rows = uow.session.scalars(
        select(Submission)
        .where(Submission.status_id == int(SubmissionStatus.COMPLETED))
        .with_for_update(of=Submission, key_share=True, skip_locked=True)
    )
    for submission in rows:
        if not refresh(uow, submission, settings=settings):
            return


def fail_stale_new(uow: UnitOfWork, limits: NewTimeouts, now: datetime | None = None) -> int:
    """Submissions New for too long become LaunchFailed (reference §2.7); returns how many."""
    now = now or datetime.now(UTC)
    rows = uow.session.scalars(
        select(Submission)
        .where(
            Submission.status_id == int(SubmissionStatus.NEW),
            Submission.created < now - timedelta(seconds=limits.new_after),
        )
        .with_for_update(of=Submission, key_share=True, skip_locked=True)
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
        .with_for_update(of=Submission, key_share=True)
    )
    if submission is None:
        raise LookupError(f"submission {submission_id} does not exist")
    return submission


def build_registry(settings: Settings | None = None) -> HandlerRegistry:
    """Every handler; those that may check Located are given ``settings`` (the catalog)."""
    settings = settings or Settings()
    registry = HandlerRegistry()
    registry.register(SubmissionLaunched, partial(on_launched, settings=settings))
    registry.register(LaunchFailed, on_launch_failed)
    registry.register(JobEventsReported, partial(on_job_events, settings=settings))
    registry.register(FilesDeclared, partial(on_files_declared, settings=settings))
    registry.register(JobControlApplied, on_job_control)
    registry.register(SetSubmissionStatus, partial(on_set_status, settings=settings))
    return registry
