"""``/api/v1/submissions``: the list, history, jobs, registration and reports; and the
permission checks of the recovery endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from people import add_people
from sqlalchemy import func, select

from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import AuditEntry, Job, OutboxMessage, Submission, SubmissionHistory
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.settings import Settings
from poms_shared.testing.submissions import add_submissions
from poms_web.app import create_app

EXP = DEMO_EXPERIMENT
PEOPLE = {"pat": "production", "ann": "analysis", "nora": None}


@dataclass
class World:
    db: Database
    client: FlaskClient  # the development login: an administrator named poms
    tokens: dict[str, str]
    stages: dict[str, int]

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def add(self, stage: str = "simulate", count: int = 1, **fields: Any) -> list[int]:
        """Submissions of a demo stage (New unless ``status`` says otherwise)."""
        status = fields.pop("status", SubmissionStatus.NEW)
        with self.db.transaction() as session:
            ids = add_submissions(session, self.stages[stage], count)
            for sid in ids:
                sub = session.get(Submission, sid)
                assert sub is not None
                for key, value in fields.items():
                    setattr(sub, key, value)
                record_status(session, sub, status, reason="test")
        return ids


@pytest.fixture(name="world")
def world_fixture(database: Database, tmp_path: Path) -> Iterator[World]:
    """The demo campaign; pat (production), ann (analysis), nora (no member) with tokens."""
    with database.transaction() as session:
        load_samples(session, username="pat")
        tokens = add_people(session, PEOPLE, EXP)
        stages = {
            s.name: s.campaign_stage_id
            for s in session.scalars(select(CampaignStage).where(CampaignStage.experiment == EXP))
        }
    client = create_app(Settings(var_dir=tmp_path), database).test_client()
    yield World(database, client, tokens, stages)


def changes(db: Database) -> tuple[int, int, int]:
    """Audit rows, outbox messages, submissions: what a refused call must not add to."""
    with db.transaction() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(t)) or 0
            for t in (AuditEntry, OutboxMessage, Submission)
        )


def sent(db: Database, kind: str) -> list[dict[str, Any]]:
    with db.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage.body).where(OutboxMessage.routing_key.contains(kind))
        ).all()
    return [json.loads(body)["payload"] for body in rows]


# ---- recovery endpoints check permissions --------------------------------------------


def test_recovery_endpoints_need_view_or_operate_permission(world: World) -> None:
    [sid] = world.add(status=SubmissionStatus.LOCATED)
    before = changes(world.db)
    for path in ("recovery-preview", "lineage"):
        refused = world.client.get(f"/api/v1/submissions/{sid}/{path}", headers=world.as_("nora"))
        assert refused.status_code == 403, path
        seen = world.client.get(f"/api/v1/submissions/{sid}/{path}", headers=world.as_("ann"))
        assert seen.status_code == 200, path
    refused = world.client.post(
        f"/api/v1/submissions/{sid}/recover",
        json={"recovery_type": "added_files"},
        headers=world.as_("ann"),  # analysis may view, not operate, production's work
    )
    assert refused.status_code == 403
    assert changes(world.db) == before


# ---- the list ---------------------------------------------------------------------------


def ids_of(answer: Any) -> list[int]:
    assert answer.status_code == 200, answer.get_json()
    return [item["submission_id"] for item in answer.get_json()["items"]]


def test_the_list_filters_by_stage_campaign_status_and_owner(world: World) -> None:
    new = world.add("simulate", 2)
    running = world.add("reconstruct", 1, status=SubmissionStatus.RUNNING, launcher="pat")
    get = world.client.get
    assert ids_of(get("/api/v1/submissions")) == sorted(new + running, reverse=True)
    assert ids_of(get(f"/api/v1/submissions?stage={world.stages['simulate']}")) == new[::-1]
    assert ids_of(get("/api/v1/submissions?status=Running")) == running
    assert ids_of(get("/api/v1/submissions?status=Running&status=New")) == sorted(
        new + running, reverse=True
    )
    assert ids_of(get("/api/v1/submissions?status=running,located")) == running
    assert ids_of(get(f"/api/v1/submissions?campaign={DEMO_CAMPAIGN}&status=New")) == new[::-1]
    assert ids_of(get("/api/v1/submissions?mine=1", headers=world.as_("pat"))) == running
    item = get(f"/api/v1/submissions?stage={world.stages['reconstruct']}").get_json()["items"][0]
    assert item["stage"] == "reconstruct" and item["campaign"] == DEMO_CAMPAIGN
    assert item["status"] == "Running" and item["launcher"] == "pat"


def test_the_list_is_paged_newest_first(world: World) -> None:
    ids = world.add("simulate", 7)
    page = world.client.get("/api/v1/submissions?per_page=3&page=2").get_json()
    assert [i["submission_id"] for i in page["items"]] == ids[::-1][3:6]
    assert (page["total"], page["pages"], page["page"]) == (7, 3, 2)


def test_the_list_takes_a_time_window_on_creation(world: World) -> None:
    old = world.add(created=datetime(2025, 1, 10, 12, tzinfo=UTC))
    recent = world.add(created=datetime(2025, 3, 1, 12, tzinfo=UTC))
    get = world.client.get
    assert ids_of(get("/api/v1/submissions?tmin=2025-01-01&tmax=2025-02-01")) == old
    assert ids_of(get("/api/v1/submissions?tmax=2025-03-02&tdays=2")) == recent
    assert ids_of(get("/api/v1/submissions?tmin=2025-01-10T00:00:00&tdays=1")) == old
    assert ids_of(get("/api/v1/submissions?tdays=1")) == []  # the last day


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=Bogus", "status"),
        ("tmin=yesterday", "tmin"),
        ("tmax=2025-13-01", "tmax"),
        ("tdays=-2", "tdays"),
        ("tmin=2025-02-01&tmax=2025-01-01", "tmin"),
        ("stage=simulate", "stage"),
        ("mine=perhaps", "mine"),
        ("per_page=0", "per_page"),
    ],
)
def test_a_bad_list_filter_is_refused_naming_it(world: World, query: str, field: str) -> None:
    answer = world.client.get(f"/api/v1/submissions?{query}")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"].startswith(field)


def test_the_list_needs_a_member_and_unknown_scopes_are_404(world: World) -> None:
    world.add()
    assert world.client.get("/api/v1/submissions", headers=world.as_("nora")).status_code == 403
    assert world.client.get("/api/v1/submissions?stage=99999").status_code == 404
    assert world.client.get("/api/v1/submissions?campaign=nope").status_code == 404
    assert world.client.get("/api/v1/submissions", headers=world.as_("ann")).status_code == 200


# ---- history and jobs -----------------------------------------------------------------


def test_history_lists_the_status_changes_in_order(world: World) -> None:
    [sid] = world.add()
    with world.db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        later = datetime.now(UTC) + timedelta(minutes=5)
        record_status(session, sub, SubmissionStatus.RUNNING, reason="jobs", at=later)
    body = world.client.get(f"/api/v1/submissions/{sid}/history").get_json()
    assert [h["status"] for h in body["items"]] == ["New", "Running"]
    assert body["items"][1]["reason"] == "jobs"
    assert world.client.get("/api/v1/submissions/99999/history").status_code == 404
    nora = world.client.get(f"/api/v1/submissions/{sid}/history", headers=world.as_("nora"))
    assert nora.status_code == 403


def test_jobs_are_listed_with_their_outcome(world: World) -> None:
    [sid] = world.add()
    start = datetime(2025, 1, 1, 10, tzinfo=UTC)
    with world.db.transaction() as session:
        for n, state in enumerate((JobState.COMPLETED, JobState.FAILED, JobState.RUNNING)):
            session.add(
                Job(
                    submission_id=sid,
                    backend="local",
                    batch_job_id=f"{sid}.{n}@local",
                    state=int(state),
                    exit_code=n if state != JobState.RUNNING else None,
                    node=f"node{n}",
                    started_at=start,
                    finished_at=start + timedelta(minutes=n + 1)
                    if state != JobState.RUNNING
                    else None,
                )
            )
    body = world.client.get(f"/api/v1/submissions/{sid}/jobs?per_page=2").get_json()
    assert body["total"] == 3 and len(body["items"]) == 2
    first, second = body["items"]
    assert first["state"] == "completed" and first["exit_code"] == 0
    assert first["wall_seconds"] == 60 and first["node"] == "node0"
    assert second["state"] == "failed" and second["exit_code"] == 1
    nora = world.client.get(f"/api/v1/submissions/{sid}/jobs", headers=world.as_("nora"))
    assert nora.status_code == 403


# ---- registration -------------------------------------------------------------------


def test_registering_creates_a_new_submission_with_its_project(world: World) -> None:
    stage = world.stages["simulate"]
    answer = world.client.post(
        "/api/v1/submissions",
        json={
            "stage_id": stage,
            "command_executed": "jobsub_submit -N 3 --sam_project my_proj_42 file://run.sh",
            "input_dataset": "my_files",
        },
        headers=world.as_("pat"),
    )
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "New" and body["project"] == "my_proj_42" and body["created"]
    with world.db.transaction() as session:
        sub = session.get(Submission, body["submission_id"])
        assert sub is not None and sub.campaign_stage_id == stage
        assert sub.launcher == "pat" and sub.submission_params["dataset"] == "my_files"
        assert sub.stage_snapshot_id is not None
        statuses = session.scalars(
            select(SubmissionHistory.status_id).where(
                SubmissionHistory.submission_id == sub.submission_id
            )
        ).all()
        assert statuses == [int(SubmissionStatus.NEW)]
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "register_submission"))


def test_registering_a_known_submission_completes_it(world: World) -> None:
    [sid] = world.add(project=None)
    answer = world.client.post(
        "/api/v1/submissions",
        json={
            "stage_id": world.stages["simulate"],
            "submission_id": sid,
            "command_executed": "fife_launch --project_name=p1",
        },
    )
    assert answer.status_code == 200 and answer.get_json()["submission_id"] == sid
    with world.db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        assert (sub.command_executed, sub.project) == ("fife_launch --project_name=p1", "p1")
        assert session.scalar(select(func.count()).select_from(Submission)) == 1


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({}, "stage_id", 400),
        ({"stage_id": "simulate"}, "stage_id", 400),
        ({"stage_id": 99999}, "campaign stage 99999", 404),
        ({"stage_id": "{stage}", "parent_submission_id": 99999}, "parent_submission_id", 400),
        ({"stage_id": "{stage}", "command_executed": 5}, "command_executed", 400),
        ({"stage_id": "{stage}", "colour": "red"}, "colour", 400),
        ({"stage_id": "{other}", "submission_id": "{sid}"}, "submission_id", 400),
    ],
)
def test_a_bad_registration_is_refused_and_creates_nothing(
    world: World, body: dict[str, Any], field: str, status: int
) -> None:
    [sid] = world.add()
    ids = {"stage": world.stages["simulate"], "other": world.stages["reconstruct"], "sid": sid}
    sent_body = {
        k: int(v.format(**ids)) if isinstance(v, str) and "{" in v else v for k, v in body.items()
    }
    before = changes(world.db)
    answer = world.client.post("/api/v1/submissions", json=sent_body)
    assert answer.status_code == status
    assert answer.get_json()["error"]["message"].startswith(field)
    assert changes(world.db) == before


def test_registering_needs_permission_to_operate_the_stage(world: World) -> None:
    before = changes(world.db)
    answer = world.client.post(
        "/api/v1/submissions", json={"stage_id": world.stages["simulate"]}, headers=world.as_("ann")
    )
    assert answer.status_code == 403
    assert changes(world.db) == before


# ---- reports (update_submission) ------------------------------------------------------


def patch(world: World, sid: int, body: Any, who: str | None = None) -> Any:
    headers = world.as_(who) if who else {}
    return world.client.patch(f"/api/v1/submissions/{sid}", json=body, headers=headers)


def test_a_report_records_batch_id_and_project_and_asks_for_the_status(world: World) -> None:
    [sid] = world.add()
    answer = patch(world, sid, {"batch_id": "123@schedd", "project": "p7", "status": "Idle"})
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert body["changed"] == ["batch_id", "project", "status"]
    assert body["status_requested"] == "Idle" and body["status"] == "New"
    with world.db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None and (sub.batch_id, sub.project) == ("123@schedd", "p7")
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "update_submission")
        ).one()
        assert entry.after == {"batch_id": "123@schedd", "project": "p7", "status": "Idle"}
    [asked] = sent(world.db, "SetSubmissionStatus")
    assert (asked["submission_id"], asked["status"]) == (sid, "Idle")


def test_running_past_the_completion_threshold_is_reported_completed(world: World) -> None:
    [sid] = world.add(status=SubmissionStatus.RUNNING)
    with world.db.transaction() as session:
        stage = session.get(CampaignStage, world.stages["simulate"])
        assert stage is not None
        threshold = stage.completion_pct
    below = patch(world, sid, {"status": "Running", "pct_complete": threshold - 1})
    assert below.status_code == 200 and "status_requested" not in below.get_json()
    above = patch(world, sid, {"status": "Running", "pct_complete": threshold})
    assert above.get_json()["status_requested"] == "Completed"


def test_the_service_account_cannot_move_a_final_submission_but_a_person_can(
    world: World,
) -> None:
    [sid] = world.add(status=SubmissionStatus.REMOVED)
    ignored = patch(world, sid, {"status": "Running"})  # the development login is "poms"
    assert ignored.status_code == 200
    assert "final" in ignored.get_json()["status_ignored"]
    assert sent(world.db, "SetSubmissionStatus") == []
    person = patch(world, sid, {"status": "Completed"}, who="pat")
    assert person.status_code == 202
    assert [m["status"] for m in sent(world.db, "SetSubmissionStatus")] == ["Completed"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "Exploded"}, "status"),
        ({"status": "Running,Idle"}, "status"),
        ({"pct_complete": "lots"}, "pct_complete"),
        ({"pct_complete": 140}, "pct_complete"),
        ({"batch_id": ""}, "batch_id"),
        ({"batch_id": "x" * 300}, "batch_id"),
        ({"project": 5}, "project"),
        ({"jobsub_job_id": "1@s"}, "jobsub_job_id"),
    ],
)
def test_a_bad_report_changes_nothing(world: World, body: dict[str, Any], field: str) -> None:
    [sid] = world.add()
    before = changes(world.db)
    answer = patch(world, sid, body)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"].startswith(field)
    assert changes(world.db) == before


def test_a_report_needs_permission_to_operate_the_submission(world: World) -> None:
    [sid] = world.add()
    before = changes(world.db)
    assert patch(world, sid, {"batch_id": "9@s"}, who="ann").status_code == 403
    assert changes(world.db) == before
    assert patch(world, 99999, {"batch_id": "9@s"}).status_code == 404
