"""The tracker's reconciler over SQLite and PostgreSQL: with a fake backend answering
``describe`` as told, and with the real local backend."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from submission_fixtures import make_submission

from poms_shared.batch.local import LocalBatch
from poms_shared.batch.local_spool import NODE, job_dir
from poms_shared.batch.port import BatchError, Observation
from poms_shared.broker.memory import InProcessBus
from poms_shared.contracts.messages import DeclaredFile, FilesDeclared, JobEvent
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.session import Database
from poms_shared.db.tables import File, Job, Submission, SubmissionHistory
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.domain.statuses import JobState
from poms_shared.domain.statuses import SubmissionStatus as S
from poms_shared.settings import load_settings
from poms_tracker import bootstrap, handlers
from poms_tracker.domain.drift import KINDS, Grace
from poms_tracker.reconcile import Reconciler

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeBackend:
    """Answers ``describe`` from ``jobs`` (job id -> observation); ``fail`` makes it refuse."""

    name = "fake"

    def __init__(self, jobs: dict[str, Observation] | None = None) -> None:
        self.jobs = dict(jobs or {})
        self.fail = False
        self.asked: list[list[str]] = []

    def describe(self, batch_ids: list[str]) -> dict[str, Observation | None]:
        self.asked.append(batch_ids)
        if self.fail:
            raise BatchError("fake_q: schedd unreachable")
        found: dict[str, Observation | None] = {}
        for ref in batch_ids:
            head = ref.split("@")[0]
            if "." in head:
                found[ref] = self.jobs.get(ref)
            else:
                found.update((j, o) for j, o in self.jobs.items() if j.split(".")[0] == head)
        return found


class Passes:
    """A reconciler whose clock moves ``step`` seconds before each pass."""

    def __init__(self, db: Database, backend: object, step: float = 300, **grace: float) -> None:
        self.now = T0
        self.step = step
        self.wakes = 0
        self.reconciler = Reconciler(
            db, [backend], self._wake, grace=Grace(**grace), clock=lambda: self.now
        )

    def _wake(self) -> None:
        self.wakes += 1

    def run(self, times: int = 1) -> None:
        for _ in range(times):
            self.now += timedelta(seconds=self.step)
            assert self.reconciler.run_once() is False


def launched(db: Database, batch_id: str, jobs: dict[str, tuple[str, int]]) -> int:
    """A submission of ``batch_id`` whose tracker knows ``jobs`` (id -> (state, seq))."""
    sid = make_submission(db, [])
    with db.transaction() as session:
        session.get_one(Submission, sid).batch_id = batch_id
    report(db, sid, batch_id.split("@")[1], jobs)
    return sid


def report(db: Database, sid: int, backend: str, jobs: dict[str, tuple[str, int]]) -> None:
    events = [
        JobEvent(
            source="t",
            backend=backend,
            batch_job_id=job_id,
            submission_id=sid,
            state=state,  # type: ignore[arg-type]
            seq=seq,
            at=T0,
        )
        for job_id, (state, seq) in jobs.items()
    ]
    with db.transaction() as session:
        handlers.ingest_job_events(UnitOfWork(session), events)


def job(db: Database, batch_job_id: str) -> tuple[JobState, int | None, str | None, int]:
    """State, exit code, node and last seq of one job."""
    with db.transaction() as session:
        row = session.scalars(select(Job).where(Job.batch_job_id == batch_job_id)).one()
        return JobState(row.state), row.exit_code, row.node, row.last_seq


def params(db: Database, sid: int) -> tuple[S, list[dict]]:
    with db.transaction() as session:
        sub = session.get_one(Submission, sid)
        return S(sub.status_id), sub.submission_params.get("drift", [])


def counters() -> dict[str, float]:
    """The reconciler's counters, ``found:<kind>`` and ``repaired:<kind>``."""
    names = {"found": "poms_tracker_drift_total", "repaired": "poms_tracker_drift_repairs_total"}
    return {
        f"{short}:{kind}": REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0
        for short, name in names.items()
        for kind in KINDS
    }


def grown(before: dict[str, float]) -> dict[str, float]:
    return {k: v - before[k] for k, v in counters().items() if v != before[k]}


def opened(kind: str) -> float:
    return REGISTRY.get_sample_value("poms_tracker_drift_open", {"kind": kind}) or 0.0


def test_a_missed_ending_is_applied_once_after_a_second_look(database: Database) -> None:
    sid = launched(database, "7@fake", {"7.0@fake": ("running", 2), "7.1@fake": ("completed", 3)})
    done = Observation("completed", 0, "n1")
    backend = FakeBackend({"7.0@fake": done, "7.1@fake": Observation("completed", 0)})
    passes, before = Passes(database, backend), counters()
    passes.run()  # the poller may just not have reported it yet: only suspected, unsaved
    assert job(database, "7.0@fake")[0] == JobState.RUNNING
    assert params(database, sid) == (S.RUNNING, []) and grown(before) == {}
    passes.run()
    assert job(database, "7.0@fake") == (JobState.COMPLETED, 0, "n1", 3)
    status, drift = params(database, sid)
    assert status == S.COMPLETED and passes.wakes == 1
    assert [(f["job"], f["finding"], f["status"]) for f in drift] == [
        ("7.0@fake", "missed_terminal", "repaired")
    ]
    assert "completed (exit 0)" in drift[0]["detail"]
    assert grown(before) == {"found:missed_terminal": 1, "repaired:missed_terminal": 1}
    with database.transaction() as session:
        history = session.scalar(select(func.count()).select_from(SubmissionHistory))
    passes.run(2)  # nothing left to do, nothing done twice
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(SubmissionHistory)) == history
    assert params(database, sid)[1] == drift and passes.wakes == 1
    assert grown(before) == {"found:missed_terminal": 1, "repaired:missed_terminal": 1}
    # a Completed submission without live jobs is not asked about any more
    assert backend.asked == [["7@fake"], ["7@fake"]]


def test_an_ending_the_poller_reports_before_the_next_pass_was_never_drift(
    database: Database,
) -> None:
    sid = launched(database, "7@fake", {"7.0@fake": ("running", 2)})
    passes, before = (
        Passes(database, FakeBackend({"7.0@fake": Observation("completed", 0)})),
        counters(),
    )
    passes.run()
    report(database, sid, "fake", {"7.0@fake": ("completed", 3)})  # the poller catches up
    passes.run(2)
    assert params(database, sid) == (S.COMPLETED, []) and grown(before) == {}
    assert passes.wakes == 0 and passes.reconciler.suspected == {sid: []}


def test_a_job_its_backend_no_longer_knows_is_flagged_then_failed_after_the_grace(
    database: Database,
) -> None:
    sid = launched(database, "8@fake", {"8.0@fake": ("running", 2)})
    passes, before = Passes(database, FakeBackend(), step=300, passes=3, seconds=600), counters()
    passes.run(2)
    status, [finding] = params(database, sid)
    assert (finding["finding"], finding["status"], finding["passes"]) == ("unknown_job", "open", 2)
    assert (finding["first_seen"], finding["last_seen"]) == (
        (T0 + timedelta(seconds=300)).isoformat(),
        (T0 + timedelta(seconds=600)).isoformat(),
    )
    assert status == S.RUNNING and job(database, "8.0@fake")[0] == JobState.RUNNING
    assert opened("unknown_job") == 1 and grown(before) == {"found:unknown_job": 1}
    passes.run()
    assert job(database, "8.0@fake") == (JobState.FAILED, None, None, 3)
    status, [finding] = params(database, sid)
    assert status == S.FAILED and finding["status"] == "repaired"
    assert "unknown to the backend in 3 passes over 600 s" in finding["detail"]
    assert opened("unknown_job") == 0
    assert grown(before) == {"found:unknown_job": 1, "repaired:unknown_job": 1}


def test_a_flagged_job_the_backend_knows_again_is_resolved(database: Database) -> None:
    sid = launched(database, "8@fake", {"8.0@fake": ("running", 2)})
    backend = FakeBackend()
    passes = Passes(database, backend, passes=3, seconds=0)
    passes.run(2)
    backend.jobs["8.0@fake"] = Observation("running", None, "n1")
    passes.run(3)
    [finding] = params(database, sid)[1]
    assert (finding["status"], finding["passes"]) == ("resolved", 2)
    assert job(database, "8.0@fake")[0] == JobState.RUNNING and opened("unknown_job") == 0


def test_jobs_of_the_batch_the_tracker_never_heard_of_are_created(database: Database) -> None:
    sid = launched(database, "9@fake", {"9.0@fake": ("running", 2)})
    other = launched(database, "12@fake", {"9.2@fake": ("running", 1)})  # a stray id
    backend = FakeBackend(
        {
            "9.0@fake": Observation("running", None, "n1"),
            "9.1@fake": Observation("failed", 2, "n2"),
            "9.2@fake": Observation("running"),
            "10.0@fake": Observation("running"),  # another batch: not this submission's
        }
    )
    before = counters()
    Passes(database, backend).run(3)
    with database.transaction() as session:
        rows = session.execute(select(Job.batch_job_id, Job.submission_id, Job.state)).all()
    assert sorted(rows) == [
        ("9.0@fake", sid, int(JobState.RUNNING)),
        ("9.1@fake", sid, int(JobState.FAILED)),
        ("9.2@fake", other, int(JobState.RUNNING)),
    ]
    assert job(database, "9.1@fake") == (JobState.FAILED, 2, "n2", 0)
    assert grown(before) == {"found:unreported_job": 1, "repaired:unreported_job": 1}
    assert [(f["job"], f["status"]) for f in params(database, sid)[1]] == [("9.1@fake", "repaired")]


def test_an_output_gone_from_the_disk_is_flagged_and_never_removed(
    database: Database, tmp_path: Path
) -> None:
    sid = launched(database, "11@fake", {"11.0@fake": ("running", 1)})
    out = tmp_path / "out.root"
    out.write_text("data")
    # a path under a top directory this host lacks is another host's disk: not checked
    files = [("out.root", str(out)), ("out2.root", "/no-such-mount-poms/out2.root")]
    declared = [DeclaredFile(name=name, location=where) for name, where in files]
    with database.transaction() as session:
        evt = FilesDeclared(experiment=DEMO_EXPERIMENT, submission_id=sid, files=declared)
        handlers.on_files_declared(evt, uow=UnitOfWork(session))
    passes, before = (
        Passes(database, FakeBackend({"11.0@fake": Observation("running")})),
        counters(),
    )
    passes.run(2)
    assert params(database, sid)[1] == []
    out.unlink()
    passes.run(2)
    [finding] = params(database, sid)[1]
    assert (finding["file"], finding["finding"], finding["status"]) == (
        "out.root",
        "missing_output",
        "open",
    )
    assert grown(before) == {"found:missing_output": 1} and opened("missing_output") == 1
    with database.transaction() as session:
        assert session.scalars(select(File.location).where(File.name == "out.root")).all() == [
            str(out)
        ]
    out.write_text("data")
    passes.run()
    assert [f["status"] for f in params(database, sid)[1]] == ["resolved"]
    assert opened("missing_output") == 0


def test_a_backend_that_cannot_be_asked_changes_nothing(database: Database) -> None:
    sid = launched(database, "8@fake", {"8.0@fake": ("running", 2)})
    backend = FakeBackend()
    backend.fail = True
    errors = "poms_tracker_reconcile_backend_errors_total", {"backend": "fake"}
    before, failed = counters(), REGISTRY.get_sample_value(*errors) or 0.0
    Passes(database, backend, passes=1, seconds=0).run(4)
    assert params(database, sid) == (S.RUNNING, []) and grown(before) == {}
    assert REGISTRY.get_sample_value(*errors) == failed + 4


def test_the_local_backend_repairs_endings_missed_jobs_and_lost_jobs(
    database: Database, tmp_path: Path
) -> None:
    batch = LocalBatch(tmp_path / "spool", slots=4, runner_grace=2.0)
    script = tmp_path / "job.sh"
    script.write_text('#!/bin/sh\n[ "$PROCESS" = 1 ] && exit 3\nexit 0\n')
    script.chmod(0o755)
    sid = make_submission(database, [])
    batch_id = batch.submit(sid, [str(script)], count=3, cwd=str(tmp_path))
    with database.transaction() as session:
        session.get_one(Submission, sid).batch_id = batch_id
    deadline = time.monotonic() + 30
    while sorted(j.state for j in batch.jobs()) != ["completed", "completed", "failed"]:
        assert time.monotonic() < deadline, f"jobs did not end: {batch.jobs()}"
        time.sleep(0.1)
    c = batch_id.split("@")[0]
    # the tracker only heard that jobs .0 and .2 were queued; then .2's spool is lost
    report(database, sid, "local", {f"{c}.0@local": ("idle", 1), f"{c}.2@local": ("idle", 1)})
    shutil.rmtree(job_dir(batch.root, int(c), 2).path)
    Passes(database, batch, passes=3, seconds=0).run(3)
    assert [job(database, f"{c}.{p}@local") for p in range(3)] == [
        (JobState.COMPLETED, 0, NODE, 2),
        (JobState.FAILED, 3, NODE, 0),
        (JobState.FAILED, None, None, 2),
    ]
    findings = {(f["job"], f["finding"], f["status"]) for f in params(database, sid)[1]}
    assert findings == {
        (f"{c}.0@local", "missed_terminal", "repaired"),
        (f"{c}.1@local", "unreported_job", "repaired"),
        (f"{c}.2@local", "unknown_job", "repaired"),
    }


def test_the_tracker_reconciles_its_backends_at_the_configured_interval(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POMS_RECONCILE_INTERVAL", "45")
    settings = load_settings(var_dir=tmp_path, batch_backends=("local",))
    service = bootstrap.build(settings, database, InProcessBus())
    [loop] = [loop for loop in service.loops if loop.name == "reconcile"]
    assert loop.interval == 45.0
    # a local job the (empty) spool does not know: flagged by the loop's own work
    sid = launched(database, "5@local", {"5.0@local": ("running", 1)})
    loop.work()
    loop.work()
    assert [(f["job"], f["status"]) for f in params(database, sid)[1]] == [("5.0@local", "open")]
