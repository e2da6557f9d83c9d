"""A shell session with ``poms`` against the four services (PostgreSQL, RabbitMQ): upload
an .ini, launch its stage — whose launch script calls ``jobsub_submit``, which is the POMS
wrapper over the fake jobsub_lite — follow the submission in JSON, and kill it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from poms_shared.demo.load import load_samples
from poms_shared.testing import fake_jobsub
from poms_shared.testing.db import DatabaseUnavailable, postgres_database
from poms_shared.testing.fake_jobsub import FakeQueue
from poms_shared.testing.http import NotYet, wait_until
from poms_shared.testing.rabbit import rabbit_vhost
from poms_shared.testing.stack import DistributedStack

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
BATCH_ID = "4242000@jobsub01.fnal.gov"
SESSION_INI = """
[campaign]
experiment=demo
poms_role=production
name=cli_session
campaign_stage_list=run

[campaign_defaults]
software_version=v1_0
completion_type=complete
completion_pct=100
login_setup=session_local
job_type=session_job

[campaign_stage run]
param_overrides=[]

[login_setup session_local]
host=localhost
account=poms
setup=echo "jobsub_submit is $(command -v jobsub_submit)"

[job_type session_job]
launch_script=jobsub_submit -G demo -N 2 file:///bin/true
parameters=[]
output_file_patterns=%
recoveries=[]
"""


@dataclass
class Session:
    stack: DistributedStack
    queue: FakeQueue
    env: dict[str, str]

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "poms"), *argv], env=self.env, capture_output=True, text=True, timeout=120
        )

    def poms(self, *argv: str) -> str:
        done = self.run(*argv)
        assert done.returncode == 0, f"poms {' '.join(argv)}: {done.stderr}"
        return done.stdout

    def json(self, *argv: str) -> Any:
        return json.loads(self.poms(*argv, "--json"))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    var = tmp_path_factory.mktemp("var")
    fake_env = fake_jobsub.install(var / "fake-jobsub", var / "queue.json")
    shims = var / "poms-wrapper"
    subprocess.run(
        [str(BIN / "poms-jobsub-wrapper"), "--install", str(shims)], check=True, timeout=60
    )
    try:
        with postgres_database() as db, rabbit_vhost() as amqp:
            with db.transaction() as dbs:
                load_samples(dbs)  # the demo experiment
            extra = {
                "FAKE_JOBSUB_QUEUE": fake_env["FAKE_JOBSUB_QUEUE"],
                # launches find the wrapper first, then the fake jobsub_lite
                "PATH": f"{shims}{os.pathsep}{fake_env['PATH']}",
            }
            stack = DistributedStack(db.url, amqp, var, extra)
            stack.env["POMS_URL"] = stack.web_url  # where the wrapper reports
            stack.start_all()
            clean = {k: v for k, v in os.environ.items() if not k.startswith("POMS_")}
            env = {**clean, "HOME": str(var), "POMS_URL": stack.web_url, "POMS_EXPERIMENT": "demo"}
            try:
                yield Session(stack, FakeQueue(var / "queue.json"), env)
            finally:
                stack.stop_all()
    except DatabaseUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


def test_upload_launch_follow_and_kill_from_the_shell(session: Session, tmp_path: Path) -> None:
    ini = tmp_path / "cli_session.ini"
    ini.write_text(SESSION_INI)
    saved = session.json("campaign", "upload", str(ini))
    stage_id = saved["stage_ids"]["run"] if isinstance(saved["stage_ids"], dict) else None
    assert stage_id, saved
    assert "cli_session" in session.poms("campaign", "list")

    launched = session.json("stage", "launch", str(stage_id))

    def submission_id() -> int:
        if launched.get("submission_id"):
            return int(launched["submission_id"])
        items = session.json("submission", "list", "--stage", str(stage_id))["items"]
        if not items:
            raise NotYet("no submission yet")
        return int(items[0]["submission_id"])

    sid = wait_until(submission_id, timeout=60)

    def reported() -> dict[str, Any]:
        shown = session.json("submission", "show", str(sid))
        if shown["batch_id"] != BATCH_ID:
            raise NotYet(f"batch id {shown['batch_id']!r}, status {shown['status']}")
        return dict(shown)

    shown = wait_until(reported, timeout=90)
    assert shown["command"] == "jobsub_submit -G demo -N 2 file:///bin/true"
    [call] = session.queue.calls("jobsub_submit")
    assert f"--lines=+POMS_TASK_ID={sid}" in call and call[-1] == "file:///bin/true"
    log = session.poms("submission", "log", str(sid))
    assert f"POMS_BATCH_ID={BATCH_ID}" in log

    listed = session.json("submission", "list", "--campaign", "cli_session")["items"]
    assert [(s["submission_id"], s["batch_id"]) for s in listed] == [(sid, BATCH_ID)]

    assert "kill requested" in session.poms("submission", "kill", str(sid), "--yes")

    def removed() -> bool:
        if not session.queue.calls("jobsub_rm"):
            raise NotYet("jobsub_rm not called yet")
        status = session.json("submission", "show", str(sid))["status"]
        if status != "Removed":
            raise NotYet(f"status {status}")
        return True

    wait_until(removed, timeout=90)
    [rm] = session.queue.calls("jobsub_rm")
    assert f"--jobid={BATCH_ID}" in rm
    history = [h["status"] for h in session.json("submission", "history", str(sid))["items"]]
    assert history[0] == "New" and history[-1] == "Removed"


def test_a_launch_of_a_held_stage_is_explained_and_kept(session: Session) -> None:
    [stage] = session.json("stage", "list", "--campaign", "cli_session")["items"]
    stage_id = str(stage["stage_id"])
    session.poms("stage", "hold", stage_id)
    refused = session.run("stage", "launch", stage_id)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("poms: ") and "held" in refused.stderr
    assert "poms held list" in refused.stderr and f"poms stage release {stage_id}" in refused.stderr
    [held] = session.json("held", "list", "--stage", stage_id)["items"]
    session.poms("held", "remove", str(held["held_launch_id"]), "--yes")
    assert "released; 0 held launch(es) run" in session.poms("stage", "release", stage_id)


def test_show_commands_and_a_login_setup_test_from_the_shell(session: Session) -> None:
    [stage] = session.json("stage", "list", "--campaign", "cli_session")["items"]
    reserved = session.poms("stage", "launch", str(stage["stage_id"]), "--commands-only")
    assert "reserved" in reserved and "jobsub_submit -G demo -N 2 file:///bin/true" in reserved
    [setup] = [
        s for s in session.json("login-setup", "list")["items"] if s["name"] == "session_local"
    ]
    tested = session.poms("login-setup", "test", str(setup["login_setup_id"]), "--wait")
    assert "jobsub_submit is " in tested and tested.rstrip().endswith("succeeded ==")
