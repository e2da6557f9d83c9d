"""``POMS_CATALOG=samweb``: the tracker's located check counts in SAM (reference §3.4).

The local catalog holds no files at all for these submissions, so whatever makes them
Located came from the fake SAM server. A SAM that does not answer never costs a job
event: the submission waits, Completed, and the Completed sweep asks SAM again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sam_campaign import AFTER, EXP, fill_world, sam_settings, simulate_submission

from poms_shared.contracts import new_envelope
from poms_shared.contracts.messages import JobEvent, JobEventsReported
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus as S
from poms_shared.settings import Settings
from poms_shared.testing.fake_samweb import FakeSamweb
from poms_tracker import bootstrap, handlers


@pytest.fixture
def sam() -> Iterator[FakeSamweb]:
    with FakeSamweb() as fake:
        fill_world(fake)
        yield fake


def job_report(sid: int, n: int = 2) -> JobEventsReported:
    """``n`` jobs of the submission report completed."""
    return JobEventsReported(
        events=[
            JobEvent(
                source="t",
                backend="local",
                batch_job_id=f"{sid}.{i}@local",
                submission_id=sid,
                state="completed",
                seq=1,
                at=datetime.now(UTC),
            )
            for i in range(n)
        ]
    )


def jobs_done(db: Database, settings: Settings, *reports: JobEventsReported) -> None:
    """The reports reach the tracker's consumer as one micro-batch."""
    registry = handlers.build_registry(settings)
    handle = bootstrap.batch_handler(db, registry, lambda: None, settings)
    handle([new_envelope(r) for r in reports])


def state(db: Database, sid: int) -> tuple[S, str, int]:
    """Status, the located check's reason, and how many jobs the tracker holds."""
    with db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        jobs = handlers.repo.job_counts(session, sid).total
        return S(sub.status_id), str(sub.submission_params.get("completion_why")), jobs


def sweep(db: Database, settings: Settings) -> None:
    with db.transaction() as session:
        handlers.sweep_completed(UnitOfWork(session), settings)


def completed(db: Database, **stage: Any) -> int:
    return simulate_submission(db, status=S.RUNNING, **stage)


@pytest.mark.parametrize(
    ("pct", "expected", "why"),
    [
        # P consumed 3 inputs; 2 have located sim_%.root children of v1_0 made after launch
        (50, S.LOCATED, "2 of 3 input files have located outputs matching sim_%.root"),
        (90, S.COMPLETED, "2 of 3 input files have located outputs matching sim_%.root, needs"),
    ],
)
def test_the_located_check_counts_the_projects_inputs_with_located_outputs_in_sam(
    database, sam, pct, expected, why
):
    sid = completed(database, completion_pct=pct)
    jobs_done(database, sam_settings(sam), job_report(sid))
    status, reason, _ = state(database, sid)
    assert status == expected
    assert reason.startswith(why)


def test_outputs_located_later_in_sam_make_it_located_at_the_next_sweep(database, sam):
    sid = completed(database, completion_pct=100)
    settings = sam_settings(sam)
    jobs_done(database, settings, job_report(sid))
    assert state(database, sid)[0] == S.COMPLETED

    world = sam.world(EXP)
    world.add_file("sim_3b.root", parents=["gen_3"], version="v1_0", created=AFTER)
    sweep(database, settings)
    status, reason, _ = state(database, sid)
    assert status == S.LOCATED and reason.startswith("3 of 3 input files")


def test_without_a_project_the_check_counts_the_dependency_definition_the_jobs_declared(
    database, sam
):
    sid = completed(database, project=None, completion_pct=100)
    settings = sam_settings(sam)
    jobs_done(database, settings, job_report(sid, n=2))
    assert state(database, sid)[:2] == (
        S.COMPLETED,
        "0 of 2 outputs located for jobs matching sim_%.root, needs 100% (2)",
    )

    sam.world(EXP).define(f"poms_depends_{sid}_1", "file_name sim_1.root,sim_2.root")
    sweep(database, settings)
    assert state(database, sid)[0] == S.LOCATED


def test_a_sam_outage_keeps_the_job_events_and_the_sweep_locates_it_once_sam_answers(database, sam):
    sid = completed(database, completion_pct=50)
    settings = sam_settings(sam)
    sam.fail_next(count=1000)
    jobs_done(database, settings, job_report(sid))  # no exception: nothing to retry or dead-letter

    status, reason, jobs = state(database, sid)
    assert (status, jobs) == (S.COMPLETED, 2)
    assert reason.startswith("the data catalog could not be asked")

    sam.recover()
    sweep(database, settings)
    assert state(database, sid)[0] == S.LOCATED


def test_stages_that_need_no_counts_never_wait_for_sam(database, sam):
    sid = completed(database, completion_type="complete")
    sam.fail_next(count=1000)
    jobs_done(database, sam_settings(sam), job_report(sid))
    assert state(database, sid)[0] == S.LOCATED
    assert sam.requests == []


def test_a_sweep_stops_asking_once_sam_does_not_answer(database, sam):
    first, second = completed(database), completed(database)
    settings = sam_settings(sam)
    jobs_done(database, settings, job_report(first), job_report(second))
    asked = len(sam.requests)

    sam.fail_next(count=1000)
    sweep(database, settings)
    assert len(sam.requests) == asked + 1  # one failed call, not one per submission


def test_a_batch_completing_several_submissions_asks_a_failing_sam_once(database, sam):
    first, second = completed(database), completed(database)
    settings = sam_settings(sam)
    sam.fail_next(count=1000)
    jobs_done(database, settings, job_report(first), job_report(second))

    assert len(sam.requests) == 1
    for sid in (first, second):
        status, reason, jobs = state(database, sid)
        assert (status, jobs) == (S.COMPLETED, 2)
        assert reason.startswith("the data catalog could not be asked")
