"""Folding a micro-batch's job events into one change per job, and the job-count steps
each message leaves for the roll-up (pure Python, no database)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from poms_shared.contracts.messages import JobEvent
from poms_shared.domain.statuses import JobState
from poms_tracker.adapters.job_upsert import (
    COPY_CHUNK,
    COPY_ROWS,
    CopyRows,
    Fold,
    FoldingRows,
    JobChange,
    StoredJob,
    _first_seen,
    _fresh_tsv,
    _tsv,
    fold_job_events,
    job_keys,
)
from poms_tracker.domain.rules import JobCounts, JobView

T0 = datetime(2025, 3, 1, tzinfo=UTC)
KEY = ("local", "7.0@local")
IDLE, RUNNING, HELD, COMPLETED, FAILED = (
    JobState.IDLE,
    JobState.RUNNING,
    JobState.HELD,
    JobState.COMPLETED,
    JobState.FAILED,
)


def seen(state: str, seq: int, sid: int = 7, job: str = KEY[1], **extra: object) -> JobEvent:
    return JobEvent(
        source="t",
        backend="local",
        batch_job_id=job,
        submission_id=sid,
        state=state,  # type: ignore[arg-type]
        seq=seq,
        at=T0 + timedelta(seconds=seq),
        **extra,  # type: ignore[arg-type]
    )


def stored(state: JobState, seq: int, sid: int = 7) -> dict[tuple[str, str], StoredJob]:
    return {KEY: StoredJob(sid, JobView(state, seq))}


def nonzero(step: dict[int, dict[int, int]]) -> dict[int, dict[JobState, int]]:
    return {sid: {JobState(s): n for s, n in c.items() if n} for sid, c in step.items()}


@pytest.mark.parametrize(
    ("known", "messages", "final", "steps"),
    [
        # a new job, its events repeated and out of order within a message
        ({}, [[seen("running", 3), seen("idle", 1), seen("running", 3)]], (RUNNING, 3),
         [{7: {RUNNING: 1}}]),
        # a stale observation in a later message is dropped: that message touched nothing
        ({}, [[seen("running", 3)], [seen("idle", 1)]], (RUNNING, 3), [{7: {RUNNING: 1}}, {}]),
        # newer in a later message; the same state again still touches the submission
        (stored(IDLE, 1), [[seen("running", 2)], [seen("running", 4)]], (RUNNING, 4),
         [{7: {IDLE: -1, RUNNING: 1}}, {7: {}}]),
        # a final state is taken whatever its seq, and nothing moves the job after it
        (stored(RUNNING, 9), [[seen("completed", 2, exit_code=0), seen("running", 12)]],
         (COMPLETED, 2), [{7: {RUNNING: -1, COMPLETED: 1}}]),
        # which final state: the first message's, not the lowest seq of the batch
        ({}, [[seen("completed", 9, exit_code=0)], [seen("failed", 3, exit_code=1)]],
         (COMPLETED, 9), [{7: {COMPLETED: 1}}, {}]),
        # within one message the lowest seq comes first, so there the earlier end wins
        ({}, [[seen("completed", 9, exit_code=0), seen("failed", 3, exit_code=1)]],
         (FAILED, 3), [{7: {FAILED: 1}}]),
        # an ended job stays as it is
        (stored(FAILED, 4), [[seen("completed", 8, exit_code=0)]], None, [{}]),
    ],
)  # fmt: skip
def test_the_fold_applies_the_acceptance_rule_message_by_message(
    known: dict[tuple[str, str], StoredJob],
    messages: list[list[JobEvent]],
    final: tuple[JobState, int] | None,
    steps: list[dict[int, dict[JobState, int]]],
) -> None:
    folded = fold_job_events(messages, known)
    assert [(c.state, c.last_seq) for c in folded.changes] == ([final] if final else [])
    assert [nonzero(step) for step in folded.steps] == steps


def test_the_fields_of_a_change_are_those_the_applied_events_set() -> None:
    messages = [
        [seen("idle", 1, node="n1", log_path="/l/1")],
        [seen("running", 2, node=""), seen("held", 1, node="stale")],
        [seen("running", 3, node="n3"), seen("completed", 5, exit_code=0)],
    ]
    [change] = fold_job_events(messages, {}).changes
    assert change == JobChange(
        backend="local",
        batch_job_id=KEY[1],
        submission_id=7,
        state=int(COMPLETED),
        last_seq=5,
        exit_code=0,
        node="n3",  # the last one named ("" names none; the stale one was not applied)
        log_path="/l/1",
        started_at=T0 + timedelta(seconds=2),  # the first running applied
        finished_at=T0 + timedelta(seconds=5),
        existing=False,
    )


def test_a_stored_job_keeps_its_submission_and_is_marked_existing() -> None:
    [change] = fold_job_events([[seen("running", 5, sid=8)]], stored(IDLE, 1, sid=7)).changes
    assert (change.submission_id, change.existing) == (7, True)
    assert change.started_at == T0 + timedelta(seconds=5)  # the row keeps its own, if any


def test_job_keys_name_each_job_once() -> None:
    other = seen("idle", 1, job="7.1@local")
    assert job_keys([[seen("idle", 1), other], [seen("running", 2)]]) == {
        KEY,
        ("local", "7.1@local"),
    }


def test_copy_rows_escape_what_the_text_format_would_misread() -> None:
    change = JobChange(
        "local", "a\tb", 7, 30, 2, node="x\\y\nz", started_at=T0, site="a\tsite", cpu_seconds=1.5
    )
    row = _tsv([change])
    assert row == (
        "local\ta\\tb\t7\t30\t2\t\\N\tx\\\\y\\nz\t\\N\t2025-03-01T00:00:00+00:00\t\\N"
        "\ta\\tsite\t1.5\t\\N\t\\N\t\\N\tf\n"
    )


def test_counts_from_states_ignore_what_a_concurrent_writer_made_negative() -> None:
    states = Counter({int(RUNNING): 2, int(COMPLETED): 1, int(JobState.REMOVED): 1, int(IDLE): -1})
    assert JobCounts.tally(states) == JobCounts(running=2, completed=1, cancelled=1)


@pytest.mark.parametrize("seed", range(5))
def test_counts_from_numbers_by_state_are_those_of_the_list_of_states(seed: int) -> None:
    rng = random.Random(seed)
    states = [rng.choice(list(JobState)) for _ in range(rng.randrange(0, 60))]
    numbers = Counter(map(int, states))
    assert JobCounts.tally(numbers) == listed(states)
    numbers[int(rng.choice(list(JobState)))] -= 1000  # made negative: none of that state
    assert JobCounts.tally(numbers) == listed([s for s in states if numbers[int(s)] > 0])


def listed(states: list[JobState]) -> JobCounts:
    """The counts, one job at a time (a removed job counts as cancelled)."""
    names = ["cancelled" if s == JobState.REMOVED else s.name.lower() for s in states]
    return JobCounts(**{name: names.count(name) for name in set(names)})


def test_copy_rows_of_many_changes_are_built_column_by_column_alike() -> None:
    changes = [
        JobChange("local", "1.0", 7, 30, 2, node="n", started_at=T0),
        JobChange(
            "slurm",
            "b\\c",
            8,
            41,
            9,
            3,
            None,
            "/l",
            T0,
            T0 + timedelta(hours=1),
            "site",
            2.5,
            3.0,
            100,
            2000,
            True,
        ),
        JobChange("local", "2.0", 7, 10, 1, existing=True),
    ]
    unknown = "\t\\N" * 5  # no site, CPU, wall, memory used or requested
    staged = _tsv(changes).splitlines()
    assert staged == [
        f"local\t1.0\t7\t30\t2\t\\N\tn\t\\N\t2025-03-01T00:00:00+00:00\t\\N{unknown}\tf",
        "slurm\tb\\\\c\t8\t41\t9\t3\t\\N\t/l\t2025-03-01T00:00:00+00:00"
        "\t2025-03-01T01:00:00+00:00\tsite\t2.5\t3.0\t100\t2000\tt",
        f"local\t2.0\t7\t10\t1\t\\N\t\\N\t\\N\t\\N\t\\N{unknown}\tt",
    ]
    updated = _tsv(changes, T0).splitlines()
    assert [row.rsplit("\t", 1)[0] for row in updated] == [r.rsplit("\t", 1)[0] for r in staged]
    assert {row.rsplit("\t", 1)[1] for row in updated} == {"2025-03-01T00:00:00+00:00"}
    assert _tsv([]) == ""


def test_a_copy_reads_its_rows_in_pieces_that_add_up_to_every_row() -> None:
    changes = [
        JobChange("local", f"{n}.0", 7, 30, n, node="n" if n % 2 else None, existing=n % 3 == 0)
        for n in range(2 * COPY_ROWS + 7)
    ]
    data = CopyRows(changes, T0)
    pieces = list(iter(lambda: data.read(COPY_CHUNK), ""))
    assert [len(p.splitlines()) for p in pieces] == [COPY_ROWS, COPY_ROWS, 7]
    assert all(len(p) <= COPY_CHUNK for p in pieces)
    assert "".join(pieces) == _tsv(changes, T0)
    assert data.read(COPY_CHUNK) == ""  # and stays ended
    assert CopyRows([]).read(COPY_CHUNK) == ""


def first_reports() -> list[JobEvent]:
    """First events of different jobs, of every state and with every field odd or empty."""
    return [
        seen("running", 1, job="1.0", node="n1", log_path="/l/1"),
        seen("idle", 2, job="2.0", node="", log_path="", site=""),
        seen("completed", 3, job="3.0", sid=8, exit_code=0, cpu_seconds=1.5, memory_mb=9),
        seen("failed", 4, job="4.0", exit_code=2, node="a\tb", site="x\\y\nz"),
        seen("held", 5, job="5.0", exit_code=7, wall_seconds=3, memory_requested_mb=100),
        seen("removed", 6, job="6\t0", sid=9),
        seen("cancelled", 7, job="7.0", exit_code=None, node="n1"),
    ]


def test_rows_of_jobs_first_seen_are_those_of_their_changes() -> None:
    events = first_reports()
    changes = [_first_seen(e) for e in events]
    assert _fresh_tsv(events, T0) == _tsv(changes, T0)
    assert _fresh_tsv([], T0) == ""
    data = CopyRows(changes[:2], T0, events[2:])
    assert "".join(iter(lambda: data.read(COPY_CHUNK), "")) == _tsv(changes, T0)
    with pytest.raises(ValueError, match="updated"):
        CopyRows([], None, events)


def test_a_report_of_new_jobs_is_taken_whole_as_one_event_each_would_be() -> None:
    events = first_reports()
    folded = fold_job_events([events], {})
    assert (folded.moved, folded.fresh) == ([], events)
    one_by_one = fold_job_events([[e] for e in events], {})
    assert folded.changes == one_by_one.changes == [_first_seen(e) for e in events]
    merged: dict[int, Counter[int]] = {}
    for step in one_by_one.steps:
        for sid, change in step.items():
            merged.setdefault(sid, Counter()).update(change)
    assert folded.steps == [{sid: dict(c) for sid, c in merged.items()}]


def test_a_job_first_seen_then_moved_again_in_the_batch_becomes_a_change() -> None:
    first = seen("idle", 1, node="n1")
    folded = fold_job_events([[first, seen("idle", 1, job="7.1@local")], [seen("running", 2)]], {})
    assert [e.batch_job_id for e in folded.fresh] == ["7.1@local"]
    [change] = folded.moved
    assert (change.state, change.last_seq, change.node, change.existing) == (
        int(RUNNING),
        2,
        "n1",
        False,
    )
    assert change.started_at == T0 + timedelta(seconds=2)
    # a report naming one job twice, or a job seen before, goes event by event
    twice = fold_job_events([[seen("running", 2), seen("idle", 1)]], {})
    assert (twice.fresh, [(c.state, c.last_seq) for c in twice.moved]) == ([], [(RUNNING, 2)])
    assert nonzero(twice.steps[0]) == {7: {RUNNING: 1}}
    known = fold_job_events([[seen("running", 2)]], stored(IDLE, 1))
    assert (known.fresh, [c.existing for c in known.moved]) == ([], [True])


def test_folding_rows_fold_the_messages_as_the_copy_reads_them() -> None:
    per = COPY_ROWS // 3 + 1  # a piece needs several messages
    messages = [
        [seen("running", 1, sid=m % 4, job=f"{m}.{n}") for n in range(per)] for m in range(7)
    ]
    messages.insert(2, [seen("completed", 2, sid=0, job="0.1", exit_code=0)])  # moves a job again
    rows = FoldingRows({}, messages, T0)
    fold = rows.fold
    first = rows.read(COPY_CHUNK)
    assert len(first.splitlines()) >= COPY_ROWS
    assert len(fold.steps) < len(messages)  # the rest is folded as the COPY goes on
    pieces = [first, *iter(lambda: rows.read(COPY_CHUNK), "")]
    assert all(len(p.splitlines()) >= COPY_ROWS for p in pieces[:-1])
    firsts = [e for events in messages for e in events if e.state == "running"]
    assert "".join(pieces) == _fresh_tsv(firsts, T0)
    assert rows.submissions == {0, 1, 2, 3}
    whole = fold_job_events(messages, {})
    assert (fold.result().changes, fold.result().steps) == (whole.changes, whole.steps)
    assert [c.batch_job_id for c in fold.result().moved] == ["0.1"]


def test_a_fold_keeps_first_events_only_for_a_copy_that_asked_for_them() -> None:
    messages = [[seen("running", 1, job="1.0"), seen("idle", 1, job="1.1")]]
    messages.append([seen("completed", 2, job="1.0", exit_code=0), seen("idle", 1, job="1.2")])
    plain = Fold({})
    for events in messages:
        plain.add(events)
    assert plain.first_events is None
    firsts: list[JobEvent] = []
    kept = Fold({}, firsts)
    for events in messages:
        kept.add(events)
    assert [e.batch_job_id for e in firsts] == ["1.0", "1.1", "1.2"]
    assert (kept.result().changes, kept.result().steps) == (
        plain.result().changes,
        plain.result().steps,
    )
