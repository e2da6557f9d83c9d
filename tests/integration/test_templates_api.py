"""``/api/v1/login-setups`` and ``/api/v1/job-types``: templates are created, changed,
cloned and deleted field by field, all or nothing, by those the ownership rules allow."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from people import add_people
from sqlalchemy import func, select

from poms_shared.db.models import Experiment, JobType, LoginSetup
from poms_shared.db.session import Database
from poms_shared.db.tables import AuditEntry
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.settings import Settings
from poms_web.app import create_app

EXP = DEMO_EXPERIMENT
PEOPLE = {  # name -> membership role in EXP (None: not a member)
    "sue": "superuser",
    "pat": "production",
    "ann": "analysis",
    "bob": "analysis",
    "nora": None,
}
LOGIN = {"name": "new_login", "launch_host": "h.example", "launch_account": "acct"}
JOB = {"name": "new_job", "launch_script": "run.sh"}


@dataclass
class World:
    db: Database
    client: FlaskClient
    tokens: dict[str, str]

    def call(self, who: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if body is not None:
            kw["json"] = body
        return self.client.open("/api/v1" + path, method=method, headers=headers, **kw)

    def form(self, who: str, compat_method: str, /, **fields: Any) -> Any:
        """A compatibility method, posted as the original client does."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.post(f"/{compat_method}", data=fields, headers=headers)

    def ok(self, who: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        answer = self.call(who, method, path, body)
        assert answer.status_code == status, answer.get_json()
        return answer.get_json()

    def changes(self) -> tuple[int, int, int]:
        with self.db.transaction() as session:
            return (
                session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
                session.scalar(select(func.count()).select_from(LoginSetup)) or 0,
                session.scalar(select(func.count()).select_from(JobType)) or 0,
            )


def build_world(database: Database, tmp_path: Path) -> World:
    """The demo campaign (pat's, production) and people with API tokens."""
    with database.transaction() as session:
        load_samples(session, username="pat")
        tokens = add_people(session, PEOPLE, EXP)
    client = create_app(Settings(var_dir=tmp_path, dev_user=""), database).test_client()
    return World(database, client, tokens)


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[World]:
    yield build_world(database, tmp_path)


def demo_ids(world: World) -> tuple[int, int]:
    """The demo stage's login setup and job type (pat's, in use)."""
    with world.db.transaction() as session:
        setup = session.scalars(select(LoginSetup).where(LoginSetup.name == "demo_local")).one()
        job = session.scalars(select(JobType).where(JobType.name == "demo_job")).one()
        return setup.login_setup_id, job.job_type_id


# ---- login setups -------------------------------------------------------------------------


def test_a_login_setup_is_created_changed_and_deleted_with_an_audit_trail(world: World) -> None:
    made = world.ok("pat", "POST", "/login-setups", {**LOGIN, "launch_setup": "source x"}, 201)
    assert made["creator"] == "pat" and made["creator_role"] == "production"
    assert (made["experiment"], made["active"], made["launch_setup"]) == (EXP, True, "source x")
    ident = made["login_setup_id"]

    changed = world.ok("pat", "PATCH", f"/login-setups/{ident}", {"launch_host": " h2 "})
    assert changed["changed"] == ["launch_host"]
    assert world.ok("pat", "GET", f"/login-setups/{ident}")["launch_host"] == "h2"

    gone = world.ok("pat", "DELETE", f"/login-setups/{ident}")
    assert gone == {"deleted": ident, "name": "new_login"}
    assert world.call("pat", "GET", f"/login-setups/{ident}").status_code == 404
    with world.db.transaction() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_id == str(ident))
        ).all()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "edit_login_setup")
        ).one()
        assert (entry.before, entry.after) == ({"launch_host": "h.example"}, {"launch_host": "h2"})
    assert actions == ["create_login_setup", "edit_login_setup", "delete_login_setup"]


def test_a_login_setup_name_is_unique_in_its_experiment(world: World) -> None:
    world.ok("pat", "POST", "/login-setups", LOGIN, 201)
    before = world.changes()
    again = world.call("ann", "POST", "/login-setups", LOGIN)
    assert again.status_code == 409
    assert "new_login" in again.get_json()["error"]["message"]
    setup_id, _ = demo_ids(world)
    rename = world.call("pat", "PATCH", f"/login-setups/{setup_id}", {"name": "new_login"})
    assert rename.status_code == 409 and "name" in rename.get_json()["error"]["message"]
    assert world.changes() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["name: is required", "launch_host: is required", "launch_account: is required"]),
        ({**LOGIN, "launch_host": "  "}, ["launch_host: must not be empty"]),
        ({**LOGIN, "active": "yes", "launch_setup": 3}, ["active: must be true", "launch_setup"]),
        ({**LOGIN, "name": "a\nb"}, ["name: must not contain"]),
        ({**LOGIN, "host": "x"}, ["host: unknown field"]),
    ],
)
def test_a_bad_login_setup_names_every_bad_field_and_saves_nothing(
    world: World, body: dict[str, Any], fields: list[str]
) -> None:
    before = world.changes()
    answer = world.call("pat", "POST", "/login-setups", body)
    assert answer.status_code == 400
    message = answer.get_json()["error"]["message"]
    assert all(field in message for field in fields), message
    setup_id, _ = demo_ids(world)
    edit = world.call("pat", "PATCH", f"/login-setups/{setup_id}", {"launch_account": ""})
    assert edit.status_code == 400
    assert "launch_account" in edit.get_json()["error"]["message"]
    null = world.call("pat", "PATCH", f"/login-setups/{setup_id}", {"name": None})
    assert null.status_code == 400 and "name:" in null.get_json()["error"]["message"]
    assert world.call("pat", "POST", "/login-setups", data="{").status_code == 400
    assert world.changes() == before


def test_a_login_setup_in_use_is_not_deleted(world: World) -> None:
    setup_id, _ = demo_ids(world)
    before = world.changes()
    answer = world.call("pat", "DELETE", f"/login-setups/{setup_id}")
    assert answer.status_code == 409
    message = answer.get_json()["error"]["message"]
    assert "'demo_local' is used by" in message and "demo_mc/" in message
    assert world.changes() == before


def test_the_login_setup_list_is_filtered_and_paged(world: World) -> None:
    world.ok("ann", "POST", "/login-setups", {**LOGIN, "name": "ann_login"}, 201)
    world.ok("ann", "POST", "/login-setups", {**LOGIN, "name": "ann_old", "active": False}, 201)

    def names(who: str, query: str) -> list[str]:
        return [i["name"] for i in world.ok(who, "GET", f"/login-setups?{query}")["items"]]

    assert names("ann", "mine=true") == ["ann_login", "ann_old"]
    assert "ann_login" not in names("ann", "mine=false")
    assert names("ann", "mine=true&active=false") == ["ann_old"]
    assert names("pat", "q=ANN_L") == ["ann_login"]
    assert names("pat", "creator_role=analysis") == ["ann_login", "ann_old"]
    page = world.ok("pat", "GET", "/login-setups?per_page=1&page=2")
    assert (page["per_page"], page["page"], len(page["items"])) == (1, 2, 1)
    assert page["total"] == page["pages"] >= 3
    mine = world.ok("ann", "GET", "/login-setups?q=ann_login")["items"][0]
    assert mine["may_modify"] is True
    assert world.ok("bob", "GET", "/login-setups?q=ann_login")["items"][0]["may_modify"] is False
    bad = world.call("pat", "GET", "/login-setups?active=maybe")
    assert bad.status_code == 400 and "active" in bad.get_json()["error"]["message"]
    assert world.call("nora", "GET", "/login-setups").status_code == 403


@pytest.mark.parametrize(
    ("owner", "allowed", "refused"),
    [
        ("pat", ["pat", "sue"], ["ann", "bob", "nora"]),  # production's
        ("ann", ["ann", "sue"], ["pat", "bob", "nora"]),  # analysis: its creator only
    ],
)
def test_only_the_owner_rules_let_a_login_setup_change(
    world: World, owner: str, allowed: list[str], refused: list[str]
) -> None:
    ident = world.ok(owner, "POST", "/login-setups", LOGIN, 201)["login_setup_id"]
    before = world.changes()
    for who in refused:
        path = f"/login-setups/{ident}"
        assert world.call(who, "PATCH", path, {"active": False}).status_code == 403, who
        assert world.call(who, "DELETE", path).status_code == 403, who
    assert world.changes() == before
    for n, who in enumerate(allowed):
        world.ok(who, "PATCH", f"/login-setups/{ident}", {"launch_setup": f"v{n}"})
    world.ok(allowed[-1], "DELETE", f"/login-setups/{ident}")


def test_creating_needs_a_creating_role_and_records_it(world: World) -> None:
    made = world.ok("ann", "POST", "/login-setups", LOGIN, 201)
    assert (made["creator"], made["creator_role"]) == ("ann", "analysis")
    # a superuser makes things as production, unless they ask to act as superuser
    assert (
        world.ok("sue", "POST", "/login-setups", {**LOGIN, "name": "s"}, 201)["creator_role"]
        == "production"
    )
    asked = world.call("sue", "POST", "/login-setups?role=superuser", {**LOGIN, "name": "t"})
    assert asked.status_code == 403
    assert world.call("nora", "POST", "/login-setups", {**LOGIN, "name": "n"}).status_code == 403


def test_a_login_setup_is_cloned_into_the_cloners_own_hands(world: World) -> None:
    setup_id, _ = demo_ids(world)
    copy = world.ok("ann", "POST", f"/login-setups/{setup_id}/clone", {"name": "mine"}, 201)
    original = world.ok("ann", "GET", f"/login-setups/{setup_id}")
    assert copy["launch_host"] == original["launch_host"]
    assert (copy["name"], copy["creator"], copy["creator_role"]) == ("mine", "ann", "analysis")
    again = world.call("bob", "POST", f"/login-setups/{setup_id}/clone", {"name": "mine"})
    assert again.status_code == 409
    before = world.changes()
    for body in ({}, {"name": ""}, {"name": "x", "host": "y"}):
        answer = world.call("bob", "POST", f"/login-setups/{setup_id}/clone", body)
        assert answer.status_code == 400
    assert (
        world.call("nora", "POST", f"/login-setups/{setup_id}/clone", {"name": "z"}).status_code
        == 403
    )
    assert world.call("bob", "POST", "/login-setups/999999/clone", {"name": "z"}).status_code == 404
    assert world.changes() == before


def test_shared_templates_are_seen_and_cloned_but_not_changed_by_others(world: World) -> None:
    with world.db.transaction() as session:
        session.add(Experiment(experiment="samdev", name="shared"))
        session.flush()
        shared = LoginSetup(
            experiment="samdev", name="generic", launch_host="g", launch_account="a"
        )
        session.add(shared)
        session.flush()
        ident = shared.login_setup_id
    assert world.ok("ann", "GET", f"/login-setups/{ident}")["shared"] is True
    listed = world.ok("ann", "GET", "/login-setups?shared=true&q=generic")["items"]
    assert [(i["name"], i["experiment"]) for i in listed] == [("generic", "samdev")]
    assert world.ok("ann", "GET", "/login-setups?q=generic")["items"] == []
    assert (
        world.call("pat", "PATCH", f"/login-setups/{ident}", {"active": False}).status_code == 403
    )
    copy = world.ok("pat", "POST", f"/login-setups/{ident}/clone", {"name": "generic"}, 201)
    assert copy["experiment"] == EXP and copy["shared"] is False


# ---- job types ----------------------------------------------------------------------------

RECOVERIES = [
    {"recovery_type": "consumed_status", "param_overrides": [["-Omem=", "2000MB"]]},
    {"recovery_type": "proj_status"},
]


def test_a_job_type_keeps_its_parameters_and_ordered_recoveries(world: World) -> None:
    body = {
        **JOB,
        "definition_parameters": [["--n ", 3], ["-x", "y"]],
        "output_file_patterns": "%.root",
        "input_files_per_job": 2,
        "output_files_per_job": 1,
        "active": False,
        "recoveries": RECOVERIES,
    }
    made = world.ok("pat", "POST", "/job-types", body, 201)
    ident = made["job_type_id"]
    shown = world.ok("pat", "GET", f"/job-types/{ident}")
    assert shown["definition_parameters"] == [["--n ", "3"], ["-x", "y"]]
    assert (shown["input_files_per_job"], shown["active"]) == (2, False)
    assert shown["recoveries"] == [
        {
            "position": 0,
            "recovery_type": "consumed_status",
            "param_overrides": [["-Omem=", "2000MB"]],
        },
        {"position": 1, "recovery_type": "process_status", "param_overrides": []},
    ]
    replaced = world.ok(
        "pat", "PUT", f"/job-types/{ident}/recoveries", [["added_files", [["a", "b"]]]]
    )
    assert replaced["recoveries"] == [
        {"position": 0, "recovery_type": "added_files", "param_overrides": [["a", "b"]]}
    ]
    listed = world.ok("pat", "GET", f"/job-types/{ident}/recoveries")["recoveries"]
    assert listed == replaced["recoveries"]
    edited = world.ok("pat", "PATCH", f"/job-types/{ident}", {"output_file_patterns": ""})
    assert edited["job_type"]["output_file_patterns"] == "%"
    defaults = world.ok("pat", "POST", "/job-types", {"name": "j2", "launch_script": "s"}, 201)
    assert (defaults["definition_parameters"], defaults["recoveries"]) == ([], [])
    assert defaults["active"] is True and defaults["output_file_patterns"] == "%"


def test_the_recovery_types_are_listed(world: World) -> None:
    names = [i["name"] for i in world.ok("ann", "GET", "/recovery-types")["items"]]
    assert names == sorted(
        [
            "added_files",
            "consumed_status",
            "delivered_not_consumed",
            "pending_files",
            "process_status",
        ]
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "j"}, ["launch_script: is required"]),
        (
            {**JOB, "definition_parameters": [["a"]], "input_files_per_job": -1},
            ["definition_parameters", "input_files_per_job"],
        ),
        ({**JOB, "output_files_per_job": 1.5, "active": 1}, ["output_files_per_job", "active"]),
        ({**JOB, "recoveries": [{"recovery_type": "nope"}]}, ["recoveries: entry 0", "nope"]),
        (
            {**JOB, "recoveries": [{"recovery_type": "added_files", "param_overrides": "x"}]},
            ["recoveries"],
        ),
        ({**JOB, "recoveries": {"a": 1}}, ["recoveries: must be a list"]),
    ],
)
def test_a_bad_job_type_names_every_bad_field_and_saves_nothing(
    world: World, body: dict[str, Any], fields: list[str]
) -> None:
    before = world.changes()
    answer = world.call("pat", "POST", "/job-types", body)
    assert answer.status_code == 400
    message = answer.get_json()["error"]["message"]
    assert all(field in message for field in fields), message
    _, job_id = demo_ids(world)
    bad = {k: v for k, v in body.items() if k not in JOB}
    if bad:  # the same fields are refused in an edit, and the good ones not applied
        patched = world.call("pat", "PATCH", f"/job-types/{job_id}", {**bad, "name": "renamed"})
        assert patched.status_code == 400
    assert world.changes() == before


def test_a_bad_recovery_list_changes_nothing(world: World) -> None:
    _, job_id = demo_ids(world)
    original = world.ok("pat", "GET", f"/job-types/{job_id}/recoveries")["recoveries"]
    before = world.changes()
    bodies: list[Any] = [
        [{"recovery_type": "consumed_status"}, {"recovery_type": "bogus"}],
        {"recoveries": 3},
        {"other": []},
        "text",
    ]
    for body in bodies:
        answer = world.call("pat", "PUT", f"/job-types/{job_id}/recoveries", body)
        assert answer.status_code == 400, body
        assert "recoveries" in answer.get_json()["error"]["message"]
    assert world.ok("pat", "GET", f"/job-types/{job_id}/recoveries")["recoveries"] == original
    assert world.changes() == before


def test_a_job_type_in_use_is_kept_and_an_unused_one_goes_with_its_recoveries(
    world: World,
) -> None:
    _, job_id = demo_ids(world)
    used = world.call("pat", "DELETE", f"/job-types/{job_id}")
    assert used.status_code == 409 and "demo_job" in used.get_json()["error"]["message"]
    ident = world.ok("pat", "POST", "/job-types", {**JOB, "recoveries": RECOVERIES}, 201)[
        "job_type_id"
    ]
    world.ok("pat", "DELETE", f"/job-types/{ident}")
    assert world.call("pat", "GET", f"/job-types/{ident}").status_code == 404


@pytest.mark.parametrize(
    ("owner", "allowed", "refused"),
    [
        ("pat", ["pat", "sue"], ["ann", "bob", "nora"]),
        ("ann", ["ann", "sue"], ["pat", "bob", "nora"]),
    ],
)
def test_only_the_owner_rules_let_a_job_type_change(
    world: World, owner: str, allowed: list[str], refused: list[str]
) -> None:
    ident = world.ok(owner, "POST", "/job-types", JOB, 201)["job_type_id"]
    before = world.changes()
    for who in refused:
        base = f"/job-types/{ident}"
        assert world.call(who, "PATCH", base, {"active": False}).status_code == 403, who
        assert world.call(who, "PUT", f"{base}/recoveries", []).status_code == 403, who
        assert world.call(who, "DELETE", base).status_code == 403, who
    assert world.changes() == before
    for who in allowed:
        world.ok(who, "PUT", f"/job-types/{ident}/recoveries", RECOVERIES)
    world.ok(allowed[0], "DELETE", f"/job-types/{ident}")


def test_a_job_type_clone_copies_its_recoveries(world: World) -> None:
    ident = world.ok("pat", "POST", "/job-types", {**JOB, "recoveries": RECOVERIES}, 201)[
        "job_type_id"
    ]
    copy = world.ok("bob", "POST", f"/job-types/{ident}/clone", {"name": "bobs"}, 201)
    assert copy["creator"] == "bob" and copy["creator_role"] == "analysis"
    assert [r["recovery_type"] for r in copy["recoveries"]] == ["consumed_status", "process_status"]
    world.ok("bob", "PATCH", f"/job-types/{copy['job_type_id']}", {"launch_script": "mine.sh"})
    assert world.ok("pat", "GET", f"/job-types/{ident}")["launch_script"] == "run.sh"
    listed = world.ok("bob", "GET", "/job-types?mine=true")["items"]
    assert [i["name"] for i in listed] == ["bobs"]
