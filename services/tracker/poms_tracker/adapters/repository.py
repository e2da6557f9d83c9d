"""Job rows (read, folded and written per micro-batch), the job-event inbox, submission
locks, and the evidence behind completion (counts from the configured catalog)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from poms_shared.catalog.factory import make_catalog
from poms_shared.catalog.facts import submission_facts
from poms_shared.contracts.messages import JobEvent
from poms_shared.db.base import utcnow
from poms_shared.db.models import CampaignDependency
from poms_shared.db.tables import InboxMessage, Job, Submission, SubmissionHistory
from poms_shared.domain.patterns import split_patterns
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.metrics import DUPLICATES_SKIPPED
from poms_shared.settings import Settings
from poms_tracker.adapters import job_upsert
from poms_tracker.adapters.job_upsert import JobKey, Step, StoredJob
from poms_tracker.domain.completion import LocatedEvidence
from poms_tracker.domain.rules import JobCounts, JobView

T = TypeVar("T")

STATE_NAMES = job_upsert.STATE_NAMES
READ_CHUNK = 5000  # ids per look-up statement (SQLite binds at most 32766 values)


def write_job_events(
    session: Session,
    messages: list[list[JobEvent]],
    named: Collection[int],
    with_jobs: set[int] | None = None,
) -> tuple[list[Step], set[int]]:
    """Fold the messages' events per job onto the stored jobs and write them with one
    statement. Returns what each message did to the job counts, and the submissions
    whose jobs the write moved. Every submission the events name (``named``, as the
    caller has already collected them) must exist; ``with_jobs``: those of them that
    have a job row, when the caller has looked (``submissions_with_jobs``).

    On PostgreSQL the jobs reported under a submission that has none yet (a
    submission's first report, most of a new campaign's events) are not looked up: they
    are folded as new and COPYed, and the unique key proves it. Should one of them hold a
    row after all (it was reported under another submission, or another writer inserted
    it since), nothing is written and the batch is folded again from a full look-up."""
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        if with_jobs is None:
            with_jobs = submissions_with_jobs(session, named)
        if len(with_jobs) < len(named):  # some jobs need no look-up
            wanted = job_upsert.job_keys(messages, among=with_jobs) if with_jobs else set()
            try:
                stored = stored_jobs(session, wanted)
                return job_upsert.fold_and_write_unread(session, messages, stored, now)
            except job_upsert.JobsExist:
                pass  # folded from a wrong guess: as if nothing was guessed
    stored = stored_jobs(session, job_upsert.job_keys(messages))
    folded = job_upsert.fold_job_events(messages, stored)
    return folded.steps, job_upsert.write_job_changes(session, folded, now)


def submissions_with_jobs(session: Session, submission_ids: Iterable[int]) -> set[int]:
    """Those of ``submission_ids`` that have a job row (one index probe each)."""
    found: set[int] = set()
    has_jobs = select(Job.job_id).where(Job.submission_id == Submission.submission_id).exists()
    for chunk in _chunks(sorted(set(submission_ids))):
        found.update(
            session.scalars(
                select(Submission.submission_id).where(
                    Submission.submission_id.in_(chunk), has_jobs
                )
            )
        )
    return found


def stored_jobs(session: Session, keys: Collection[JobKey]) -> dict[JobKey, StoredJob]:
    """The stored jobs among ``keys``, through the unique (backend, batch job id) index:
    one statement per backend (and per chunk of ids, on SQLite)."""
    ids: dict[str, list[str]] = {}
    for backend, job_id in keys:
        ids.setdefault(backend, []).append(job_id)
    found: dict[JobKey, StoredJob] = {}
    columns = select(Job.batch_job_id, Job.submission_id, Job.state, Job.last_seq)
    for backend, wanted in ids.items():
        for chunk in _id_lists(session, wanted):
            rows = session.execute(columns.where(Job.backend == backend, chunk))
            for job_id, sid, state, seq in rows:
                found[(backend, job_id)] = StoredJob(sid, JobView(JobState(state), seq))
    return found


def _id_lists(session: Session, ids: list[str]) -> Iterator[ColumnElement[bool]]:
    """``batch_job_id`` among ``ids``: on PostgreSQL one array parameter sent as array
    text (one value for the server to parse, where a bound list becomes an ``ARRAY[…]``
    of as many expressions: a third of the time for tens of thousands of ids), chunks of
    an IN list elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        wanted = cast(bindparam("ids", array_text(ids), type_=Text), ARRAY(Text))
        yield Job.batch_job_id == any_(wanted)
        return
    for chunk in _chunks(ids):
        yield Job.batch_job_id.in_(chunk)


def array_text(values: list[str]) -> str:
    """PostgreSQL array input of ``values``, every element quoted (so commas, braces,
    spaces and ``NULL`` stay text) with its backslashes and double quotes escaped."""
    if not values:
        return "{}"
    if "\\" in (every := "".join(values)) or '"' in every:
        values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return '{"' + '","'.join(values) + '"}'


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), READ_CHUNK):
        yield items[start : start + READ_CHUNK]


def job_counts(session: Session, submission_id: int) -> JobCounts:
    return JobCounts.tally(state_counts(session, [submission_id])[submission_id])


def state_counts(session: Session, submission_ids: Iterable[int]) -> dict[int, Counter[int]]:
    """Each submission's jobs by state, by one grouped query (per chunk of ids)."""
    wanted = sorted(set(submission_ids))
    counts: dict[int, Counter[int]] = {sid: Counter() for sid in wanted}
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(Job.submission_id, Job.state, func.count())
            .where(Job.submission_id.in_(chunk))
            .group_by(Job.submission_id, Job.state)
        )
        for sid, state, n in rows:
            counts[sid][state] = n
    return counts


def lock_submissions(session: Session, submission_ids: Iterable[int]) -> list[Submission]:
    """The submissions, locked in id order (so concurrent batches cannot deadlock).

    The lock is FOR NO KEY UPDATE, as are all the tracker's locks of submissions: a
    status change never touches the key. Another transaction inserting this submission's
    jobs holds a KEY SHARE lock on its row (the foreign key check), which FOR UPDATE would
    wait for, and with two batches in flight one's roll-up could then wait for the
    other's COPY while that COPY waits for the first batch's rows: a deadlock."""
    locked: list[Submission] = []
    for chunk in _chunks(sorted(set(submission_ids))):
        locked.extend(
            session.scalars(
                select(Submission)
                .where(Submission.submission_id.in_(chunk))
                .order_by(Submission.submission_id)
                .with_for_update(of=Submission, key_share=True)
            )
        )
    return locked


def claim_messages(session: Session, consumer: str, message_ids: list[str]) -> list[str]:
    """Record in the inbox the message ids not applied before by ``consumer``; returns
    them in order, once each (``claim_inbox`` for a batch). On PostgreSQL one
    ``INSERT … ON CONFLICT DO NOTHING RETURNING`` says which are new (waiting for a
    concurrent claim of the same id to end rather than failing on it); elsewhere a
    look-up, then an insert."""
    wanted = sorted(set(message_ids))
    if session.get_bind().dialect.name == "postgresql":
        claimed = set(session.scalars(_claim_statement(consumer, wanted, utcnow())))
    else:
        claimed = set(wanted).difference(_claimed_before(session, consumer, wanted))
        if claimed:
            now = utcnow()
            session.execute(
                insert(InboxMessage),
                [{"consumer": consumer, "message_id": m, "processed_at": now} for m in claimed],
            )
    fresh: list[str] = []
    for message_id in message_ids:
        if message_id in claimed:
            claimed.discard(message_id)
            fresh.append(message_id)
        else:
            DUPLICATES_SKIPPED.labels(consumer).inc()
    return fresh


def _claim_statement(consumer: str, message_ids: list[str], now: datetime) -> Executable:
    ids = cast(bindparam("ids", array_text(message_ids), type_=Text), ARRAY(Text))
    rows = select(
        literal(consumer, InboxMessage.consumer.type),
        func.unnest(ids),
        literal(now, InboxMessage.processed_at.type),
    )
    insert_rows = postgresql.insert(InboxMessage).from_select(
        ["consumer", "message_id", "processed_at"], rows
    )
    return insert_rows.on_conflict_do_nothing().returning(InboxMessage.message_id)


def _claimed_before(session: Session, consumer: str, message_ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for chunk in _chunks(message_ids):
        seen.update(
            session.scalars(
                select(InboxMessage.message_id).where(
                    InboxMessage.consumer == consumer, InboxMessage.message_id.in_(chunk)
                )
            )
        )
    return seen


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
    """The stage's completion rules and how long the submission has waited; the catalog's
    counts are zero until ``with_located_counts`` adds them."""
    stage = submission.stage
    limit = stage.located_after_hours
    waited = hours_completed(session, submission, now or utcnow()) if limit is not None else None
    return LocatedEvidence(
        completion_type=stage.completion_type,
        completion_pct=stage.completion_pct,
        is_recovery=submission.recovery_parent_id is not None,
        inputs=0,
        inputs_with_outputs=0,
        jobs=jobs,
        located_outputs=0,
        patterns=output_patterns(session, submission),
        forced=bool(submission.submission_params.get("force_located")),
        stage_type=stage.campaign_stage_type,
        located_after_hours=limit,
        hours_completed=waited,
    )


def with_located_counts(
    session: Session, submission: Submission, evidence: LocatedEvidence, settings: Settings
) -> LocatedEvidence:
    """The evidence with the configured catalog's counts (reference §3.4); its failures
    raise ``CatalogError``."""
    catalog = make_catalog(settings, session, experiment=submission.stage.experiment)
    counts = catalog.located_counts(submission_facts(submission), split_patterns(evidence.patterns))
    return replace(
        evidence,
        inputs=counts.inputs,
        inputs_with_outputs=counts.inputs_with_outputs,
        located_outputs=counts.located_outputs,
    )
