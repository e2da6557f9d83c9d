"""Job-log lines posted to the API move jobs through the tracker (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from submission_fixtures import make_submission

from poms_shared.contracts import decode
from poms_shared.contracts.messages import JobEvent, JobEventsReported
from poms_shared.db.session import Database
from poms_shared.db.tables import Job, OutboxMessage, Submission
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.settings import load_settings
from poms_tracker import bootstrap, handlers
from poms_web.app import create_app

LOG = (Path(__file__).parents[1] / "data" / "condor_job.log").read_text()


@pytest.fixture
def client(database: Database, tmp_path: Path) -> FlaskClient:
    return create_app(load_settings(var_dir=tmp_path), database).test_client()


def run_tracker(database: Database) -> None:
    with database.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.outbox_id)).all()
        envelopes = [decode(row.body) for row in rows]
    reports = [e for e in envelopes if isinstance(e.payload, JobEventsReported)]
    bootstrap.batch_handler(database, handlers.build_registry(), lambda: None)(reports)


def jobs(database: Database) -> dict[str, tuple[JobState, int | None, str | None]]:
    with database.transaction() as session:
        return {
            j.batch_job_id: (JobState(j.state), j.exit_code, j.node)
            for j in session.scalars(select(Job))
        }


def test_a_job_log_records_each_jobs_end_and_where_it_ran(client, database):
    sid = make_submission(database, [])
    response = client.post(
        f"/api/v1/submissions/{sid}/condor-log?schedd=jobsub01.fnal.gov",
        data=LOG,
        content_type="text/plain",
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["jobs"] == 3
    run_tracker(database)
    found = jobs(database)
    assert found["4321.0@jobsub01.fnal.gov"] == (JobState.COMPLETED, 0, "fnpc1234.fnal.gov")
    assert found["4321.1@jobsub01.fnal.gov"][:2] == (JobState.FAILED, 137)
    assert found["4321.2@jobsub01.fnal.gov"][0] == JobState.REMOVED
    with database.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        # 1 completed, 1 failed, 1 removed: failed > 0.5 × completed → Failed
        assert SubmissionStatus(sub.status_id) == SubmissionStatus.FAILED


def reported(database: Database) -> list[JobEvent]:
    with database.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.outbox_id)).all()
        payloads = [decode(row.body).payload for row in rows]
    return [e for p in payloads if isinstance(p, JobEventsReported) for e in p.events]


def usage(database: Database) -> dict[str, tuple[object, ...]]:
    with database.transaction() as session:
        return {
            j.batch_job_id: (j.cpu_seconds, j.wall_seconds, j.memory_mb, j.memory_requested_mb)
            for j in session.scalars(select(Job))
        }


def test_a_job_log_records_what_each_finished_job_used(client, database):
    sid = make_submission(database, [])
    url = f"/api/v1/submissions/{sid}/condor-log?schedd=jobsub01.fnal.gov"
    assert client.post(url, data=LOG, content_type="text/plain").status_code == 202
    [ended] = [e for e in reported(database) if e.state == "completed"]
    assert (ended.cpu_seconds, ended.wall_seconds, ended.memory_mb) == (605.0, 1135.0, 1843)
    assert all(e.cpu_seconds is None for e in reported(database) if e.state == "running")
    run_tracker(database)
    assert usage(database) == {
        "4321.0@jobsub01.fnal.gov": (605.0, 1135.0, 1843, 2000),
        "4321.1@jobsub01.fnal.gov": (32.0, 60.0, None, 4096),
        "4321.2@jobsub01.fnal.gov": (None, None, None, None),
    }


def test_posting_the_same_log_twice_changes_nothing(client, database):
    sid = make_submission(database, [])
    url = f"/api/v1/submissions/{sid}/condor-log?schedd=s1"
    client.post(url, data=LOG, content_type="text/plain")
    run_tracker(database)
    first = jobs(database)
    client.post(url, data=LOG, content_type="text/plain")
    run_tracker(database)
    assert jobs(database) == first


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/v1/submissions/{sid}/condor-log", "not a log", 400, "no HTCondor job log"),
        ("/api/v1/submissions/{sid}/condor-log", "", 400, "no job events"),
        ("/api/v1/submissions/{sid}/condor-log?schedd=a/b", LOG, 400, "not a plain name"),
        ("/api/v1/submissions/999999/condor-log", LOG, 404, "999999 does not exist"),
    ],
)
def test_bad_job_logs_are_refused_clearly(client, database, path, body, status, message):
    sid = make_submission(database, [])
    response = client.post(path.format(sid=sid), data=body, content_type="text/plain")
    assert response.status_code == status
    assert message in response.get_json()["error"]["message"]
