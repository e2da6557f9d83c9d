"""The compatibility-method framework, through the submission methods: GET and POST mean
the same, the path names the experiment and role acted in, ``/poms`` is a base too,
``fmt=json``, ``redirect=0``, errors as JSON naming the field, 401 without identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from test_submissions_api import World, world_fixture  # noqa: F401 (the fixture)

from poms_shared.db import identity
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import Settings
from poms_web.app import create_app

EXP = DEMO_EXPERIMENT


def count_submissions(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Submission)) or 0


def test_get_and_post_mean_the_same(world: World) -> None:
    [sid] = world.add()
    by_get = world.client.get(f"/session_status_history?submission_id={sid}")
    by_post = world.client.post("/session_status_history", data={"submission_id": sid})
    assert by_get.status_code == by_post.status_code == 200
    assert by_get.get_json() == by_post.get_json()
    stage = world.stages["simulate"]
    got = world.client.get(f"/get_submission_id_for?campaign_stage_id={stage}")
    posted = world.client.post("/get_submission_id_for", data={"campaign_stage_id": stage})
    assert got.get_data(as_text=True).startswith("Task=")
    assert posted.get_data(as_text=True).startswith("Task=")
    assert count_submissions(world.db) == 3


def test_the_path_names_the_role_acted_in(world: World) -> None:
    """pat may operate production's work as production, not while acting as analysis."""
    [sid] = world.add(status=SubmissionStatus.RUNNING)
    fields = {"submission_id": sid, "act": "hold"}
    as_analysis = world.client.post(
        f"/kill_jobs/{EXP}/analysis", data=fields, headers=world.as_("pat")
    )
    assert as_analysis.status_code == 403
    as_production = world.client.post(
        f"/kill_jobs/{EXP}/production/pat", data=fields, headers=world.as_("pat")
    )
    assert as_production.status_code == 200
    assert as_production.get_json()["submission_ids"] == [sid]


def test_the_path_names_the_experiment_acted_in(world: World) -> None:
    with world.db.transaction() as session:
        identity.add_experiment(session, "dune")
        token = identity.issue_token(session, "pat", "scoped", experiment=EXP)[1]
    scoped = {"Authorization": f"Bearer {token}"}
    elsewhere = world.client.get("/running_submissions/dune/production", headers=scoped)
    assert elsewhere.status_code == 403
    assert f"only in experiment {EXP}" in elsewhere.get_json()["error"]["message"]
    stranger = world.client.get("/running_submissions/dune/analysis", headers=world.as_("ann"))
    assert stranger.status_code == 403
    assert "not a member of experiment dune" in stranger.get_json()["error"]["message"]
    home = world.client.get(f"/running_submissions/{EXP}/production", headers=scoped)
    assert home.status_code == 200


def test_stage_names_are_looked_up_in_the_experiment_of_the_path(world: World) -> None:
    with world.db.transaction() as session:
        identity.add_experiment(session, "dune")
    answer = world.client.post("/get_submission_id_for/dune/superuser", data={"campaign": "simul"})
    assert answer.status_code == 400
    assert "no stage of experiment dune" in answer.get_json()["error"]["message"]


def test_poms_is_a_base_path_too(world: World) -> None:
    [sid] = world.add()
    answer = world.client.post(
        f"/poms/update_submission/{EXP}/production",
        data={"submission_id": sid, "jobsub_job_id": "3@s"},
        headers=world.as_("pat"),
    )
    assert answer.get_data(as_text=True) == "Ok."
    details = world.client.get(f"/poms/submission_details?submission_id={sid}&fmt=json")
    assert details.status_code == 200 and details.get_json()["batch_id"] == "3@s"


def test_fmt_json_answers_json(world: World) -> None:
    [sid] = world.add()
    answer = world.client.get(f"/submission_details?submission_id={sid}&fmt=json")
    assert answer.mimetype == "application/json"
    assert answer.get_json()["submission_id"] == sid


def test_redirect_0_answers_instead_of_redirecting(world: World) -> None:
    [sid] = world.add()
    fields = {"submission_id": sid, "status": "Idle"}
    sent = world.client.post("/update_submission", data={**fields, "redirect": "1"})
    assert sent.status_code == 303
    kept = world.client.post("/update_submission", data={**fields, "redirect": "0"})
    assert (kept.status_code, kept.get_data(as_text=True)) == (200, "Ok.")


@pytest.mark.parametrize(
    ("call", "fields", "field"),
    [
        ("session_status_history", {}, "submission_id"),
        ("session_status_history", {"submission_id": "one"}, "submission_id"),
        ("update_submission", {"submission_id": "1", "pct_complete": "x"}, "pct_complete"),
        ("campaign_stage_submissions", {"campaign_stage_id": "2", "tdays": "x"}, "tdays"),
    ],
)
def test_errors_are_json_and_name_the_field(
    world: World, call: str, fields: dict[str, Any], field: str
) -> None:
    world.add()
    answer = world.client.post(f"/{call}", data=fields)
    assert answer.status_code == 400 and answer.mimetype == "application/json"
    error = answer.get_json()["error"]
    assert error["status"] == 400 and field in error["message"]


def test_nobody_identified_gets_401(database: Database, tmp_path: Path) -> None:
    client = create_app(Settings(var_dir=tmp_path, dev_user=""), database).test_client()
    for path in ("/update_submission", "/poms/get_submission_id_for/demo/production"):
        answer = client.post(path, data={"submission_id": "1", "campaign_stage_id": "1"})
        assert answer.status_code == 401, path
        assert answer.get_json()["error"]["status"] == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
