"""A submission whose jobs a person killed ends Removed, whichever reaches the tracker
first: the jobs' end (a killed job counts as cancelled, and one cancelled job alone
would roll up to Completed, then Located) or the launcher's report of the kill. A kill
the batch system refused leaves the jobs to end as they will."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from submission_fixtures import make_submission, submission_state

from poms_shared.contracts import new_envelope
from poms_shared.contracts.messages import JobControlApplied, JobEvent, JobEventsReported
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus as S
from poms_shared.settings import Settings
from poms_tracker import bootstrap, handlers
from poms_web.app import create_app

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def job(sid: int, state: str, seq: int) -> JobEventsReported:
    event = JobEvent(
        source="t",
        backend="local",
        batch_job_id=f"{sid}.0@local",
        submission_id=sid,
        state=state,  # type: ignore[arg-type]
        seq=seq,
        at=T0 + timedelta(seconds=seq),
    )
    return JobEventsReported(events=[event])


def deliver(db: Database, *messages: JobEventsReported) -> None:
    bootstrap.batch_handler(db, handlers.build_registry(), lambda: None)(
        [new_envelope(m) for m in messages]
    )


def running_then_killed(db: Database, tmp_path: Path) -> int:
    """A submission with one running job, killed from the web; its id."""
    sid = make_submission(db, [])
    deliver(db, job(sid, "running", 1))
    client = create_app(Settings(var_dir=tmp_path), db).test_client()
    answer = client.post(f"/api/v1/submissions/{sid}/kill")
    assert answer.status_code == 202, answer.get_json()
    return sid


def test_jobs_ending_before_the_kill_report_still_end_the_submission_removed(
    database: Database, tmp_path: Path
) -> None:
    sid = running_then_killed(database, tmp_path)
    with database.transaction() as session:
        ended = session.get(Submission, sid).submission_params["ended_by"]  # type: ignore[union-attr]
    assert (ended["action"], ended["actor"]) == ("kill", "poms")

    deliver(database, job(sid, "removed", 2))  # the jobs' end comes first

    status, _, reasons = submission_state(database, sid)
    assert status == S.REMOVED
    assert reasons[-1] == "jobs killed by poms: 1 cancelled"
    with database.transaction() as session:  # the launcher's report comes after: no change
        uow = UnitOfWork(session)
        handlers.on_job_control(
            JobControlApplied(submission_id=sid, action="kill", ok=True), uow=uow
        )
        assert uow.emitted == []
    assert submission_state(database, sid)[0] == S.REMOVED


def test_without_a_kill_one_cancelled_job_rolls_up_as_the_reference_does(
    database: Database,
) -> None:
    sid = make_submission(database, [])
    deliver(database, job(sid, "running", 1), job(sid, "removed", 2))
    assert submission_state(database, sid)[0] in (S.COMPLETED, S.LOCATED)


def test_a_refused_kill_leaves_the_jobs_to_end_as_they_will(
    database: Database, tmp_path: Path
) -> None:
    sid = running_then_killed(database, tmp_path)
    with database.transaction() as session:
        handlers.on_job_control(
            JobControlApplied(submission_id=sid, action="kill", ok=False, detail="no such job"),
            uow=UnitOfWork(session),
        )
    deliver(database, job(sid, "completed", 2))

    status, _, reasons = submission_state(database, sid)
    assert status in (S.COMPLETED, S.LOCATED) and "killed" not in " ".join(reasons)
