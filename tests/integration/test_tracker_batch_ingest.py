"""Job-event micro-batches through ``bootstrap.batch_handler``, set-based, on SQLite and
PostgreSQL.

The jobs a batch leaves are compared with a reference that applies the events the way the
tracker did before it was set-based: one message at a time, its events by ``seq``, each
kept only if ``accept_job_event`` says so, every field set as ``_update_job`` set it. A
whole stream in one batch must leave the same jobs, statuses, history and announcements as
the same stream one message per batch. The SQL a batch runs is counted: it does not grow
with the batch's messages or events.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from submission_fixtures import make_submission

from poms_shared.broker import PermanentError
from poms_shared.broker.errors import Delivery, Dispatcher, Outcome, RetryPolicy
from poms_shared.contracts import Envelope, MalformedMessage, decode, encode, new_envelope
from poms_shared.contracts.messages import (
    DeclaredFile,
    FilesDeclared,
    JobEvent,
    JobEventsReported,
)
from poms_shared.db.session import Database
from poms_shared.db.tables import (
    File,
    InboxMessage,
    Job,
    OutboxMessage,
    Submission,
    SubmissionHistory,
)
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.domain.statuses import JobState
from poms_shared.domain.statuses import SubmissionStatus as S
from poms_shared.testing.db import DatabaseUnavailable, postgres_database, sqlite_database
from poms_tracker import bootstrap, handlers
from poms_tracker.adapters import repository as repo
from poms_tracker.adapters.repository import claim_messages
from poms_tracker.domain.rules import JobView, accept_job_event

BACKEND = "local"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
STATES = [s.name.lower() for s in JobState]
# Texts COPY must escape, and the empty node that ``event.node or job.node`` ignores.
NODES = [None, "", "node-1", "node-2", "tab\there", "back\\slash", "new\nline"]


# ---- the reference: the tracker's rule applied one event at a time ---------------------


@dataclass
class Row:
    """A job as the tracker keeps it."""

    submission_id: int
    state: JobState
    last_seq: int
    exit_code: int | None = None
    node: str | None = None
    log_path: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


Key = tuple[str, str]


def reference(jobs: dict[Key, Row], messages: list[list[JobEvent]]) -> dict[Key, Row]:
    """Each message in turn, its events by (backend, job, seq), as the tracker did."""
    jobs = {key: replace(row) for key, row in jobs.items()}
    for events in messages:
        for e in sorted(events, key=lambda e: (e.backend, e.batch_job_id, e.seq)):
            key, state = (e.backend, e.batch_job_id), JobState[e.state.upper()]
            job = jobs.get(key)
            if not accept_job_event(
                JobView(job.state, job.last_seq) if job else None, state, e.seq
            ):
                continue
            if job is None:
                job = jobs[key] = Row(e.submission_id, state, e.seq)
            job.state, job.last_seq = state, e.seq
            job.node = e.node or job.node
            job.log_path = e.log_path or job.log_path
            if state == JobState.RUNNING and job.started_at is None:
                job.started_at = e.at
            if state.is_terminal:
                job.finished_at, job.exit_code = e.at, e.exit_code
    return jobs


def stored(db: Database) -> dict[Key, Row]:
    with db.transaction() as session:
        return {
            (j.backend, j.batch_job_id): Row(
                j.submission_id,
                JobState(j.state),
                j.last_seq,
                j.exit_code,
                j.node,
                j.log_path,
                j.started_at,
                j.finished_at,
            )
            for j in session.scalars(select(Job))
        }


def random_messages(rng: random.Random, sids: list[int], jobs: int) -> list[list[JobEvent]]:
    """Random observations of ``jobs`` jobs per submission: any state, clashing and
    out-of-order ``seq``, repeats, in messages of 1–12 events in a shuffled order."""
    events = []
    for sid in sids:
        for n in range(jobs):
            for _ in range(rng.randrange(1, 6)):
                state = rng.choice(STATES)
                seq = rng.randrange(1, 9)
                event = JobEvent(
                    source="t",
                    backend=BACKEND,
                    batch_job_id=f"{sid}.{n}@{BACKEND}",
                    submission_id=sid,
                    state=state,  # type: ignore[arg-type]
                    seq=seq,
                    at=T0 + timedelta(seconds=rng.randrange(10_000), microseconds=seq),
                    exit_code=rng.choice([None, 0, 1]) if state in STATES[3:] else None,
                    node=rng.choice(NODES),
                    log_path=rng.choice([None, "", f"/logs/{n}.{seq}"]),
                )
                events.extend([event] * rng.choice([1, 1, 1, 2]))
    rng.shuffle(events)
    messages = []
    while events:
        size = rng.randrange(1, 13)
        messages.append(events[:size])
        events = events[size:]
    return messages


def envelopes(messages: list[list[JobEvent]]) -> list[Envelope]:
    return [new_envelope(JobEventsReported(events=events)) for events in messages]


def deliver(db: Database, batch: list[Envelope]) -> None:
    """Hand a micro-batch to the tracker's job-event consumer."""
    bootstrap.batch_handler(db, handlers.build_registry(), lambda: None)(batch)


# ---- jobs: the same as one event at a time --------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_a_batch_leaves_each_job_as_applying_its_events_one_at_a_time_would(
    database: Database, seed: int
) -> None:
    rng = random.Random(seed)
    sids = [make_submission(database, []) for _ in range(3)]
    first, second = random_messages(rng, sids, 25), random_messages(rng, sids, 30)

    deliver(database, envelopes(first))  # every job new
    after_first = stored(database)
    assert after_first == reference({}, first)

    deliver(database, envelopes(second))  # most jobs stored, some new
    assert stored(database) == reference(after_first, second)


def test_terminal_states_win_in_arrival_order_across_the_messages_of_a_batch(
    database: Database,
) -> None:
    """A final state is kept whatever its seq, so which one comes first decides: the
    first message's, as when the messages came in batches of their own."""
    sid = make_submission(database, [])

    def report(state: str, seq: int) -> list[JobEvent]:
        return [seen(sid, 0, state, seq, exit_code=0 if state == "completed" else 1)]

    messages = [report("running", 2), report("completed", 9), report("failed", 3)]
    deliver(database, envelopes(messages))
    [row] = stored(database).values()
    assert (row.state, row.last_seq, row.exit_code) == (JobState.COMPLETED, 9, 0)
    assert stored(database) == reference({}, messages)


# ---- statuses, history and announcements: the same as one message per batch ----------


@contextmanager
def two_databases(kind: str, tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    with ExitStack() as stack:
        if kind == "sqlite":
            yield (
                stack.enter_context(sqlite_database(tmp_path / "batched")),
                stack.enter_context(sqlite_database(tmp_path / "single")),
            )
            return
        try:
            yield stack.enter_context(postgres_database()), stack.enter_context(postgres_database())
        except DatabaseUnavailable as exc:
            pytest.skip(f"PostgreSQL unavailable: {exc}")


def seen(sid: int, n: int, state: str, seq: int, exit_code: int | None = None) -> JobEvent:
    """An observation of job ``n`` of submission ``sid``."""
    return JobEvent(
        source="t",
        backend=BACKEND,
        batch_job_id=f"{sid}.{n}@{BACKEND}",
        submission_id=sid,
        state=state,  # type: ignore[arg-type]
        seq=seq,
        at=T0 + timedelta(seconds=seq),
        exit_code=exit_code,
    )


def phased_stream(rng: random.Random, sids: list[int]) -> list[list[JobEvent]]:
    """Jobs seen idle, then running, then ending, each phase in messages of its own, with
    repeats and stale observations: the first submission's jobs complete, two in three of
    the second's fail, a quarter of the third's never end."""
    phases: list[list[JobEvent]] = [[], [], []]
    for sid in sids:
        for n in range(12):
            phases[0] += [seen(sid, n, "idle", 1)] * rng.choice([1, 2])
            phases[1] += [seen(sid, n, "running", 3)] + [seen(sid, n, "idle", 1)] * rng.choice(
                [0, 1]
            )
            if sid == sids[2] and n % 4 == 0:
                continue
            failed = sid == sids[1] and n % 3 != 0
            end = seen(sid, n, "failed", 7, 1) if failed else seen(sid, n, "completed", 7, 0)
            phases[2] += [end] + [seen(sid, n, "running", 3)] * rng.choice([0, 1])
    messages = []
    for phase in phases:
        rng.shuffle(phase)
        messages += [phase[i : i + 5] for i in range(0, len(phase), 5)]
    return messages


def batched_and_single(
    batched: Database, single: Database, stream: list[Envelope]
) -> tuple[Any, ...]:
    """Deliver ``stream`` to ``batched`` in one batch and to ``single`` one message per
    batch; the outcome, which must be the same for both."""
    deliver(batched, stream)
    for envelope in stream:
        deliver(single, [envelope])
    result = outcome(batched)
    assert result == outcome(single)
    return result


def outcome(db: Database) -> tuple[Any, ...]:
    """Jobs, statuses, history (with reasons), and what was announced, by whom caused."""
    with db.transaction() as session:
        statuses = dict(
            session.execute(select(Submission.submission_id, Submission.status_id)).tuples().all()
        )
        history = session.execute(
            select(
                SubmissionHistory.submission_id,
                SubmissionHistory.status_id,
                SubmissionHistory.reason,
            ).order_by(SubmissionHistory.history_id)
        ).all()
        bodies = session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.outbox_id))
        announced = [(e.type, e.causation_id, e.payload.model_dump()) for e in map(decode, bodies)]
    return stored(db), statuses, history, announced


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def test_a_stream_in_one_batch_ends_as_the_same_stream_one_message_per_batch(
    kind: str, tmp_path: Path
) -> None:
    with two_databases(kind, tmp_path) as (batched, single):
        sids = [make_submission(db, []) for db in (batched, single) for _ in range(3)]
        assert sids[:3] == sids[3:]
        stream = envelopes(phased_stream(random.Random(7), sids[:3]))

        jobs, statuses, history, announced = batched_and_single(batched, single, stream)
        assert jobs == reference({}, [e.payload.events for e in stream])  # type: ignore[attr-defined]
        # Statuses moved step by step within the batch, each step recorded with the counts
        # of its moment and announced, caused by the message that made it.
        paths = {sid: [S(status) for s, status, _ in history if s == sid] for sid in sids[:3]}
        assert paths[sids[1]] == [S.NEW, S.IDLE, S.RUNNING, S.FAILED]
        assert paths[sids[2]] == [S.NEW, S.IDLE, S.RUNNING]
        assert paths[sids[0]][:4] == [S.NEW, S.IDLE, S.RUNNING, S.COMPLETED]
        assert S(statuses[sids[0]]) >= S.COMPLETED
        causes = [cause for _, cause, _ in announced]
        assert set(causes) <= {e.message_id for e in stream} and len(set(causes)) > 3


# ---- inbox, unknown submissions, files between reports --------------------------------


def inbox(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(InboxMessage.message_id)))


def running(sid: int, *jobs: int, seq: int = 1) -> JobEventsReported:
    return JobEventsReported(events=[seen(sid, n, "running", seq) for n in jobs])


def test_a_message_twice_in_a_batch_or_again_later_is_applied_once(database: Database) -> None:
    sid = make_submission(database, [])
    first, second = new_envelope(running(sid, 0, 1)), new_envelope(running(sid, 2, seq=2))
    deliver(database, [first, first, second])
    deliver(database, [second, first])
    assert sorted(inbox(database)) == sorted([first.message_id, second.message_id])
    assert len(stored(database)) == 3
    with database.transaction() as session:
        reasons = session.scalars(
            select(SubmissionHistory.reason).where(SubmissionHistory.submission_id == sid)
        ).all()
    assert reasons == ["test", "jobs: 2 running"]  # the repeats moved nothing


def test_a_message_claimed_by_another_batch_meanwhile_waits_for_it_and_is_skipped(
    pg_database: Database,
) -> None:
    """Two tracker instances holding the same message (a redelivery) do not both apply
    it, and the later claim neither fails nor loses the other messages of its batch."""
    with ExitStack() as stack:
        first = stack.enter_context(pg_database.transaction())
        assert claim_messages(first, "tracker", ["m1"]) == ["m1"]
        claimed: list[list[str]] = []

        def second() -> None:
            with pg_database.transaction() as session:
                claimed.append(claim_messages(session, "tracker", ["m2", "m1", "m3", "m2"]))

        racer = threading.Thread(target=second)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive()  # waiting on the first claim's row
    racer.join(10)  # the first transaction committed
    assert claimed == [["m2", "m3"]]
    assert sorted(inbox(pg_database)) == ["m1", "m2", "m3"]


def test_a_roll_up_lock_does_not_wait_for_another_batch_inserting_jobs_of_that_submission(
    pg_database: Database,
) -> None:
    """Two batches in flight: one COPYing new jobs of a submission (the foreign key check
    holds a KEY SHARE lock on its row) must not hold up the other's roll-up lock of it.
    Under FOR UPDATE it would, and the first batch, locking next a submission the
    second already holds, would deadlock with it."""
    first, second = make_submission(pg_database, []), make_submission(pg_database, [])
    locked, errors = threading.Event(), []

    def roll_up() -> None:
        try:
            with pg_database.transaction() as session:
                repo.lock_submissions(session, {first, second})
                locked.set()
                time.sleep(0.2)
        except Exception as exc:  # reported below, with what it was
            errors.append(exc)

    with pg_database.transaction() as copying:
        repo.write_job_events(copying, [[seen(second, 0, "running", 1)]], {second})
        other = threading.Thread(target=roll_up)
        other.start()
        assert locked.wait(5), "the roll-up lock waited for the other batch's COPY"
        repo.lock_submissions(copying, {first})  # waits for the other's commit only
        other.join(10)
    assert errors == []
    assert len(stored(pg_database)) == 1


def test_a_batch_reads_the_jobs_of_its_submissions_only_after_another_writing_them_commits(
    tmp_path: Path,
) -> None:
    """A batch in flight moves job 1 to running; a second batch, started meanwhile,
    ends jobs 0 and 1 in two messages. The second waits for the first's commit before
    it reads the jobs, so its first message counts job 1 running, as when the batches
    come one after the other. Reading them before (job 1 still idle) it would record a
    move back to Idle that never happened."""
    with ExitStack() as stack:
        db, in_turn = (stack.enter_context(postgres_database()) for _ in range(2))
        [sid] = {make_submission(d, []) for d in (db, in_turn)}
        first = envelopes([[seen(sid, 1, "running", 2)]])
        second = envelopes([[seen(sid, 0, "completed", 5, 0)], [seen(sid, 1, "completed", 5, 0)]])
        for d in (db, in_turn):
            deliver(d, envelopes([[seen(sid, 0, "idle", 1), seen(sid, 1, "idle", 1)]]))
        deliver(in_turn, first)
        deliver(in_turn, second)
        errors: list[Exception] = []

        def later() -> None:
            try:
                deliver(db, second)
            except Exception as exc:  # reported below, with what it was
                errors.append(exc)

        with db.transaction() as session:
            handlers.ingest_job_reports(first, session=session)
            racer = threading.Thread(target=later)
            racer.start()
            racer.join(0.5)
            assert racer.is_alive()  # waiting for the first batch
        racer.join(10)
        assert errors == []
        assert outcome(db)[:3] == outcome(in_turn)[:3]
        assert [S(s) for _, s, _ in outcome(db)[2]] == [S.NEW, S.IDLE, S.RUNNING, S.COMPLETED]


def job_number(event: JobEvent) -> int:
    """``n`` of the job ``seen(sid, n, …)`` names."""
    return int(event.batch_job_id.split("@")[0].split(".")[1])


def test_batches_handled_at_once_end_as_the_same_batches_one_after_the_other(
    tmp_path: Path,
) -> None:
    """Two tracker batches in flight on the same submissions (different jobs, every
    phase of them), started together, leave the jobs, statuses and history that one
    batch after the other leaves, in one order or the other: each locks its submissions
    before writing their jobs, so neither rolls up blind to the other's jobs, or from
    jobs read before the other changed them."""
    with ExitStack() as stack:
        together, *in_turn = (stack.enter_context(postgres_database()) for _ in range(3))
        sids = [make_submission(db, []) for db in (together, *in_turn) for _ in range(3)]
        assert sids[:3] == sids[3:6] == sids[6:]
        stream = phased_stream(random.Random(11), sids[:3])
        halves: tuple[list[list[JobEvent]], list[list[JobEvent]]] = ([], [])
        for events in stream:
            for half, part in enumerate(halves):
                if mine := [e for e in events if job_number(e) % 2 == half]:
                    part.append(mine)
        batches = [envelopes(half) for half in halves]
        start, errors = threading.Barrier(2), []

        def handle(batch: list[Envelope]) -> None:
            start.wait(5)
            try:
                deliver(together, batch)
            except Exception as exc:  # reported below, with what it was
                errors.append(exc)

        threads = [threading.Thread(target=handle, args=(batch,)) for batch in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        for db, order in zip(in_turn, (batches, batches[::-1]), strict=True):
            for batch in order:
                deliver(db, batch)
        serial = [outcome(db)[:3] for db in in_turn]
        assert outcome(together)[:3] in serial
        assert outcome(together)[0] == reference({}, stream)


def test_a_report_naming_an_unknown_submission_is_dead_lettered_and_the_others_applied(
    database: Database,
) -> None:
    """The batch fails whole (nothing applied, no inbox rows); the consumer's retry one
    by one dead-letters only the refused report."""
    sid = make_submission(database, [])
    good = [new_envelope(running(sid, 0)), new_envelope(running(sid, 1))]
    bad = new_envelope(running(999_999, 0))
    batch = [good[0], bad, good[1]]
    handle = bootstrap.batch_handler(database, handlers.build_registry(), lambda: None)

    with pytest.raises(PermanentError, match="submission 999999 does not exist"):
        handle(batch)
    assert inbox(database) == [] and stored(database) == {}

    policy = RetryPolicy(attempts=1, min_wait=0.0, max_wait=0.0)
    dispatcher = Dispatcher("tracker.job-events", policy, PermanentError, threading.Event())
    settled = dispatcher.batch([Delivery(encode(e)) for e in batch], handle)
    outcomes = [(s.outcome, "does not exist" in s.reason) for s in settled]
    assert outcomes == [(Outcome.ACK, False), (Outcome.DEAD_LETTER, True), (Outcome.ACK, False)]
    assert sorted(inbox(database)) == sorted(e.message_id for e in good)
    assert set(stored(database)) == {
        (BACKEND, f"{sid}.0@{BACKEND}"),
        (BACKEND, f"{sid}.1@{BACKEND}"),
    }


def test_a_file_declared_between_reports_sees_the_jobs_reported_before_it(
    database: Database,
) -> None:
    """Messages of other types keep their place: a declaration after a report finds its
    job; one before the report that creates the job does not."""
    sid = make_submission(database, [])
    job0, job1 = f"{sid}.0@{BACKEND}", f"{sid}.1@{BACKEND}"

    def declared(job: str, name: str) -> FilesDeclared:
        return FilesDeclared(
            experiment=DEMO_EXPERIMENT,
            submission_id=sid,
            batch_job_id=job,
            files=[DeclaredFile(name=name, location=f"/out/{name}")],
        )

    deliver(
        database,
        [
            new_envelope(m)
            for m in (
                running(sid, 0),
                declared(job0, "a.root"),
                declared(job1, "b.root"),
                running(sid, 1),
            )
        ],
    )
    with database.transaction() as session:
        made_by = dict(
            session.execute(
                select(File.name, Job.batch_job_id).outerjoin(
                    Job, Job.job_id == File.producing_job_id
                )
            ).all()
        )
    assert made_by == {"a.root": job0, "b.root": None}


# ---- set-based: the statements a batch runs -------------------------------------------


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run meanwhile (an executemany counts once). PostgreSQL's COPY
    into the staging table goes through the driver's cursor: one more, not counted."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_the_statements_of_a_batch_do_not_grow_with_its_messages_or_events(
    database: Database,
) -> None:
    small_sids = [make_submission(database, []) for _ in range(2)]
    large_sids = [make_submission(database, []) for _ in range(2)]
    # 4 messages: 2 jobs seen twice, as the large batch sees its jobs
    small = [new_envelope(running(sid, 0, seq=seq)) for seq in (1, 2) for sid in small_sids]
    # 40 messages of 25 events: 500 jobs seen twice (running, then again newer).
    large = [
        new_envelope(running(sid, *range(start, start + 25), seq=seq))
        for seq in (1, 2)
        for sid in large_sids
        for start in range(0, 250, 25)
    ]

    with statements(database) as few:
        deliver(database, small)
    with statements(database) as many:
        deliver(database, large)

    assert len(stored(database)) == 2 + 500
    assert len(many) == len(few), "\n\n".join(many)
    assert len(many) <= 16, "\n\n".join(many)


def test_reports_on_both_sides_of_a_declaration_move_the_same_job_in_turn(
    database: Database,
) -> None:
    """Two runs of reports in one transaction: the second writes only its own changes."""
    sid = make_submission(database, [])
    declaration = FilesDeclared(experiment=DEMO_EXPERIMENT, submission_id=sid)
    messages = [running(sid, 0, 1, seq=1), declaration, running(sid, 0, seq=2)]
    deliver(database, [new_envelope(m) for m in messages])
    jobs = stored(database)
    assert {key[1]: row.last_seq for key, row in jobs.items()} == {
        f"{sid}.0@{BACKEND}": 2,
        f"{sid}.1@{BACKEND}": 1,
    }


def test_a_job_another_writer_inserted_after_the_batch_read_still_obeys_the_rule(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch believes both jobs are new (it read the table before another writer
    inserted job 0, already ended): the new job is written, the ended one is not moved
    back to running, and nothing is written twice."""
    sid = make_submission(database, [])
    deliver(database, [new_envelope(JobEventsReported(events=[seen(sid, 0, "failed", 1)]))])
    monkeypatch.setattr(handlers.repo, "stored_jobs", lambda session, keys: {})

    deliver(database, [new_envelope(running(sid, 0, 1, seq=2))])

    jobs = stored(database)
    assert {key[1]: row.state for key, row in jobs.items()} == {
        f"{sid}.0@{BACKEND}": JobState.FAILED,
        f"{sid}.1@{BACKEND}": JobState.RUNNING,
    }


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def test_a_job_reported_under_a_submission_without_jobs_stays_with_its_own_row(
    kind: str, tmp_path: Path
) -> None:
    """A report names a known job under a submission that has no jobs yet (on PostgreSQL
    taken for new without a look-up): the job keeps its row and submission and moves by
    the rule, and its submission's status moves with the message that moved the job,
    in one batch as one message per batch."""
    with two_databases(kind, tmp_path) as (batched, single):
        sids = [make_submission(db, []) for db in (batched, single) for _ in range(2)]
        owner, stranger = sids[:2]
        first = envelopes([[seen(owner, 0, "running", 1)]])
        elsewhere = seen(owner, 0, "completed", 2, exit_code=0)
        stream = envelopes(
            [
                [elsewhere.model_copy(update={"submission_id": stranger})],
                [seen(stranger, 1, "idle", 1)],
            ]
        )
        for db in (batched, single):
            deliver(db, first)

        jobs, statuses, _, announced = batched_and_single(batched, single, stream)
        assert jobs == reference({}, [e.payload.events for e in first + stream])  # type: ignore[attr-defined]
        assert {key[1]: row.submission_id for key, row in jobs.items()} == {
            f"{owner}.0@{BACKEND}": owner,
            f"{stranger}.1@{BACKEND}": stranger,
        }
        assert (S(statuses[owner]), S(statuses[stranger])) == (S.COMPLETED, S.IDLE)
        done = [cause for _, cause, body in announced if body.get("new_status") == "Completed"]
        assert done == [stream[0].message_id]


def test_jobs_of_a_submission_without_jobs_are_not_looked_up(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a submission's first report costs no look-up of its jobs; a later
    report, and any on SQLite, looks up every job it names."""
    asked: list[set[tuple[str, str]]] = []
    real = handlers.repo.stored_jobs

    def spy(session: Any, keys: Any) -> Any:
        asked.append(set(keys))
        return real(session, keys)

    monkeypatch.setattr(handlers.repo, "stored_jobs", spy)
    old, fresh = make_submission(database, []), make_submission(database, [])
    deliver(database, [new_envelope(running(old, 0))])
    asked.clear()
    deliver(database, [new_envelope(running(old, 0, 1, seq=2)), new_envelope(running(fresh, 0))])
    named = {(BACKEND, f"{old}.0@{BACKEND}"), (BACKEND, f"{old}.1@{BACKEND}")}
    if database.url.startswith("postgresql"):
        assert asked == [named]
    else:
        assert asked == [named | {(BACKEND, f"{fresh}.0@{BACKEND}")}]
    assert {key[1]: row.last_seq for key, row in stored(database).items()} == {
        f"{old}.0@{BACKEND}": 2,
        f"{old}.1@{BACKEND}": 2,
        f"{fresh}.0@{BACKEND}": 1,
    }


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def test_a_submission_without_jobs_is_rolled_up_from_the_batch_alone(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jobs of a submission that had none before the batch are all in the batch: its
    roll-up needs no count of the table. One that had jobs is counted, and both end as
    if their messages came one by one (the counts in the history reasons included)."""
    counted: list[set[int]] = []
    real = handlers.repo.state_counts

    def spy(session: Any, sids: Any) -> Any:
        counted.append(set(sids))
        return real(session, sids)

    with two_databases(kind, tmp_path) as (batched, single):
        sids = [make_submission(db, []) for db in (batched, single) for _ in range(2)]
        old, fresh = sids[:2]
        first = envelopes([[seen(old, 0, "running", 1)]])
        for db in (batched, single):
            deliver(db, first)
        stream = envelopes(
            [
                [seen(old, 1, "running", 1)],
                [seen(fresh, 0, "running", 1), seen(fresh, 1, "running", 1)],
                [seen(fresh, 0, "completed", 2, 0)],
                [seen(fresh, 1, "completed", 3, 0)],
            ]
        )
        monkeypatch.setattr(handlers.repo, "state_counts", spy)
        deliver(batched, stream)
        assert counted == [{old}]

        for envelope in stream:
            deliver(single, [envelope])
        _, statuses, history, _ = result = outcome(batched)
        assert result == outcome(single)
        assert (S(statuses[old]), S(statuses[fresh])) == (S.RUNNING, S.COMPLETED)
        assert [S(status) for sid, status, _ in history if sid == fresh] == [
            S.NEW,
            S.RUNNING,
            S.COMPLETED,
        ]


# Job ids the array text sent to PostgreSQL must quote or escape, and the look-up's chunks.
ODD_IDS = ["a,b", 'q"uote', "back\\slash", "{brace}", "NULL", " spaced ", "tab\tnew\nline", "é"]


def test_stored_jobs_finds_jobs_whatever_their_ids_hold(database: Database) -> None:
    sid = make_submission(database, [])
    events = [
        replace_id(seen(sid, 0, "running", 1), job) for job in [*ODD_IDS, *map(str, range(20))]
    ]
    deliver(database, [new_envelope(JobEventsReported(events=events))])
    wanted = {(BACKEND, e.batch_job_id) for e in events} | {(BACKEND, "absent"), ("x", "a,b")}
    with database.transaction() as session:
        found = handlers.repo.stored_jobs(session, wanted)
    assert set(found) == {(BACKEND, e.batch_job_id) for e in events}
    assert {job.view for job in found.values()} == {JobView(JobState.RUNNING, 1)}


def test_reports_on_jobs_with_odd_ids_move_them_as_one_at_a_time_would(
    database: Database,
) -> None:
    sid = make_submission(database, [])
    first = [replace_id(seen(sid, 0, "running", 1), job) for job in ODD_IDS]
    then = [replace_id(seen(sid, 0, "completed", 2, exit_code=0), job) for job in ODD_IDS]
    deliver(database, [new_envelope(JobEventsReported(events=first))])
    deliver(database, [new_envelope(JobEventsReported(events=then))])
    assert stored(database) == reference({}, [first, then])


def replace_id(event: JobEvent, batch_job_id: str) -> JobEvent:
    return event.model_copy(update={"batch_job_id": batch_job_id})


def test_a_run_of_declarations_refreshes_each_submission_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's outputs come in many declarations: the located check (which may ask the
    data catalog) runs once per submission of the run, after all of them are recorded."""
    sids = [make_submission(database, []) for _ in range(2)]
    refreshed: list[tuple[int, int]] = []
    real = handlers.refresh

    def counting(uow: Any, submission: Submission, *args: Any, **kwargs: Any) -> bool:
        files = uow.session.scalars(
            select(File.name).where(File.producing_submission_id == submission.submission_id)
        ).all()
        refreshed.append((submission.submission_id, len(files)))
        return real(uow, submission, *args, **kwargs)

    monkeypatch.setattr(handlers, "refresh", counting)
    declarations = [
        FilesDeclared(
            experiment=DEMO_EXPERIMENT,
            submission_id=sid,
            files=[DeclaredFile(name=f"out_{sid}_{n}.root")],
        )
        for n in range(3)
        for sid in sids
    ]
    deliver(database, [new_envelope(d) for d in declarations])

    assert refreshed == [(sid, 3) for sid in sorted(sids)]  # once each, every file seen


def usage(db: Database) -> dict[str, tuple[Any, ...]]:
    with db.transaction() as session:
        return {
            j.batch_job_id: (
                j.site,
                j.cpu_seconds,
                j.wall_seconds,
                j.memory_mb,
                j.memory_requested_mb,
            )
            for j in session.scalars(select(Job))
        }


def test_what_a_job_used_is_kept_from_its_newest_event_that_tells_it(database: Database) -> None:
    """Site, CPU and wall seconds and memory come with events (cumulative): the newest
    accepted event naming one wins, one naming none keeps it, a stale one changes nothing
    — in one batch (the fold) and across batches (the SQL merge) alike."""
    sid = make_submission(database, [])
    job0, job1 = f"{sid}.0@{BACKEND}", f"{sid}.1@{BACKEND}"

    def told(n: int, state: str, seq: int, **used: Any) -> JobEvent:
        return seen(sid, n, state, seq).model_copy(update=used)

    first = {"site": "FNAL", "cpu_seconds": 10.5, "wall_seconds": 20.0, "memory_mb": 900}
    later = {"cpu_seconds": 55.25, "wall_seconds": 60.0, "memory_requested_mb": 2000}
    deliver(
        database,
        [
            new_envelope(JobEventsReported(events=[told(0, "running", 1, **first)])),
            new_envelope(JobEventsReported(events=[told(0, "running", 2, **later)])),
            new_envelope(JobEventsReported(events=[told(1, "running", 1, **first)])),
        ],
    )
    assert usage(database) == {
        job0: ("FNAL", 55.25, 60.0, 900, 2000),
        job1: ("FNAL", 10.5, 20.0, 900, None),
    }

    deliver(
        database,
        [
            new_envelope(JobEventsReported(events=[told(1, "idle", 1, cpu_seconds=1.0)])),  # stale
            new_envelope(JobEventsReported(events=[told(1, "completed", 3, memory_mb=1200)])),
            new_envelope(JobEventsReported(events=[told(0, "completed", 3)])),  # tells nothing
        ],
    )
    assert usage(database) == {
        job0: ("FNAL", 55.25, 60.0, 900, 2000),
        job1: ("FNAL", 10.5, 20.0, 1200, None),
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("cpu_seconds", -1.0), ("wall_seconds", float("nan")), ("memory_mb", -5)],
)
def test_impossible_usage_is_refused_naming_the_field(field: str, value: float) -> None:
    raw = json.loads(encode(new_envelope(running(1, 0))))
    raw["payload"]["events"][0][field] = value
    with pytest.raises(MalformedMessage, match=f"at events.0.{field}"):
        decode(json.dumps(raw).encode())
