"""What became of each input file, through the tracker's own pipeline (SQLite and PostgreSQL).

Messages go through ``bootstrap.batch_handler`` as the job-event consumer runs it: inbox,
handlers, one commit per micro-batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from submission_fixtures import make_submission

from poms_shared.contracts import Envelope, new_envelope
from poms_shared.contracts.messages import (
    DeclaredFile,
    FilesDeclared,
    InputReport,
    JobEvent,
    JobEventsReported,
    Message,
)
from poms_shared.db.session import Database
from poms_shared.db.tables import File, FileParent, Job, SubmissionFile
from poms_shared.demo import DEMO_EXPERIMENT
from poms_tracker import bootstrap, handlers

JOB_A, JOB_B = "100.0@local", "100.1@local"


def deliver(db: Database, *messages: Message | Envelope) -> list[Envelope]:
    """Hand messages to the tracker's job-event consumer as one micro-batch."""
    envelopes = [m if isinstance(m, Envelope) else new_envelope(m) for m in messages]
    bootstrap.batch_handler(db, handlers.build_registry(), lambda: None)(envelopes)
    return envelopes


def running(sid: int, *jobs: str) -> JobEventsReported:
    at = datetime.now(UTC)
    return JobEventsReported(
        events=[
            JobEvent(
                source="t",
                backend="local",
                batch_job_id=j,
                submission_id=sid,
                state="running",
                seq=1,
                at=at,
            )
            for j in jobs
        ]
    )


def declared(
    sid: int | None, job: str | None, files: list[DeclaredFile] | None = None, **inputs: Any
) -> FilesDeclared:
    """Outputs of a job, and input reports given as ``name=status``."""
    return FilesDeclared(
        experiment=DEMO_EXPERIMENT,
        submission_id=sid,
        batch_job_id=job,
        files=files or [],
        inputs=[InputReport(name=n, status=s) for n, s in inputs.items()],
    )


def inputs_of(db: Database, sid: int) -> dict[str, tuple[str, str | None, bool]]:
    """name → (status, batch job id of the reporting job, updated is set)."""
    with db.transaction() as session:
        rows = session.execute(
            select(File.name, SubmissionFile.status, Job.batch_job_id, SubmissionFile.updated)
            .join(File, File.file_id == SubmissionFile.file_id)
            .outerjoin(Job, Job.job_id == SubmissionFile.job_id)
            .where(SubmissionFile.submission_id == sid)
        )
        return {name: (status, job, when is not None) for name, status, job, when in rows}


def test_outputs_naming_inputs_as_parents_mark_them_consumed_by_the_declaring_job(
    database: Database,
) -> None:
    sid = make_submission(database, ["a.raw", "b.raw", "c.raw"])
    deliver(database, running(sid, JOB_A))
    outputs = [
        DeclaredFile(name="sim_a.root", location="/out/a", parents=["a.raw"]),
        DeclaredFile(name="sim_b.root", parents=["b.raw", "elsewhere.raw"]),
    ]
    deliver(database, declared(None, JOB_A, outputs))

    assert inputs_of(database, sid) == {
        "a.raw": ("consumed", JOB_A, True),
        "b.raw": ("consumed", JOB_A, True),
        "c.raw": ("delivered", None, False),
    }
    with database.transaction() as session:
        outsider = session.scalar(select(File).where(File.name == "elsewhere.raw"))
        assert outsider is not None and outsider.location is None  # recorded, not an input
        links = session.scalar(
            select(FileParent).where(FileParent.parent_file_id == outsider.file_id)
        )
        assert links is not None


@pytest.mark.parametrize(
    ("reports", "final"),
    [
        (["skipped"], "skipped"),
        (["skipped", "failed"], "failed"),
        (["failed", "skipped"], "failed"),  # late report: never backwards
        (["failed", "consumed"], "consumed"),  # a retry consumed it
        (["consumed", "failed"], "consumed"),
        (["consumed", "delivered", "skipped"], "consumed"),
        (["failed", "failed"], "failed"),
    ],
)
def test_input_reports_only_ever_move_an_input_forward(
    database: Database, reports: list[str], final: str
) -> None:
    sid = make_submission(database, ["x.raw"])
    deliver(database, running(sid, JOB_A, JOB_B))
    # Alternate jobs: the job recorded is the one whose report moved the input last.
    moved_by = None
    for n, status in enumerate(reports):
        job = (JOB_A, JOB_B)[n % 2]
        before = inputs_of(database, sid)["x.raw"][0]
        deliver(database, declared(sid, job, **{"x.raw": status}))
        if inputs_of(database, sid)["x.raw"][0] != before:
            moved_by = job
    status, job, updated = inputs_of(database, sid)["x.raw"]
    assert status == final
    assert job == moved_by
    assert updated is (moved_by is not None)


def test_a_redelivered_or_repeated_declaration_changes_nothing(database: Database) -> None:
    sid = make_submission(database, ["x.raw", "y.raw"])
    deliver(database, running(sid, JOB_A, JOB_B))
    [first] = deliver(database, declared(sid, JOB_A, **{"x.raw": "failed", "y.raw": "consumed"}))
    deliver(database, first)  # the same message again: the inbox skips it
    deliver(database, declared(sid, JOB_B, **{"x.raw": "skipped", "y.raw": "failed"}))
    assert inputs_of(database, sid) == {
        "x.raw": ("failed", JOB_A, True),
        "y.raw": ("consumed", JOB_A, True),
    }


def test_reports_on_files_that_are_not_inputs_or_of_unknown_submissions_change_nothing(
    database: Database,
) -> None:
    sid = make_submission(database, ["x.raw"])
    other = make_submission(database, [])
    deliver(database, declared(other, None, **{"x.raw": "failed", "nowhere.raw": "failed"}))
    deliver(database, declared(999_999, None, [DeclaredFile(name="sim_orphan.root")]))
    assert inputs_of(database, sid) == {"x.raw": ("delivered", None, False)}
    with database.transaction() as session:
        orphan = session.scalar(select(File).where(File.name == "sim_orphan.root"))
        assert orphan is not None and orphan.producing_submission_id is None


def test_a_large_declaration_updates_inputs_in_a_few_statements(database: Database) -> None:
    n = 2500
    names = [f"in_{i:05d}.raw" for i in range(n)]
    sid = make_submission(database, names)
    deliver(database, running(sid, JOB_A))
    outputs = [DeclaredFile(name=f"sim_{i:05d}.root", parents=[names[i]]) for i in range(0, n, 2)]
    reports = {names[i]: "failed" for i in range(1, n, 2)}
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        deliver(database, declared(sid, JOB_A, outputs, **reports))
    finally:
        event.remove(database.engine, "before_cursor_execute", count)

    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE SUBMISSION_FILES")]
    assert len(updates) == 4  # two statuses, 1250 names each: two chunks of 1000 per status
    # No query per file. (Inserts may be one per row: SQLite cannot return many new ids.)
    reads_and_updates = [s for s in statements if not s.lstrip().upper().startswith("INSERT")]
    assert len(reads_and_updates) < 20, reads_and_updates
    statuses = {status for status, _, _ in inputs_of(database, sid).values()}
    assert statuses == {"consumed", "failed"}
