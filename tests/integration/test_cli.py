"""``poms`` against a live web app (served over HTTP on a free port): every verb whose
endpoint exists, checked by its effect in the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from people import add_people
from sqlalchemy import select
from werkzeug.serving import make_server

from poms_shared.cli.main import main as poms
from poms_shared.db.models import ApiToken, Campaign, CampaignStage, JobType, LoginSetup
from poms_shared.db.session import Database
from poms_shared.db.tables import AuditEntry, HeldLaunch, OutboxMessage, Schedule
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT, demo_ini
from poms_shared.demo.load import load_samples
from poms_shared.settings import Settings
from poms_shared.testing.submissions import add_submissions
from poms_web.adapters import launching
from poms_web.app import create_app

EXP = DEMO_EXPERIMENT
PEOPLE = {"admin": (None, True), "pat": ("production", False), "ann": ("analysis", False)}
POMS = str(Path(sys.executable).parent / "poms")


@dataclass
class Live:
    url: str
    db: Database
    tokens: dict[str, str]
    stages: dict[str, int]  # demo_mc stage name -> id
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def run(self, who: str, *argv: str) -> tuple[int, str, str]:
        """``poms argv`` as ``who`` (in this process); (exit status, stdout, stderr)."""
        self.monkeypatch.setenv("POMS_TOKEN", self.tokens[who])
        self.capsys.readouterr()
        try:
            status = poms(list(argv))
        except SystemExit as ended:
            status = int(ended.code or 0)
        out, err = self.capsys.readouterr()
        return status, out, err

    def ok(self, who: str, *argv: str) -> str:
        status, out, err = self.run(who, *argv)
        assert status == 0, err
        return out

    def json(self, who: str, *argv: str) -> Any:
        return json.loads(self.ok(who, *argv, "--json"))


@pytest.fixture
def live(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Live]:
    monkeypatch.setattr(launching, "LAUNCH_WAIT", 0.2)  # no campaign manager answers here
    with database.transaction() as session:
        load_samples(session, username="pat")
        roles = {name: role for name, (role, _) in PEOPLE.items()}
        roots = [name for name, (_, root) in PEOPLE.items() if root]
        tokens = add_people(session, roles, EXP, roots)
        stages = {
            s.name: s.campaign_stage_id
            for s in session.scalars(select(CampaignStage).where(CampaignStage.experiment == EXP))
        }
    app = create_app(Settings(var_dir=tmp_path, dev_user=""), database)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    for name in ("POMS_CONFIG", "POMS_TOKEN_FILE", "POMS_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no personal config file
    monkeypatch.setenv("POMS_URL", url)
    monkeypatch.setenv("POMS_EXPERIMENT", EXP)
    try:
        yield Live(url, database, tokens, stages, monkeypatch, capsys)
    finally:
        server.shutdown()
        thread.join(timeout=10)


def messages(db: Database, kind: str) -> list[dict[str, Any]]:
    """The payloads of the ``kind`` messages the app committed, oldest first."""
    with db.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.outbox_id))
        return [json.loads(r.body)["payload"] for r in rows if r.routing_key.endswith(f".{kind}")]


# ---- campaigns --------------------------------------------------------------------------


def test_a_campaign_goes_up_as_ini_and_comes_back_the_same(live: Live, tmp_path: Path) -> None:
    ini = tmp_path / "mine.ini"
    ini.write_text(demo_ini().replace(f"name={DEMO_CAMPAIGN}", "name=cli_mc"))
    out = live.ok("pat", "campaign", "upload", str(ini))
    assert "campaign cli_mc saved" in out
    with live.db.transaction() as session:
        made = session.scalars(select(Campaign).where(Campaign.name == "cli_mc")).one()
        assert sorted(s.name for s in made.stages) == ["generate", "reconstruct", "simulate"]

    listed = live.json("pat", "campaign", "list")
    assert "cli_mc" in {c["name"] for c in listed["items"]}
    assert "cli_mc" in live.ok("pat", "campaign", "list", "--search", "cli_")
    shown = live.json("pat", "campaign", "show", "cli_mc")
    assert [s["name"] for s in shown["stages_detail"]] == ["generate", "simulate", "reconstruct"]
    assert "generate -> simulate" in live.ok("pat", "campaign", "show", "cli_mc")

    exported = tmp_path / "back.ini"
    live.ok("pat", "campaign", "export", "cli_mc", "-o", str(exported))
    assert "name=cli_mc" in exported.read_text()
    assert "[campaign_stage simulate]" in live.ok("pat", "campaign", "export", "cli_mc")


def test_campaign_admin_verbs_change_the_campaign(live: Live) -> None:
    live.ok("pat", "campaign", "create", "empty_one")
    live.ok("pat", "campaign", "clone", DEMO_CAMPAIGN, "demo_copy")
    live.ok("pat", "campaign", "rename", "demo_copy", "demo_renamed")
    live.ok("pat", "campaign", "tag", "demo_renamed", "mc2025")
    assert "demo_renamed" in live.ok("pat", "campaign", "list", "--tag", "mc2025")
    assert "now inactive: demo_renamed" in live.ok("pat", "campaign", "deactivate", "demo_renamed")
    assert "demo_renamed" not in live.ok("pat", "campaign", "list")
    assert "demo_renamed" in live.ok("pat", "campaign", "list", "--all")
    live.ok("pat", "campaign", "activate", "demo_renamed")
    live.ok("pat", "campaign", "untag", "demo_renamed", "mc2025")
    live.ok("pat", "campaign", "delete", "empty_one", "--yes")
    with live.db.transaction() as session:
        names = {c.name: c for c in session.scalars(select(Campaign))}
        assert "empty_one" not in names and "demo_copy" not in names
        assert names["demo_renamed"].active and not names["demo_renamed"].tags


def test_campaign_launch_pause_resume_and_kill_send_their_messages(live: Live) -> None:
    with live.db.transaction() as session:
        [sid] = add_submissions(session, live.stages["generate"], 1)
    out = live.ok("pat", "campaign", "launch", DEMO_CAMPAIGN, "--test")
    assert "leading stage generate" in out
    assert messages(live.db, "LaunchCampaign")[-1]["test"] is True
    live.ok("pat", "campaign", "pause", DEMO_CAMPAIGN)
    with live.db.transaction() as session:
        assert session.get(CampaignStage, live.stages["simulate"]).hold_experimenter_id is not None
    live.ok("pat", "campaign", "resume", DEMO_CAMPAIGN)
    assert f"{sid}" in live.ok("pat", "campaign", "kill", DEMO_CAMPAIGN, "--yes")
    assert messages(live.db, "JobControl")[-1]["submission_ids"] == [sid]


def test_a_sample_campaign_can_be_listed_read_and_cloned(live: Live) -> None:
    samples = live.json("pat", "sample", "list")["items"]
    assert samples
    name = samples[0]["name"]
    assert "[campaign]" in live.ok("pat", "sample", "show", name)
    live.ok("pat", "sample", "clone", name, "from_sample")
    with live.db.transaction() as session:
        assert session.scalars(select(Campaign).where(Campaign.name == "from_sample")).one()


# ---- stages -----------------------------------------------------------------------------


def test_stage_settings_holds_schedules_splits_and_overrides(live: Live) -> None:
    sid = live.stages["simulate"]
    assert "simulate" in live.ok("pat", "stage", "list", "--campaign", DEMO_CAMPAIGN)
    assert live.json("pat", "stage", "show", str(sid))["name"] == "simulate"
    live.ok("pat", "stage", "edit", str(sid), "completion_pct=75", "software_version=v9")
    live.ok("pat", "stage", "hold", str(sid))
    assert "0 3 * * *" in live.ok("pat", "stage", "schedule", str(sid), "0 3 * * *")
    live.ok("pat", "stage", "split", str(sid), "--position", "4")
    live.ok("pat", "stage", "overrides", str(sid), "--jobs =5", "--extra =x")
    live.ok("pat", "stage", "overrides", str(sid), "--extra =")  # an empty value removes
    with live.db.transaction() as session:
        stage = session.get(CampaignStage, sid)
        assert stage is not None
        assert (stage.completion_pct, stage.software_version) == (75, "v9")
        assert stage.hold_experimenter_id is not None and stage.cs_last_split == 4
        assert ["--jobs ", "5"] in stage.param_overrides
        assert all(k != "--extra " for k, _ in stage.param_overrides)
        assert session.scalars(select(Schedule).where(Schedule.campaign_stage_id == sid)).one()
    assert "next runs" in live.ok("pat", "stage", "schedule", str(sid))
    live.ok("pat", "stage", "schedule", str(sid), "--remove")
    live.ok("pat", "stage", "release", str(sid))
    live.ok("pat", "stage", "queue", str(sid))
    assert live.json("pat", "stage", "show", str(sid))["held"] is True
    live.ok("pat", "stage", "release", str(sid))
    live.ok("pat", "stage", "split", str(sid), "--reset")
    with live.db.transaction() as session:
        stage = session.get(CampaignStage, sid)
        assert stage is not None and stage.hold_experimenter_id is None
        assert stage.cs_last_split is None
        assert not session.scalars(select(Schedule).where(Schedule.campaign_stage_id == sid)).all()


def test_a_stage_launch_is_requested_and_a_held_one_explained(live: Live) -> None:
    sid = live.stages["generate"]
    out = live.ok("pat", "stage", "launch", str(sid), "--test", "--dataset", "ds1")
    assert "requested" in out or "launched" in out
    sent = messages(live.db, "LaunchStage")[-1]
    assert (sent["stage_id"], sent["test"], sent["dataset_override"]) == (sid, True, "ds1")
    with live.db.transaction() as session:
        session.add(HeldLaunch(campaign_stage_id=sid, launcher="pat"))
    assert len(live.json("pat", "held", "list")["items"]) == 1
    [held] = live.json("pat", "held", "list", "--stage", str(sid))["items"]
    live.ok("pat", "held", "remove", str(held["held_launch_id"]), "--yes")
    assert live.json("pat", "held", "list")["items"] == []


# ---- submissions ------------------------------------------------------------------------


def test_submissions_are_listed_shown_and_controlled(live: Live) -> None:
    with live.db.transaction() as session:
        [sid] = add_submissions(session, live.stages["simulate"], 1, dataset="ds_x")
    listed = live.json("pat", "submission", "list", "--campaign", DEMO_CAMPAIGN)
    assert sid in [s["submission_id"] for s in listed["items"]]
    assert str(sid) in live.ok("pat", "submission", "list", "--stage", str(live.stages["simulate"]))
    shown = live.json("pat", "submission", "show", str(sid))
    assert (shown["submission_id"], shown["status"], shown["dataset"]) == (sid, "New", "ds_x")
    assert "status:" in live.ok("pat", "submission", "show", str(sid))
    assert live.json("pat", "submission", "history", str(sid))["items"] == shown["history"]
    assert "has no jobs" in live.ok("pat", "submission", "jobs", str(sid))
    assert live.json("pat", "submission", "files", str(sid))["counts"]["inputs"] == 0
    assert live.json("pat", "submission", "lineage", str(sid))["submission_id"] == sid
    for action in ("hold", "release", "cancel", "kill"):
        live.ok("pat", "submission", action, str(sid), "--yes")
    actions = [m["action"] for m in messages(live.db, "JobControl")]
    assert actions == ["hold", "release", "cancel", "kill"]
    live.ok("pat", "submission", "abort", str(sid), "--yes")
    assert messages(live.db, "AbortLaunch")[-1]["submission_id"] == sid
    status, _, err = live.run("pat", "submission", "approve", str(sid))
    assert status == 1 and "not Awaiting Approval" in err
    assert "(no steps left)" in live.ok("pat", "submission", "recover", str(sid), "--preview")
    status, _, err = live.run("pat", "submission", "recover", str(sid))
    assert status == 2 and "no recovery step left" in err
    live.ok("pat", "submission", "force-locate", str(sid), "--yes")
    assert messages(live.db, "SetSubmissionStatus")[-1]["status"] == "Located"
    status, _, err = live.run("pat", "submission", "log", str(sid))
    assert status == 1 and "no launch log" in err


# ---- templates --------------------------------------------------------------------------


def test_login_setups_and_job_types_are_made_changed_and_deleted(live: Live) -> None:
    made = live.json(
        "pat",
        "login-setup",
        "create",
        "cli_setup",
        "launch_host=localhost",
        "launch_account=pat",
        "launch_setup=echo ready",
    )
    ls_id = str(made["login_setup_id"])
    assert "cli_setup" in live.ok("pat", "login-setup", "list")
    live.ok("pat", "login-setup", "edit", ls_id, "launch_account=prod")
    assert live.json("pat", "login-setup", "show", ls_id)["launch_account"] == "prod"

    made = live.json("pat", "job-type", "create", "cli_job", "launch_script=echo hi")
    jt_id = str(made["job_type_id"])
    assert "echo hi" in live.ok("pat", "job-type", "show", jt_id)
    live.ok("pat", "job-type", "edit", jt_id, "output_file_patterns=%.root")
    live.ok("pat", "job-type", "recoveries", jt_id, "added_files")
    assert "added_files" in live.ok("pat", "job-type", "recoveries", jt_id)
    assert "cli_job" in live.ok("pat", "job-type", "list")
    with live.db.transaction() as session:
        job = session.get(JobType, int(jt_id))
        assert job is not None and [r.recovery_type.name for r in job.recoveries] == ["added_files"]
    live.ok("pat", "job-type", "delete", jt_id, "--yes")
    live.ok("pat", "login-setup", "delete", ls_id, "--yes")
    with live.db.transaction() as session:
        assert session.get(JobType, int(jt_id)) is None
        assert session.get(LoginSetup, int(ls_id)) is None


def test_a_login_setup_test_and_a_job_type_test_are_requested(live: Live) -> None:
    with live.db.transaction() as session:
        stage = session.get(CampaignStage, live.stages["generate"])
        assert stage is not None
        ls_id, jt_id = stage.login_setup_id, stage.job_type_id
    assert "log_name" in live.json("pat", "login-setup", "test", str(ls_id))
    assert "test" in live.ok("pat", "job-type", "test", str(jt_id))
    assert messages(live.db, "TestLoginSetup")


# ---- people -----------------------------------------------------------------------------


def test_me_tokens_members_audit_and_the_global_hold(live: Live) -> None:
    me = live.json("pat", "me")
    assert me["username"] == "pat" and me["acting"] == {"experiment": EXP, "role": "production"}
    shifting = live.json("pat", "me", "--act-in", EXP, "--act-as", "production-shifter")
    assert shifting["acting"] == {"experiment": EXP, "role": "production-shifter"}
    live.ok("pat", "me", "--act-in", EXP, "--act-as", "production")
    status, _, err = live.run("pat", "me", "--act-in", "nowhere")
    assert status == 1 and "no experiment 'nowhere'" in err
    made = live.json("pat", "token", "create", "ci", "--expires-days", "3")
    assert made["token"] and "ci" in live.ok("pat", "token", "list")
    live.ok("pat", "token", "revoke", str(made["token_id"]))
    with live.db.transaction() as session:
        assert session.get(ApiToken, made["token_id"]).revoked is not None
    live.ok("admin", "member", "set", "ann", "production-shifter")
    assert "production-shifter" in live.ok("pat", "member", "list")
    live.ok("admin", "launches", "hold")
    live.ok("admin", "launches", "release")
    entries = live.json("admin", "audit", "--action", "set_membership")["items"]
    assert entries[0]["after"]["username"] == "ann"
    with live.db.transaction() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "revoke_token")).all()


# ---- refusals and failures --------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "argv", "says"),
    [
        ("ann", ["stage", "edit", "STAGE", "completion_pct=1"], "acting as production"),
        ("pat", ["stage", "show", "999999"], "does not exist"),
        ("pat", ["campaign", "show", "no_such_campaign"], "no_such_campaign"),
        ("pat", ["stage", "edit", "STAGE", "completion_pct=500"], "completion_pct"),
        ("pat", ["audit"], "superuser"),
    ],
)
def test_a_refusal_exits_1_with_the_servers_reason(
    live: Live, who: str, argv: list[str], says: str
) -> None:
    argv = [a.replace("STAGE", str(live.stages["simulate"])) for a in argv]
    status, out, err = live.run(who, *argv)
    assert (status, out) == (1, "")
    assert err.startswith("poms: ") and says in err


def test_a_bad_token_is_refused_with_401_and_exit_1(live: Live) -> None:
    live.tokens["nobody"] = "not-a-token"
    status, _, err = live.run("nobody", "me")
    assert status == 1 and err.startswith("poms: ")


def test_the_installed_command_exits_3_when_the_server_is_not_there(live: Live) -> None:
    env = {**os.environ, "POMS_URL": "http://127.0.0.1:9", "POMS_TOKEN": "x"}
    done = subprocess.run(
        [POMS, "campaign", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    assert "http://127.0.0.1:9" in done.stderr and "POMS_URL" in done.stderr


def test_the_installed_command_talks_to_the_server_with_its_config_file(
    live: Live, tmp_path: Path
) -> None:
    conf = tmp_path / "poms.toml"
    conf.write_text(f'url = "{live.url}"\ntoken = "{live.tokens["pat"]}"\nexperiment = "{EXP}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("POMS_")}
    env["POMS_CONFIG"] = str(conf)
    done = subprocess.run(
        [POMS, "me", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["username"] == "pat"
