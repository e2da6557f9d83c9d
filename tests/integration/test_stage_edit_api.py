"""``PATCH /api/v1/stages/<id>``: stage settings are checked field by field, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from poms_shared.db.session import Database
from poms_shared.db.tables import AuditEntry
from poms_shared.demo import DEMO_CAMPAIGN, demo_ini
from poms_shared.demo.load import ensure_experiment
from poms_shared.settings import load_settings
from poms_web.app import create_app


@pytest.fixture
def client(database: Database, tmp_path: Path) -> FlaskClient:
    with database.transaction() as session:
        ensure_experiment(session, "demo", "poms", "production")
    app = create_app(load_settings(var_dir=tmp_path), database)
    test_client = app.test_client()
    assert test_client.post("/api/v1/campaigns/ini", data=demo_ini()).status_code == 201
    return test_client


def first_stage(client: FlaskClient) -> dict[str, Any]:
    detail = client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}").get_json()
    stage: dict[str, Any] = detail["stages_detail"][0]
    return stage


def patch(client: FlaskClient, stage_id: int, body: Any) -> Any:
    return client.patch(f"/api/v1/stages/{stage_id}", json=body)


def test_valid_changes_are_applied_and_audited(client, database):
    stage = first_stage(client)
    response = patch(
        client,
        stage["stage_id"],
        {
            "split_type": " nfiles( 5 ) ",
            "completion_pct": 80,
            "param_overrides": [["--jobs ", 3]],
            "stage_type": "test",
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["changed"] == sorted(
        ["cs_split_type", "completion_pct", "param_overrides", "campaign_stage_type"]
    )
    info = body["stage"]
    assert info["split_type"] == "nfiles( 5 )"
    assert info["completion_pct"] == 80.0
    assert info["param_overrides"] == [["--jobs ", "3"]]
    assert info["stage_type"] == "test"
    with database.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "edit_stage")).one()
        assert entry.after["completion_pct"] == 80.0
        assert entry.before["completion_pct"] != 80.0


def test_changing_the_split_type_starts_its_position_over(client):
    stage_id = first_stage(client)["stage_id"]
    patch(client, stage_id, {"split_type": "nfiles(2)"})
    assert client.post(f"/api/v1/stages/{stage_id}/split", json={"position": 4}).status_code == 200
    assert client.get(f"/api/v1/stages/{stage_id}").get_json()["cs_last_split"] == 4
    patch(client, stage_id, {"split_type": "mod(3)"})
    assert client.get(f"/api/v1/stages/{stage_id}").get_json()["cs_last_split"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"split_type": "bysize(3)"}, "split_type: unknown split type 'bysize'"),
        ({"split_type": "nfiles(ten)"}, "unable to parse integer parameter 'ten'"),
        ({"test_split_type": "byrun(low=9,high=1)"}, "low=9 is above high=1"),
        ({"completion_pct": 0}, "completion_pct: must be a number between 0 and 100"),
        ({"completion_type": "done"}, "completion_type: must be one of located, complete"),
        ({"param_overrides": [["only-a-key"]]}, "is not a [key, value] pair"),
        ({"merge_overrides": "yes"}, "merge_overrides: must be true or false"),
        ({"login_setup": "nowhere"}, "no login setup named 'nowhere' in experiment demo"),
        ({"colour": "red"}, "unknown stage field(s): colour"),
        ({"failed_ratio": -1}, "failed_ratio: must be a number of at least 0"),
        ({"located_after_hours": "soon"}, "located_after_hours: must be a number"),
    ],
)
def test_bad_fields_are_refused_by_name_and_nothing_changes(client, body, message):
    stage = first_stage(client)
    before = client.get(f"/api/v1/stages/{stage['stage_id']}").get_json()
    response = patch(client, stage["stage_id"], {"software_version": "v9", **body})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert message in error["message"]
    after = client.get(f"/api/v1/stages/{stage['stage_id']}").get_json()
    assert after == before  # the valid software_version change was not applied either


def test_every_problem_is_reported_at_once(client):
    stage_id = first_stage(client)["stage_id"]
    response = patch(client, stage_id, {"split_type": "nope", "completion_pct": 500})
    message = response.get_json()["error"]["message"]
    assert "split_type:" in message and "completion_pct:" in message


def test_a_stage_can_move_to_another_login_setup_of_its_experiment(client):
    stage = first_stage(client)
    text = demo_ini().replace("[login_setup demo_local]", "[login_setup other_local]")
    text = text.replace("login_setup=demo_local", "login_setup=other_local").replace(
        "name=demo_mc", "name=other_mc"
    )
    assert client.post("/api/v1/campaigns/ini", data=text).status_code == 201
    response = patch(client, stage["stage_id"], {"login_setup": "other_local"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["stage"]["login_setup"] == "other_local"


def test_unknown_stages_and_non_object_bodies_are_refused(client):
    assert patch(client, 999999, {"dataset": "x"}).status_code == 404
    stage_id = first_stage(client)["stage_id"]
    assert patch(client, stage_id, ["dataset", "x"]).status_code == 400


def test_the_failed_rule_and_the_located_timeout_are_stage_settings(client):
    stage_id = first_stage(client)["stage_id"]
    response = patch(client, stage_id, {"failed_ratio": 0.1, "located_after_hours": 48})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["changed"] == ["failed_ratio", "located_after_hours"]
    info = client.get(f"/api/v1/stages/{stage_id}").get_json()
    assert info["failed_ratio"] == 0.1 and info["located_after_hours"] == 48.0
    patch(client, stage_id, {"failed_ratio": None})
    assert client.get(f"/api/v1/stages/{stage_id}").get_json()["failed_ratio"] is None
