"""Job events and declared files over REST, applied by the tracker's pipeline; file
statistics per submission (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from submission_fixtures import make_submission

from poms_shared.contracts import decode
from poms_shared.contracts.messages import FilesDeclared, JobEventsReported
from poms_shared.db.session import Database
from poms_shared.db.tables import Job, OutboxMessage, Submission
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.settings import load_settings
from poms_tracker import bootstrap, handlers
from poms_web.app import create_app

INPUTS = ["a.raw", "b.raw", "c.raw", "d.raw"]
JOB = "7.0@local"


@pytest.fixture
def sid(database: Database) -> int:
    """A New submission of the demo 'simulate' stage with four input files."""
    return make_submission(database, INPUTS)


@pytest.fixture
def client(database: Database, tmp_path: Path) -> FlaskClient:
    woken: list[int] = []
    app = create_app(
        load_settings(var_dir=tmp_path, experiment=DEMO_EXPERIMENT),
        database,
        wake=lambda: woken.append(1),
    )
    app.config["woken"] = woken
    return app.test_client()


def event(sid: int, state: str, seq: int, job: str = JOB, **extra: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    return {
        "source": "wrapper",
        "backend": "local",
        "batch_job_id": job,
        "submission_id": sid,
        "state": state,
        "seq": seq,
        "at": at,
        **extra,
    }


def outbox(database: Database) -> list[OutboxMessage]:
    with database.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.outbox_id)))


def run_tracker(database: Database) -> None:
    """What the tracker's job-event consumer does with the reports the web emitted (the
    ones already applied are skipped by its inbox)."""
    envelopes = [decode(row.body) for row in outbox(database)]
    envelopes = [e for e in envelopes if isinstance(e.payload, JobEventsReported | FilesDeclared)]
    bootstrap.batch_handler(database, handlers.build_registry(), lambda: None)(envelopes)


def job_state(database: Database) -> tuple[str, int]:
    with database.transaction() as session:
        job = session.scalar(select(Job).where(Job.batch_job_id == JOB))
        assert job is not None
        return job.state, job.last_seq


def assert_bad(response: Any, field: str, says: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["status"] == 400
    assert error["code"] == "bad_request"
    assert error["field"] == field
    assert says in error["message"]
    assert "Traceback" not in response.get_data(as_text=True)


# ---- job events ----------------------------------------------------------------------------


def test_job_events_are_accepted_and_applied_by_the_tracker_in_order_whatever_their_arrival(
    client: FlaskClient, database: Database, sid: int
) -> None:
    first = client.post(
        "/api/v1/job-events", json={"events": [event(sid, "running", 2), event(sid, "idle", 1)]}
    )
    assert first.status_code == 202
    assert first.get_json() == {"accepted": 2}
    again = client.post("/api/v1/job-events", json={"events": [event(sid, "running", 2)]})
    assert again.status_code == 202
    [one, two] = [decode(r.body).payload for r in outbox(database)]
    assert isinstance(one, JobEventsReported) and len(one.events) == 2
    assert isinstance(two, JobEventsReported) and len(two.events) == 1
    assert client.application.config["woken"] == [1, 1]

    run_tracker(database)
    assert job_state(database) == (int(JobState.RUNNING), 2)  # the older idle never wins
    with database.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None and sub.status_id == int(SubmissionStatus.RUNNING)


def _with(sid: int, **changes: Any) -> dict[str, Any]:
    return {"events": [{**event(sid, "running", 1), **changes}]}


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        pytest.param(lambda sid: {}, "events", "Field required", id="no events"),
        pytest.param(lambda sid: {"events": "lots"}, "events", "valid list", id="not a list"),
        pytest.param(
            lambda sid: {"events": [{"state": "running"}]},
            "events.0.source",
            "Field required",
            id="missing fields",
        ),
        pytest.param(
            lambda sid: {"events": [event(sid, "idle", 1), event(sid, "exploded", 2)]},
            "events.1.state",
            "Input should be",
            id="unknown state",
        ),
        pytest.param(
            lambda sid: _with(sid, seq="soon"), "events.0.seq", "valid integer", id="bad seq"
        ),
        pytest.param(
            lambda sid: _with(sid, at="yesterday"), "events.0.at", "datetime", id="bad time"
        ),
        pytest.param(
            lambda sid: _with(sid, colour="red"), "events.0.colour", "Extra inputs", id="extra"
        ),
        pytest.param(
            lambda sid: _with(sid, submission_id=987654),
            "events.0.submission_id",
            "submission 987654 does not exist",
            id="unknown submission",
        ),
        pytest.param(
            lambda sid: {"events": [event(sid, "running", n) for n in range(5001)]},
            "events",
            "at most 5000",
            id="too many",
        ),
        pytest.param(lambda sid: [1, 2], "", "must be a JSON object", id="not an object"),
    ],
)
def test_bad_job_event_bodies_are_refused_naming_the_field_and_nothing_is_emitted(
    client: FlaskClient,
    database: Database,
    sid: int,
    body: Callable[[int], Any],
    field: str,
    says: str,
) -> None:
    assert_bad(client.post("/api/v1/job-events", json=body(sid)), field, says)
    assert outbox(database) == []


def test_a_body_that_is_not_json_is_refused(client: FlaskClient, database: Database) -> None:
    response = client.post("/api/v1/job-events", data="{nope", content_type="application/json")
    assert_bad(response, "", "must be JSON")
    assert outbox(database) == []


def test_an_empty_list_of_events_is_accepted_and_emits_nothing(
    client: FlaskClient, database: Database
) -> None:
    response = client.post("/api/v1/job-events", json={"events": []})
    assert response.status_code == 202 and response.get_json() == {"accepted": 0}
    assert outbox(database) == []


# ---- declared files and file statistics ----------------------------------------------------


def declare(client: FlaskClient, **body: Any) -> Any:
    return client.post("/api/v1/files", json={"experiment": DEMO_EXPERIMENT, **body})


def test_declared_files_and_input_reports_reach_the_file_statistics(
    client: FlaskClient, database: Database, sid: int
) -> None:
    client.post("/api/v1/job-events", json={"events": [event(sid, "running", 1)]})
    run_tracker(database)
    response = declare(
        client,
        batch_job_id=JOB,  # the web names the submission from the job
        files=[
            {"name": "sim_a.root", "location": "/out/sim_a.root", "parents": ["a.raw"]},
            {"name": "sim_b.root", "parents": ["b.raw"]},
        ],
        inputs=[{"name": "c.raw", "status": "failed"}, {"name": "a.raw", "status": "failed"}],
    )
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 2, "inputs": 2, "submission_id": sid}
    payloads = [decode(r.body).payload for r in outbox(database)]
    [message] = [m for m in payloads if isinstance(m, FilesDeclared)]
    assert message.submission_id == sid
    run_tracker(database)

    stats = client.get(f"/api/v1/submissions/{sid}/files").get_json()
    assert {i["name"]: (i["status"], i["job"]) for i in stats["inputs"]} == {
        "a.raw": ("consumed", JOB),  # its output exists: the late "failed" does not win
        "b.raw": ("consumed", JOB),
        "c.raw": ("failed", JOB),
        "d.raw": ("delivered", None),
    }
    assert stats["outputs"] == [
        {
            "name": "sim_a.root",
            "location": "/out/sim_a.root",
            "located": True,
            "parents": ["a.raw"],
        },
        {"name": "sim_b.root", "location": None, "located": False, "parents": ["b.raw"]},
    ]
    assert stats["counts"] == {
        "inputs": 4,
        "delivered": 1,
        "consumed": 2,
        "failed": 1,
        "skipped": 0,
        "inputs_with_outputs_declared": 2,
        "inputs_with_outputs_located": 1,
        "pending": 3,
        "outputs_declared": 2,
        "outputs_located": 1,
    }


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"files": []}, "submission_id", "give submission_id or batch_job_id"),
        ({"batch_job_id": "404.0@nowhere"}, "batch_job_id", "is not known"),
        ({"submission_id": 987654}, "submission_id", "submission 987654 does not exist"),
        ({"experiment": "nova", "submission_id": "SID"}, "experiment", "does not exist"),
        ({"experiment": None}, "experiment", "valid string"),
        ({"submission_id": "SID", "files": [{"parents": []}]}, "files.0.name", "Field required"),
        (
            {"submission_id": "SID", "inputs": [{"name": "a.raw", "status": "eaten"}]},
            "inputs.0.status",
            "Input should be",
        ),
        ({"submission_id": "SID", "inputs": [{"name": "x"}] * 5001}, "inputs", "at most 5000"),
    ],
)
def test_bad_file_declarations_are_refused_naming_the_field(
    client: FlaskClient, database: Database, sid: int, body: dict[str, Any], field: str, says: str
) -> None:
    body = {k: (sid if v == "SID" else v) for k, v in body.items()}
    assert_bad(declare(client, **body), field, says)
    assert outbox(database) == []


def test_file_statistics_of_a_missing_submission_are_a_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/submissions/987654/files")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
