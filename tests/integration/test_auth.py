"""Identity, API tokens and the permission matrix, through the web API.

Every mutating endpoint is tried by every kind of person on a production-made and an
analysis-made object: the allowed get anything but 401/403, the refused get 403 and
change nothing (no audit row, no message).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import matrix_rows_campaigns
import matrix_rows_stages
import matrix_rows_submissions
import matrix_rows_templates
import pytest
from flask.testing import FlaskClient
from people import add_people
from sqlalchemy import func, select

from poms_shared.cli.main import main as poms
from poms_shared.db import identity
from poms_shared.db.models import ApiToken, CampaignStage, JobType, LoginSetup
from poms_shared.db.session import Database
from poms_shared.db.tables import AuditEntry, OutboxMessage
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT, demo_ini
from poms_shared.demo.load import load_samples
from poms_shared.settings import Settings
from poms_shared.testing.stack import free_port
from poms_shared.testing.submissions import add_submissions
from poms_web.adapters import launching
from poms_web.app import create_app

EXP = DEMO_EXPERIMENT
ANA = "ann_study"  # the analysis campaign ann makes
PEOPLE = {  # name -> (membership role in EXP or None, root)
    "admin": (None, True),
    "sue": ("superuser", False),
    "pat": ("production", False),
    "shay": ("production-shifter", False),
    "ann": ("analysis", False),
    "bob": ("analysis", False),
    "nora": (None, False),
}


@dataclass
class World:
    db: Database
    client: FlaskClient
    tokens: dict[str, str]
    ids: dict[str, dict[str, int]]  # "prod"/"ana" -> object ids

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def ana_ini() -> str:
    """The demo campaign renamed, with templates of its own, for ann."""
    text = demo_ini().replace(f"name={DEMO_CAMPAIGN}", f"name={ANA}")
    text = text.replace("poms_role=production", "poms_role=analysis")
    return text.replace("demo_local", "ann_local").replace("demo_job", "ann_job")


def _ids(session: Any, campaign: str) -> dict[str, int]:
    stage = session.scalars(
        select(CampaignStage)
        .where(CampaignStage.experiment == EXP, CampaignStage.name == "simulate")
        .join(CampaignStage.campaign)
        .where(CampaignStage.campaign.has(name=campaign))
    ).one()
    [sid] = add_submissions(session, stage.campaign_stage_id, 1)
    return {
        "stage": stage.campaign_stage_id,
        "submission": sid,
        "login_setup": stage.login_setup_id,
        "job_type": stage.job_type_id,
    }


@pytest.fixture
def world(database: Database, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(launching, "LAUNCH_WAIT", 0.2)  # nobody answers launches here
    with database.transaction() as session:
        load_samples(session, username="pat")
        roles = {name: role for name, (role, _) in PEOPLE.items()}
        roots = [name for name, (_, root) in PEOPLE.items() if root]
        tokens = add_people(session, roles, EXP, roots)
    settings = Settings(var_dir=tmp_path, dev_user="")
    client = create_app(settings, database).test_client()
    made = client.post(
        "/api/v1/campaigns/ini",
        data=ana_ini(),
        headers={"Authorization": f"Bearer {tokens['ann']}"},
    )
    assert made.status_code == 201, made.get_json()
    with database.transaction() as session:
        ids = {"prod": _ids(session, DEMO_CAMPAIGN), "ana": _ids(session, ANA)}
    yield World(database, client, tokens, ids)


# ---- identity ---------------------------------------------------------------------------


def test_nobody_identified_gets_401_with_how_to_sign_in(world: World) -> None:
    response = world.client.get("/api/v1/campaigns")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.get_json()["error"]["message"]
    assert world.client.get("/healthz").status_code == 200  # health stays open


def test_a_token_identifies_its_user_until_revoked(world: World) -> None:
    me = world.client.get("/api/v1/me", headers=world.as_("pat")).get_json()
    assert me["username"] == "pat"
    assert me["acting"] == {"experiment": EXP, "role": "production"}
    assert world.client.get("/api/v1/tokens", headers=world.as_("bob")).status_code == 200

    [mine] = world.client.get("/api/v1/tokens", headers=world.as_("pat")).get_json()["items"]
    assert "token" not in mine and mine["usable"]
    assert (
        world.client.delete(
            f"/api/v1/tokens/{mine['token_id']}", headers=world.as_("bob")
        ).status_code
        == 404
    )
    revoked = world.client.delete(f"/api/v1/tokens/{mine['token_id']}", headers=world.as_("pat"))
    assert revoked.status_code == 200 and not revoked.get_json()["usable"]
    refused = world.client.get("/api/v1/me", headers=world.as_("pat"))
    assert refused.status_code == 401
    assert "revoked" in refused.get_json()["error"]["message"]


def test_tokens_are_stored_hashed_and_expire(world: World) -> None:
    made = world.client.post(
        "/api/v1/tokens", json={"name": "cron", "expires_days": 1}, headers=world.as_("shay")
    )
    assert made.status_code == 201
    secret = made.get_json()["token"]
    with world.db.transaction() as session:
        row = session.get(ApiToken, made.get_json()["token_id"])
        assert row is not None and secret not in (row.token_hash, row.prefix)
        row.expires = datetime.now(UTC) - timedelta(minutes=1)
    answer = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 401
    assert "expired" in answer.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "x", "expires_days": 0}, "expires_days"),
        ({"name": "x", "role": "boss", "experiment": EXP}, "not boss"),
        ({"name": "x", "experiment": "nowhere"}, "not a member"),
    ],
)
def test_a_bad_token_request_names_the_problem(world: World, body: Any, field: str) -> None:
    answer = world.client.post("/api/v1/tokens", json=body, headers=world.as_("ann"))
    assert answer.status_code in (400, 403)
    assert field in answer.get_json()["error"]["message"]


def test_a_scoped_token_acts_only_in_its_experiment_and_role(world: World) -> None:
    made = world.client.post(
        "/api/v1/tokens",
        json={"name": "shift", "experiment": EXP, "role": "analysis"},
        headers=world.as_("pat"),
    ).get_json()
    scoped = {"Authorization": f"Bearer {made['token']}"}
    me = world.client.get("/api/v1/me", headers=scoped).get_json()
    assert me["acting"] == {"experiment": EXP, "role": "analysis"}
    stage = world.ids["prod"]["stage"]
    assert (
        world.client.get(f"/api/v1/stages/{stage}?role=production", headers=scoped).status_code
        == 403
    )
    # acting as analysis, pat may not change production's stage
    assert (
        world.client.patch(
            f"/api/v1/stages/{stage}", json={"completion_pct": 50}, headers=scoped
        ).status_code
        == 403
    )


def test_the_sso_header_counts_only_from_a_trusted_proxy(database: Database, tmp_path: Any) -> None:
    with database.transaction() as session:
        load_samples(session, username="pat")
    settings = Settings(var_dir=tmp_path, dev_user="", trusted_proxies=("10.0.0.0/8",))
    client = create_app(settings, database).test_client()
    header = {"X-Shib-Userid": "pat"}
    trusted = client.get("/api/v1/me", headers=header, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert trusted.status_code == 200 and trusted.get_json()["username"] == "pat"
    spoofed = client.get("/api/v1/me", headers=header, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert spoofed.status_code == 401
    stranger = client.get(
        "/api/v1/me", headers={"X-Shib-Userid": "mallory"}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert stranger.status_code == 401 and "unknown user" in stranger.get_json()["error"]["message"]


def test_the_development_login_is_marked_on_every_answer(database: Database, tmp_path: Any) -> None:
    client = create_app(Settings(var_dir=tmp_path), database).test_client()
    answer = client.get("/api/v1/me")
    assert answer.status_code == 200
    assert answer.headers["X-POMS-Dev-Login"] == "poms"
    assert answer.get_json()["dev_login"] is True


def test_poms_admin_bootstraps_a_user_who_can_then_call_the_api(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "POMS_DATABASE_URL", str(world.db.engine.url.render_as_string(hide_password=False))
    )
    assert poms(["admin", "experiment", "dune", "--name", "DUNE"]) == 0
    assert poms(["admin", "user", "carol", "--first-name", "Carol"]) == 0
    assert poms(["admin", "member", "carol", "dune", "production"]) == 0
    capsys.readouterr()
    assert poms(["admin", "token", "carol", "--name", "automation"]) == 0
    secret = capsys.readouterr().out.strip()
    me = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert me["memberships"] == {"dune": "production"}
    assert poms(["admin", "member", "carol", "nowhere", "production"]) == 1
    assert "no experiment 'nowhere'" in capsys.readouterr().err
    monkeypatch.setenv("POMS_DATABASE_URL", f"postgresql://poms@127.0.0.1:{free_port()}/poms")
    assert poms(["admin", "members", "dune"]) == 1
    refused = capsys.readouterr().err
    assert refused.startswith("poms: the database refused: OperationalError") and "\n" in refused
    assert "Traceback" not in refused


# ---- the permission matrix ------------------------------------------------------------


Y, N = True, False
# (act, object) -> person -> allowed, acting in their membership's role
EXPECTED = {
    ("do", "prod"): dict(admin=Y, sue=Y, pat=Y, shay=Y, ann=N, bob=N, nora=N),
    ("do", "ana"): dict(admin=Y, sue=Y, pat=Y, shay=N, ann=Y, bob=N, nora=N),
    ("modify", "prod"): dict(admin=Y, sue=Y, pat=Y, shay=N, ann=N, bob=N, nora=N),
    ("modify", "ana"): dict(admin=Y, sue=Y, pat=N, shay=N, ann=Y, bob=N, nora=N),
    ("admin", None): dict(admin=Y, sue=N, pat=N, shay=N, ann=N, bob=N, nora=N),
    ("superuser", None): dict(admin=Y, sue=Y, pat=N, shay=N, ann=N, bob=N, nora=N),
    # objects are made as production, or as analysis by those whose role makes nothing
    ("create", None): dict(admin=Y, sue=Y, pat=Y, shay=Y, ann=Y, bob=Y, nora=N),
}

LOG = "000 (1.0.0) 01/01 00:00:00 Job submitted from host: <h>\n...\n"

# name -> (act, call, body). call is "METHOD /path under /api/v1" or "FORM /method" (a
# compatibility method: a form POST at the root); the path is formatted with the target's
# ids. body: a dict is sent as JSON (FORM: as form fields, each value formatted with the
# ids), a name is made for the target by BODIES. Each area adds its rows in
# matrix_rows_<area>.py.
CORE: dict[str, tuple[str, str, Any]] = {
    "launch campaign": ("do", "POST /campaigns/{campaign}/launch", {}),
    "pause campaign": ("do", "POST /campaigns/{campaign}/pause", None),
    "kill campaign jobs": ("do", "POST /campaigns/{campaign}/jobs/kill", None),
    "upload campaign ini": ("modify", "POST /campaigns/ini", "ini"),
    "edit stage": ("modify", "PATCH /stages/{stage}", {"completion_pct": 80}),
    "launch stage": ("do", "POST /stages/{stage}/launch", {"commands_only": True}),
    "hold stage": ("do", "POST /stages/{stage}/hold", None),
    "schedule stage": ("modify", "PUT /stages/{stage}/schedule", {"cron": "0 3 * * *"}),
    "move split": ("modify", "POST /stages/{stage}/split", {"reset": True}),
    "hold stage jobs": ("do", "POST /stages/{stage}/jobs/hold", None),
    "kill submission": ("do", "POST /submissions/{submission}/kill", None),
    "force locate": ("do", "POST /submissions/{submission}/force-locate", None),
    "abort launch": ("do", "POST /submissions/{submission}/abort", None),
    "report job events": ("do", "POST /job-events", "events"),
    "declare files": ("do", "POST /files", "files"),
    "condor log": ("do", "POST /submissions/{submission}/condor-log", "log"),
    "test login setup": ("do", "POST /login-setups/{login_setup}/test", None),
    "test job type": ("do", "POST /job-types/{job_type}/test", {"commands_only": True}),
    "hold all launches": ("admin", "POST /launches/hold", None),
    "set a member": ("superuser", f"PUT /experiments/{EXP}/members/bob", {"role": "analysis"}),
}
ENDPOINTS = {
    **CORE,
    **matrix_rows_campaigns.ROWS,
    **matrix_rows_templates.ROWS,
    **matrix_rows_stages.ROWS,
    **matrix_rows_submissions.ROWS,
}
BODIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ini": lambda ids: {"data": ids["ini"]},
    "log": lambda ids: {"data": LOG},
    "events": lambda ids: {"json": {"events": [job_event(ids)]}},
    "files": lambda ids: {"json": declared(ids)},
    **matrix_rows_campaigns.BODIES,
    **matrix_rows_templates.BODIES,
    **matrix_rows_stages.BODIES,
    **matrix_rows_submissions.BODIES,
}


def job_event(ids: dict[str, int]) -> dict[str, Any]:
    return {
        "source": "t",
        "backend": "local",
        "batch_job_id": f"{ids['submission']}.0@t",
        "submission_id": ids["submission"],
        "state": "running",
        "seq": 1,
        "at": "2026-01-01T00:00:00+00:00",
    }


def declared(ids: dict[str, int]) -> dict[str, Any]:
    return {"experiment": EXP, "submission_id": ids["submission"], "files": [{"name": "x.root"}]}


def request(world: World, endpoint: str, ids: dict[str, Any], person: str) -> Any:
    _, call, body = ENDPOINTS[endpoint]
    method, path = call.split(" ", 1)
    if method == "FORM":
        form = {k: str(v).format(**ids) for k, v in (body or {}).items()}
        return world.client.post(path.format(**ids), data=form, headers=world.as_(person))
    sent = BODIES[body](ids) if isinstance(body, str) else {} if body is None else {"json": body}
    return world.client.open(
        "/api/v1" + path.format(**ids), method=method, headers=world.as_(person), **sent
    )


def _changes(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        audit = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        outbox = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    return audit, outbox


def _targets(world: World) -> dict[str, dict[str, Any]]:
    ini = {"prod": demo_ini(), "ana": ana_ini()}
    name = {"prod": DEMO_CAMPAIGN, "ana": ANA}
    return {key: {**ids, "campaign": name[key], "ini": ini[key]} for key, ids in world.ids.items()}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_the_permission_matrix(world: World, endpoint: str) -> None:
    act = ENDPOINTS[endpoint][0]
    targets = _targets(world)
    objects = ["prod", "ana"] if act in ("do", "modify") else [None]
    assert all((act, obj) in EXPECTED for obj in objects), f"unknown act {act!r}"
    wrong = []
    for obj in objects:
        ids = targets[obj or "prod"]
        # the refused first: an allowed call may delete or change the object
        for person, allowed in sorted(EXPECTED[(act, obj)].items(), key=lambda pa: pa[1]):
            before = _changes(world.db)
            answer = request(world, endpoint, ids, person)
            code = answer.status_code
            if allowed and code in (401, 403):
                wrong.append(
                    f"{person} on {obj}: refused {code} {answer.get_data(as_text=True)[:200]}"
                )
            elif not allowed and code != 403:
                wrong.append(f"{person} on {obj}: expected 403, got {code}")
            elif not allowed and _changes(world.db) != before:
                wrong.append(f"{person} on {obj}: refused, yet something changed")
            elif code >= 500:
                wrong.append(f"{person} on {obj}: server error {code}")
    assert not wrong, f"{endpoint}:\n" + "\n".join(wrong)


def test_templates_keep_their_owner(world: World) -> None:
    """What ann's upload made is hers, as analysis."""
    with world.db.transaction() as session:
        setup = session.get(LoginSetup, world.ids["ana"]["login_setup"])
        job_type = session.get(JobType, world.ids["ana"]["job_type"])
        assert setup is not None and job_type is not None
        assert (setup.creator_role, job_type.creator_role) == ("analysis", "analysis")


# ---- the audit log ----------------------------------------------------------------------


def test_the_audit_log_records_each_change_in_its_experiment(world: World) -> None:
    stage = world.ids["prod"]["stage"]
    edit = world.client.patch(
        f"/api/v1/stages/{stage}", json={"completion_pct": 70}, headers=world.as_("pat")
    )
    assert edit.status_code == 200
    with world.db.transaction() as session:
        identity.add_experiment(session, "other", "Other")
        identity.set_membership(session, "sue", "other", "analysis")
    assert world.client.post("/api/v1/launches/hold", headers=world.as_("admin")).status_code < 300

    everything = world.client.get("/api/v1/audit?per_page=1000", headers=world.as_("admin"))
    rows = everything.get_json()["items"]
    [change] = [r for r in rows if r["entity_id"] == str(stage) and r["actor"] == "pat"]
    assert change["experiment"] == EXP
    assert change["before"] != change["after"]
    assert any(r["experiment"] is None for r in rows)  # the global hold: no experiment

    # sue is a member of two experiments now, so she names the one she acts in
    ambiguous = world.client.get("/api/v1/audit", headers=world.as_("sue"))
    assert ambiguous.status_code == 403
    assert "experiment" in ambiguous.get_json()["error"]["message"]
    sues = world.client.get(
        f"/api/v1/audit?per_page=1000&experiment={EXP}", headers=world.as_("sue")
    ).get_json()
    assert sues["total"] < everything.get_json()["total"]
    assert {r["experiment"] for r in sues["items"]} == {EXP}
    mine = world.client.get(
        f"/api/v1/audit?actor=pat&entity_id={stage}&experiment={EXP}", headers=world.as_("sue")
    )
    assert [r["audit_id"] for r in mine.get_json()["items"]] == [change["audit_id"]]
    assert world.client.get("/api/v1/audit", headers=world.as_("pat")).status_code == 403


# ---- the session experiment and role ----------------------------------------------------


def test_a_person_chooses_where_and_as_what_they_act_by_default(world: World) -> None:
    with world.db.transaction() as session:
        identity.add_experiment(session, "other", "Other")
        identity.set_membership(session, "pat", "other", "analysis")
    # two memberships: nothing is assumed until pat chooses
    assert world.client.get("/api/v1/me", headers=world.as_("pat")).get_json()["acting"] == {
        "experiment": None,
        "role": "analysis",
    }
    chosen = world.client.put(
        "/api/v1/me",
        json={"experiment": EXP, "role": "production-shifter"},
        headers=world.as_("pat"),
    )
    assert chosen.status_code == 200 and chosen.get_json()["role"] == "production-shifter"
    me = world.client.get("/api/v1/me", headers=world.as_("pat")).get_json()
    assert me["acting"] == {"experiment": EXP, "role": "production-shifter"}
    # a role not allowed there is lowered to the membership's, as the original did
    lowered = world.client.put(
        "/api/v1/me", json={"experiment": "other", "role": "production"}, headers=world.as_("pat")
    )
    assert lowered.get_json()["role"] == "analysis"
    # the compatibility form: a redirect back, then acting there
    moved = world.client.post(
        "/update_session_experiment",
        data={"session_experiment": EXP},
        headers={**world.as_("pat"), "Referer": "/campaigns"},
    )
    assert (moved.status_code, moved.headers["Location"]) == (303, "/campaigns")
    role = world.client.post(
        "/update_session_role", data={"session_role": "production"}, headers=world.as_("pat")
    )
    assert role.status_code == 303
    me = world.client.get("/api/v1/me", headers=world.as_("pat")).get_json()
    assert me["acting"] == {"experiment": EXP, "role": "production"}


@pytest.mark.parametrize(
    ("who", "body", "status", "field"),
    [
        ("nora", {"experiment": EXP}, 403, "not a member"),
        ("pat", {"experiment": "nowhere"}, 403, "no experiment"),
        ("pat", {"role": "production"}, 400, "experiment"),
        ("pat", {"experiment": EXP, "role": "boss"}, 400, "role"),
    ],
)
def test_a_bad_session_choice_is_refused_and_changes_nothing(
    world: World, who: str, body: dict[str, Any], status: int, field: str
) -> None:
    before = world.client.get("/api/v1/me", headers=world.as_(who)).get_json()["acting"]
    answer = world.client.put("/api/v1/me", json=body, headers=world.as_(who))
    assert answer.status_code == status and field in answer.get_json()["error"]["message"]
    assert world.client.get("/api/v1/me", headers=world.as_(who)).get_json()["acting"] == before
