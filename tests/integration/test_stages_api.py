"""``/api/v1`` campaign stages: the list, adding, cloning, deleting, override merging.

Launches are answered here by the campaign manager's own handler, run in-process when
the web wakes the outbox relay (``CampaignManagerStandIn``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from poms_campaign_manager.handlers import launch_stage
from poms_shared.contracts import decode
from poms_shared.contracts.messages import LaunchStage, LaunchSubmission
from poms_shared.db import identity
from poms_shared.db.base import utcnow
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignDependency, CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import AuditEntry, OutboxMessage, Submission
from poms_shared.demo import DEMO_CAMPAIGN, demo_ini
from poms_shared.demo.load import ensure_experiment
from poms_shared.settings import load_settings
from poms_shared.testing.submissions import add_submissions
from poms_web.adapters import launching
from poms_web.app import create_app

COMMANDS = "ssh localhost 'echo run the following to launch'"


class CampaignManagerStandIn:
    """Answers launch requests when woken, as the campaign manager would: its launch
    handler on each queued ``LaunchStage``; a commands-only launch gets its commands
    (the launcher's part). ``silent`` leaves every request pending."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.silent = False
        self.seen: list[LaunchStage] = []

    def __call__(self) -> None:
        if self.silent:
            return
        while self._answer_once():
            pass

    def _answer_once(self) -> bool:
        """Handle the messages waiting in the outbox; False when there were none."""
        with self.db.transaction() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.outbox_id)
            ).all()
            for row in rows:
                row.published_at = utcnow()
                message = decode(row.body).payload
                if isinstance(message, LaunchStage):
                    self.seen.append(message)
                    launch_stage(message, uow=UnitOfWork(session))
                elif isinstance(message, LaunchSubmission) and message.commands_only:
                    sub = session.get(Submission, message.submission_id)
                    assert sub is not None
                    sub.submission_params = {**sub.submission_params, "commands": COMMANDS}
        return bool(rows)


@dataclass
class Api:
    client: FlaskClient
    db: Database
    manager: CampaignManagerStandIn

    def stages(self) -> dict[str, int]:
        detail = self.client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}").get_json()
        return {s["name"]: s["stage_id"] for s in detail["stages_detail"]}

    def token(self, name: str, role: str) -> dict[str, str]:
        """Headers acting as a new member ``name`` of the demo experiment in ``role``."""
        with self.db.transaction() as session:
            identity.add_user(session, name)
            identity.set_membership(session, name, "demo", role)
            secret = identity.issue_token(session, name, "tests")[1]
        return {"Authorization": f"Bearer {secret}"}

    def count(self, model: Any) -> int:
        with self.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


def build_api(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Api:
    """The demo campaign behind a development-login client, launches answered in-process."""
    monkeypatch.setattr(launching, "LAUNCH_WAIT", 0.3)
    with database.transaction() as session:
        ensure_experiment(session, "demo", "poms", "production")
    manager = CampaignManagerStandIn(database)
    client = create_app(load_settings(var_dir=tmp_path), database, wake=manager).test_client()
    assert client.post("/api/v1/campaigns/ini", data=demo_ini()).status_code == 201
    return Api(client, database, manager)


@pytest.fixture
def api(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Api:
    return build_api(database, tmp_path, monkeypatch)


def error(response: Any) -> str:
    message: str = response.get_json()["error"]["message"]
    return message


# ---- the list -----------------------------------------------------------------------------


def test_the_stage_list_summarises_each_stages_submissions(api: Api) -> None:
    ids = api.stages()
    with api.db.transaction() as session:
        add_submissions(session, ids["simulate"], 2)
    page = api.client.get(f"/api/v1/stages?campaign={DEMO_CAMPAIGN}&per_page=2").get_json()
    assert (page["total"], page["pages"], len(page["items"])) == (3, 2, 2)
    simulate = next(s for s in page["items"] if s["name"] == "simulate")
    assert simulate["status"] == {
        "state": "running",
        "submissions": 2,
        "active": 2,
        "by_status": {"New": 2},
    }
    assert simulate["campaign"] == DEMO_CAMPAIGN and simulate["job_type"] == "demo_job"
    assert page["items"][0]["status"]["state"] == "idle"
    everything = api.client.get("/api/v1/stages").get_json()
    assert {s["name"] for s in everything["items"]} >= set(ids)


def test_the_stage_list_refuses_a_bad_page_and_an_unknown_campaign(api: Api) -> None:
    bad = api.client.get(f"/api/v1/stages?campaign={DEMO_CAMPAIGN}&page=0")
    assert bad.status_code == 400 and "page:" in error(bad)
    assert api.client.get("/api/v1/stages?campaign=nope").status_code == 404


# ---- create -------------------------------------------------------------------------------


def test_a_new_stage_takes_the_campaign_defaults_then_its_own_fields(api: Api) -> None:
    made = api.client.post(
        f"/api/v1/campaigns/{DEMO_CAMPAIGN}/stages",
        json={
            "name": "analyse",
            "dataset": "from_parent",
            "completion_type": "complete",
            "param_overrides": [["--stage ", "analyse"]],
            "depends_on": [{"stage": "reconstruct", "file_patterns": "reco_%.root"}],
        },
    )
    assert made.status_code == 201, made.get_json()
    stage = made.get_json()
    assert stage["completion_pct"] == 90.0  # the campaign default
    assert stage["login_setup"] == "demo_local" and stage["job_type"] == "demo_job"
    assert stage["completion_type"] == "complete"
    assert stage["param_overrides"] == [["--stage ", "analyse"]]
    detail = api.client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}").get_json()
    assert {
        "upstream": "reconstruct",
        "downstream": "analyse",
        "file_patterns": "reco_%.root",
    } in detail["dependencies"]
    with api.db.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "create_stage")).one()
        assert entry.entity_id == str(stage["stage_id"]) and entry.actor == "poms"


def test_a_stage_name_is_taken_only_once_per_campaign(api: Api) -> None:
    before = api.count(CampaignStage)
    taken = api.client.post(f"/api/v1/campaigns/{DEMO_CAMPAIGN}/stages", json={"name": "simulate"})
    assert taken.status_code == 409 and "simulate" in error(taken)
    assert api.count(CampaignStage) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name:"),
        ({"name": "  "}, "name:"),
        ({"name": "x", "completion_pct": 0}, "completion_pct:"),
        ({"name": "x", "login_setup": "nowhere"}, "login_setup:"),
        ({"name": "x", "job_type_id": 999999}, "job_type_id:"),
        ({"name": "x", "job_type_id": "demo_job"}, "job_type_id:"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "depends_on": [{"stage": "nope"}]}, "depends_on:"),
        ({"name": "x", "depends_on": "simulate"}, "depends_on:"),
        ({"name": "x", "depends_on": [{"stage": "x"}]}, "depends_on:"),  # loops forever
    ],
)
def test_a_bad_new_stage_is_refused_by_field_and_nothing_is_made(
    api: Api, body: dict[str, Any], field: str
) -> None:
    before = (api.count(CampaignStage), api.count(CampaignDependency), api.count(AuditEntry))
    answer = api.client.post(f"/api/v1/campaigns/{DEMO_CAMPAIGN}/stages", json=body)
    assert answer.status_code == 400, answer.get_json()
    assert field in error(answer)
    after = (api.count(CampaignStage), api.count(CampaignDependency), api.count(AuditEntry))
    assert after == before


def test_a_stage_may_depend_on_itself_when_its_split_runs_out(api: Api) -> None:
    made = api.client.post(
        f"/api/v1/campaigns/{DEMO_CAMPAIGN}/stages",
        json={"name": "loop", "split_type": "nfiles(2)", "depends_on": [{"stage": "loop"}]},
    )
    assert made.status_code == 201, made.get_json()
    detail = api.client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}").get_json()
    assert {"upstream": "loop", "downstream": "loop", "file_patterns": "%"} in detail[
        "dependencies"
    ]


def test_only_those_who_may_change_the_campaign_add_stages(api: Api) -> None:
    ann = api.token("ann", "analysis")
    refused = api.client.post(
        f"/api/v1/campaigns/{DEMO_CAMPAIGN}/stages", json={"name": "x"}, headers=ann
    )
    assert refused.status_code == 403
    shifter = api.token("shay", "production-shifter")
    assert (
        api.client.post(
            f"/api/v1/campaigns/{DEMO_CAMPAIGN}/stages", json={"name": "x"}, headers=shifter
        ).status_code
        == 403
    )
    pat = api.token("pat", "production")
    made = api.client.post(
        f"/api/v1/campaigns/{DEMO_CAMPAIGN}/stages", json={"name": "x"}, headers=pat
    )
    assert made.status_code == 201
    # the stage belongs with its campaign: others who may change the campaign may change it
    assert (
        api.client.patch(
            f"/api/v1/stages/{made.get_json()['stage_id']}", json={"completion_pct": 50}
        ).status_code
        == 200
    )


# ---- clone and delete ---------------------------------------------------------------------


def test_a_clone_copies_the_settings_but_not_the_history(api: Api) -> None:
    ids = api.stages()
    api.client.patch(f"/api/v1/stages/{ids['simulate']}", json={"failed_ratio": 0.2})
    with api.db.transaction() as session:
        add_submissions(session, ids["simulate"], 1)
    made = api.client.post(f"/api/v1/stages/{ids['simulate']}/clone", json={"name": "sim2"})
    assert made.status_code == 201, made.get_json()
    copy = made.get_json()
    original = api.client.get(f"/api/v1/stages/{ids['simulate']}").get_json()
    for key in ("param_overrides", "dataset", "failed_ratio", "job_type", "completion_pct"):
        assert copy[key] == original[key], key
    assert copy["submissions"] == [] and copy["name"] == "sim2"
    again = api.client.post(f"/api/v1/stages/{ids['simulate']}/clone", json={"name": "sim2"})
    assert again.status_code == 409
    nameless = api.client.post(f"/api/v1/stages/{ids['simulate']}/clone", json={})
    assert nameless.status_code == 400 and "name:" in error(nameless)
    assert api.client.post("/api/v1/stages/999999/clone", json={"name": "z"}).status_code == 404


def test_a_stage_never_launched_is_deleted_with_its_dependencies(api: Api) -> None:
    ids = api.stages()
    assert (
        api.client.put(
            f"/api/v1/stages/{ids['reconstruct']}/schedule", json={"cron": "0 3 * * *"}
        ).status_code
        == 200
    )
    deleted = api.client.delete(f"/api/v1/stages/{ids['reconstruct']}")
    assert deleted.status_code == 200, deleted.get_json()
    assert api.client.get(f"/api/v1/stages/{ids['reconstruct']}").status_code == 404
    detail = api.client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}").get_json()
    assert [d["downstream"] for d in detail["dependencies"]] == ["simulate"]
    with api.db.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "delete_stage")).one()
        assert entry.before is not None and entry.before["name"] == "reconstruct"


def test_a_stage_with_submissions_is_not_deleted(api: Api) -> None:
    """Reference §12.4: a used stage may not be deleted; saving the campaign without it
    detaches it, so its submissions keep their history."""
    ids = api.stages()
    with api.db.transaction() as session:
        add_submissions(session, ids["simulate"], 1)
    refused = api.client.delete(f"/api/v1/stages/{ids['simulate']}")
    assert refused.status_code == 409
    assert "has been used and may not be deleted" in error(refused)
    assert api.client.get(f"/api/v1/stages/{ids['simulate']}").status_code == 200
    ann = api.token("ann", "analysis")
    assert api.client.delete(f"/api/v1/stages/{ids['generate']}", headers=ann).status_code == 403
    assert api.client.get(f"/api/v1/stages/{ids['generate']}").status_code == 200


# ---- parameter overrides ------------------------------------------------------------------


def test_override_edits_add_replace_and_remove_keys(api: Api) -> None:
    stage_id = api.stages()["simulate"]
    answer = api.client.post(
        f"/api/v1/stages/{stage_id}/param-overrides",
        json={
            "param_overrides": [["--jobs ", "7"], ["--dataset ", ""], ["--extra ", "1"]],
            "test_param_overrides": [["--jobs ", "1"]],
        },
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["param_overrides"] == [
        ["--stage ", "simulate"],
        ["--jobs ", "7"],
        ["--extra ", "1"],
    ]
    assert body["test_param_overrides"] == [["--jobs ", "1"]]
    info = api.client.get(f"/api/v1/stages/{stage_id}").get_json()
    assert info["param_overrides"] == body["param_overrides"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "param_overrides:"),
        ({"param_overrides": "--jobs 3"}, "param_overrides:"),
        ({"test_param_overrides": [["only-key"]]}, "test_param_overrides:"),
        ({"overrides": []}, "overrides"),
    ],
)
def test_bad_override_edits_are_refused_and_nothing_changes(
    api: Api, body: dict[str, Any], field: str
) -> None:
    stage_id = api.stages()["simulate"]
    before = api.client.get(f"/api/v1/stages/{stage_id}").get_json()
    answer = api.client.post(f"/api/v1/stages/{stage_id}/param-overrides", json=body)
    assert answer.status_code == 400 and field in error(answer)
    assert api.client.get(f"/api/v1/stages/{stage_id}").get_json() == before


def test_only_those_who_may_change_the_stage_edit_its_overrides(api: Api) -> None:
    stage_id = api.stages()["simulate"]
    ann = api.token("ann", "analysis")
    answer = api.client.post(
        f"/api/v1/stages/{stage_id}/param-overrides",
        json={"param_overrides": [["--jobs ", "9"]]},
        headers=ann,
    )
    assert answer.status_code == 403


# ---- schedules and held launches ----------------------------------------------------------


def test_removing_a_schedule_is_audited(api: Api) -> None:
    stage_id = api.stages()["generate"]
    api.client.put(f"/api/v1/stages/{stage_id}/schedule", json={"cron": "0 3 * * *"})
    assert api.client.delete(f"/api/v1/stages/{stage_id}/schedule").get_json()["cron"] is None
    with api.db.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "unschedule")).one()
        assert entry.before == {"cron": "0 3 * * *", "scheduled_by": "poms"}


def test_held_launches_are_listed_to_those_who_may_see_them(api: Api) -> None:
    stage_id = api.stages()["generate"]
    api.client.post(f"/api/v1/stages/{stage_id}/hold")
    held = api.client.post(f"/api/v1/stages/{stage_id}/launch", json={})
    assert held.status_code == 423, held.get_json()
    listed = api.client.get("/api/v1/held-launches").get_json()
    assert listed["total"] == 1 and listed["items"][0]["stage_id"] == stage_id
    # acting as analysis one sees only the launches one queued
    ann = api.token("ann", "analysis")
    assert api.client.get("/api/v1/held-launches", headers=ann).get_json()["total"] == 0
    pat = api.token("pat", "production")
    assert api.client.get("/api/v1/held-launches", headers=pat).get_json()["total"] == 1
    bad = api.client.get("/api/v1/held-launches?stage_id=x")
    assert bad.status_code == 400 and "stage_id:" in error(bad)


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 0 31 2 *", "never fires"),
        ("0 3 * *", "does not parse"),
        ("61 * * * *", "does not parse"),
    ],
)
def test_a_cron_that_cannot_run_is_refused_and_nothing_is_stored(
    api: Api, cron: str, reason: str
) -> None:
    stage_id = api.stages()["simulate"]
    url = f"/api/v1/stages/{stage_id}/schedule"
    response = api.client.put(url, json={"cron": cron})
    assert response.status_code == 400 and reason in response.get_json()["error"]["message"]
    assert api.client.get(url).get_json()["cron"] is None
