"""The original client's login setup and job type methods (reference §8.2, §8.5, §12.7),
with the same checks as ``/api/v1``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_templates_api import JOB, LOGIN, World, build_world, demo_ids

from poms_shared.db.session import Database
from poms_shared.db.tables import AuditEntry, OutboxMessage

ADD_LOGIN = {
    "action": "add",
    "pcl_call": "1",
    "ae_launch_name": "cl_login",
    "ae_launch_host": "h.example",
    "ae_launch_account": "acct",
    "ae_launch_setup": "source it",
}
ADD_JOB = {
    "action": "add",
    "pcl_call": "1",
    "ae_definition_name": "cl_job",
    "ae_launch_script": "run.sh",
    "ae_definition_parameters": '[["-n ", "3"]]',
    "ae_input_files_per_job": "2",
    "ae_definition_recovery": '[["consumed_status", [["-Om=", "1"]]]]',
}


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[World]:
    yield build_world(database, tmp_path)


def ok(answer: Any) -> Any:
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return json.loads(answer.get_data(as_text=True))


def error(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)
    message: str = answer.get_json()["error"]["message"]
    return message


# ---- login setups -------------------------------------------------------------------------


def test_the_client_adds_edits_and_deletes_a_login_setup(world: World) -> None:
    added = ok(world.form("pat", "login_setup_edit", **ADD_LOGIN))
    ident = added["login_setup_id"]
    assert "cl_login" in added["message"]
    [row] = [t for t in added["templates"] if t["name"] == "cl_login"]
    assert (row["launch_setup"], row["active"], row["creator_role"]) == (
        "source it",
        True,
        "production",
    )

    edit = {"action": "edit", "pcl_call": "1", "ae_launch_name": "cl_login"}
    edited = ok(world.form("pat", "launch_template_edit", **edit, ae_launch_host="h2"))
    assert edited["login_setup_id"] == ident
    shown = world.ok("pat", "GET", f"/login-setups/{ident}")
    assert (shown["launch_host"], shown["launch_setup"]) == ("h2", "source it")
    ok(world.form("pat", "login_setup_edit", action="edit", ae_launch_id=ident, ae_active="False"))
    assert world.ok("pat", "GET", f"/login-setups/{ident}")["active"] is False

    deleted = ok(world.form("pat", "login_setup_edit", action="delete", ae_launch_name="cl_login"))
    assert "deleted" in deleted["message"]
    assert world.call("pat", "GET", f"/login-setups/{ident}").status_code == 404


def test_a_bad_or_duplicate_client_login_setup_is_refused_naming_the_field(world: World) -> None:
    before = world.changes()
    missing = {**ADD_LOGIN, "ae_launch_host": ""}
    assert "ae_launch_host: must not be empty" in error(
        world.form("pat", "login_setup_edit", **missing), 400
    )
    assert "ae_active" in error(
        world.form("pat", "login_setup_edit", **ADD_LOGIN, ae_active="perhaps"), 400
    )
    assert "action" in error(world.form("pat", "login_setup_edit", action="move"), 400)
    assert world.changes() == before
    ok(world.form("pat", "login_setup_edit", **ADD_LOGIN))
    assert "cl_login" in error(world.form("ann", "login_setup_edit", **ADD_LOGIN), 409)
    unknown = {"action": "edit", "ae_launch_name": "nothing_here"}
    assert "nothing_here" in error(world.form("pat", "login_setup_edit", **unknown), 404)


def test_login_setup_rm_removes_only_what_the_caller_may_change(world: World) -> None:
    ok(world.form("ann", "login_setup_edit", **ADD_LOGIN))
    before = world.changes()
    for who in ("bob", "pat"):
        error(world.form(who, "login_setup_rm", ae_launch_name="cl_login"), 403)
    assert world.changes() == before
    answer = ok(world.form("ann", "login_setup_rm", ae_launch_name="cl_login"))
    assert answer == {"message": "The login setup 'cl_login' has been deleted."}
    assert "demo_local" in error(
        world.form("pat", "login_setup_rm", ae_launch_name="demo_local"), 409
    )
    assert "ae_launch_name" in error(world.form("pat", "login_setup_rm"), 400)


def test_login_setup_lookups_answer_for_the_acting_experiment(world: World) -> None:
    setup_id, _ = demo_ids(world)
    assert ok(world.form("ann", "get_loginsetup_id", name="demo_local")) == setup_id
    assert ok(world.form("ann", "get_loginsetup_id", name="nothing")) is None
    error(world.form("nora", "get_loginsetup_id", name="demo_local"), 403)
    names = ok(world.form("ann", "loginsetup_list"))
    assert {"name": "demo_local"} in names and all(list(n) == ["name"] for n in names)
    full = ok(world.form("ann", "loginsetup_list", full="1"))
    [demo] = [n for n in full if n["name"] == "demo_local"]
    assert set(demo) == {"name", "launch_host", "launch_account", "launch_setup"}


def test_the_listing_follows_the_view_flags(world: World) -> None:
    world.ok("ann", "POST", "/login-setups", {**LOGIN, "name": "old", "active": False}, 201)
    world.ok("ann", "POST", "/login-setups", {**LOGIN, "name": "new"}, 201)
    default = ok(world.form("ann", "login_setup_edit"))
    assert [t["name"] for t in default["templates"]] == ["new"]  # active analysis ones
    inactive = {"update_view": "1", "view_inactive": "1", "view_mine": "1"}
    listed = ok(world.form("ann", "login_setup_edit", **inactive))
    assert [t["name"] for t in listed["templates"]] == ["old"]
    assert listed["authorized"] == [True]
    production = ok(world.form("bob", "login_setup_edit", update_view="1", view_production="1"))
    assert "demo_local" in [t["name"] for t in production["templates"]]
    assert not any(production["authorized"])


# ---- job types ----------------------------------------------------------------------------


def test_the_client_adds_and_edits_a_job_type(world: World) -> None:
    added = ok(world.form("pat", "job_type_edit", **ADD_JOB))
    ident = added["job_type_id"]
    assert "consumed_status" in [r[0] for r in added["rtypes"]]
    shown = world.ok("pat", "GET", f"/job-types/{ident}")
    assert shown["definition_parameters"] == [["-n ", "3"]]
    assert (shown["input_files_per_job"], shown["output_file_patterns"]) == (2, "%")
    assert shown["recoveries"][0]["param_overrides"] == [["-Om=", "1"]]
    edit = {"action": "edit", "pcl_call": "1", "ae_definition_name": "cl_job"}
    ok(world.form("pat", "campaign_definition_edit", **edit, ae_launch_script="new.sh"))
    shown = world.ok("pat", "GET", f"/job-types/{ident}")
    assert shown["launch_script"] == "new.sh" and len(shown["recoveries"]) == 1
    ok(world.form("pat", "job_type_edit", action="delete", ae_definition_name="cl_job"))
    assert world.call("pat", "GET", f"/job-types/{ident}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ae_launch_script": ""}, "ae_launch_script"),
        ({"ae_definition_parameters": "[[1, 2"}, "ae_definition_parameters"),
        ({"ae_definition_parameters": '[["only one"]]'}, "ae_definition_parameters"),
        ({"ae_input_files_per_job": "many"}, "ae_input_files_per_job"),
        ({"ae_output_files_per_job": "-2"}, "ae_output_files_per_job"),
        ({"ae_definition_recovery": '[["bogus", []]]'}, "ae_definition_recovery"),
    ],
)
def test_a_bad_client_job_type_names_the_form_field(
    world: World, change: dict[str, str], field: str
) -> None:
    before = world.changes()
    assert field in error(world.form("pat", "job_type_edit", **{**ADD_JOB, **change}), 400)
    assert world.changes() == before


def test_job_type_edit_checks_the_job_type_not_the_login_setup_it_names(world: World) -> None:
    """The reference checked MODIFY on the login setup ``ae_launch_name``; here the job type
    itself decides."""
    ok(world.form("ann", "login_setup_edit", **ADD_LOGIN))  # ann's own login setup
    edit = {
        "action": "edit",
        "pcl_call": "1",
        "ae_definition_name": "demo_job",  # pat's, production
        "ae_launch_name": "cl_login",
        "ae_launch_script": "hijack.sh",
    }
    before = world.changes()
    error(world.form("ann", "job_type_edit", **edit), 403)
    assert world.changes() == before
    edit["ae_launch_name"] = "demo_local"
    ok(world.form("pat", "job_type_edit", **{**edit, "ae_launch_script": "fine.sh"}))
    _, job_id = demo_ids(world)
    assert world.ok("pat", "GET", f"/job-types/{job_id}")["launch_script"] == "fine.sh"


def test_job_type_rm_removes_only_what_the_caller_may_change(world: World) -> None:
    ok(world.form("ann", "job_type_edit", **ADD_JOB))
    before = world.changes()
    error(world.form("bob", "job_type_rm", ae_definition_name="cl_job"), 403)
    error(world.form("pat", "job_type_rm", ae_definition_name="cl_job"), 403)
    assert world.changes() == before
    assert ok(world.form("ann", "job_type_rm", ae_definition_name="cl_job")) == {
        "message": "The job type 'cl_job' has been deleted."
    }
    assert "used by" in error(world.form("pat", "job_type_rm", ae_definition_name="demo_job"), 409)


def test_recoveries_are_merged_into_every_entry_of_a_type_and_new_ones_appended(
    world: World,
) -> None:
    body = {
        **JOB,
        "recoveries": [
            ["consumed_status", [["a", "1"], ["keep", "k"]]],
            ["added_files", []],
            ["pending_files", [["p", "1"]]],
        ],
    }
    ident = world.ok("pat", "POST", "/job-types", body, 201)["job_type_id"]
    new = [["consumed_status", [["a", "2"], ["b", "3"]]], ["delivered_not_consumed", []]]
    merged = ok(
        world.form(
            "pat", "modify_job_type_recoveries", job_type_id=ident, recoveries=json.dumps(new)
        )
    )
    # the reference merged only into its last entry; every existing type is merged here
    assert merged == [
        ["consumed_status", [["a", "2"], ["keep", "k"], ["b", "3"]]],
        ["added_files", []],
        ["pending_files", [["p", "1"]]],
        ["delivered_not_consumed", []],
    ]
    shown = world.ok("pat", "GET", f"/job-types/{ident}/recoveries")["recoveries"]
    assert [r["position"] for r in shown] == [0, 1, 2, 3]
    before = world.changes()
    bad = world.form(
        "pat", "modify_job_type_recoveries", job_type_id=ident, recoveries='[["x", []]]'
    )
    assert "recoveries" in error(bad, 400)
    assert "job_type_id" in error(
        world.form("pat", "modify_job_type_recoveries", recoveries="[]"), 400
    )
    refused = world.form("ann", "modify_job_type_recoveries", job_type_id=ident, recoveries="[]")
    error(refused, 403)
    assert world.changes() == before


def test_job_type_lookups_answer_for_the_acting_experiment(world: World) -> None:
    _, job_id = demo_ids(world)
    assert ok(world.form("bob", "get_jobtype_id", name="demo_job")) == job_id
    assert ok(world.form("bob", "get_jobtype_id", name="none")) is None
    assert "name" in error(world.form("bob", "get_jobtype_id"), 400)
    assert {"name": "demo_job"} in ok(world.form("bob", "jobtype_list"))
    error(world.form("nora", "jobtype_list"), 403)


def test_test_template_launches_a_test_of_the_saved_login_setup(world: World) -> None:
    answer = world.form("pat", "login_setup_edit", **ADD_LOGIN, test_template="1")
    assert answer.status_code == 303
    location = answer.headers["Location"]
    ident = world.ok("pat", "GET", "/login-setups?q=cl_login")["items"][0]["login_setup_id"]
    assert location.startswith(f"/api/v1/login-setups/{ident}/tests/")
    with world.db.transaction() as session:
        sent = session.scalars(select(OutboxMessage.body)).all()
        tests = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "test_login_setup")
        ).all()
    assert any(
        f'"login_setup_id": {ident}' in body or f'"login_setup_id":{ident}' in body for body in sent
    )
    assert [t.after["log"] for t in tests] == [location.rsplit("/", 1)[1]]
    edit = {"action": "edit", "ae_launch_id": ident, "test_template": "1", "redirect": "0"}
    again = world.form("pat", "login_setup_edit", **edit)
    assert again.status_code == 200
    assert again.get_data(as_text=True).startswith(f"/api/v1/login-setups/{ident}/tests/")
    # testing is operating: an analysis user may not test production's login setup
    refused = world.form("ann", "login_setup_edit", **{**edit, "ae_launch_id": demo_ids(world)[0]})
    assert refused.status_code == 403
