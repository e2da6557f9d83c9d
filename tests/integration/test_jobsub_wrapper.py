"""``poms-jobsub-wrapper`` (as ``jobsub_submit`` on PATH, over the fake jobsub_lite) and
``poms-run-script`` against the live web app's compatibility methods."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from poms_shared.db import identity
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import OutboxMessage, Submission
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.settings import Settings
from poms_shared.testing import fake_jobsub
from poms_shared.testing.fake_jobsub import FakeQueue
from poms_shared.testing.submissions import add_submissions
from poms_web.app import create_app

BIN = Path(sys.executable).parent
BATCH_ID = "4242000@jobsub01.fnal.gov"
USER_ARGS = ["-G", "demo", "-N", "2", "file:///bin/true", "--flag"]


@dataclass
class Setup:
    url: str
    db: Database
    tokens: dict[str, str]
    stage_id: int
    queue: FakeQueue
    path: str  # shims, then the fake jobsub, then the rest
    fake_env: dict[str, str]

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("POMS", "GROUP"))}
        return {
            **base,
            **self.fake_env,
            "PATH": self.path,
            "HOME": str(Path(self.fake_env["FAKE_JOBSUB_QUEUE"]).parent),
            "POMS_URL": self.url,
            "POMS_TOKEN": self.tokens["pat"],
            **extra,
        }

    def submission(self, sid: int) -> Submission:
        with self.db.transaction() as session:
            sub = session.get(Submission, sid)
            assert sub is not None
            session.expunge(sub)
            return sub

    def count(self) -> int:
        with self.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(Submission)) or 0)

    def statuses_asked(self, sid: int) -> list[str]:
        with self.db.transaction() as session:
            rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.outbox_id))
            bodies = [
                json.loads(r.body)["payload"] for r in rows if "SetSubmission" in r.routing_key
            ]
        return [b["status"] for b in bodies if b["submission_id"] == sid]


@pytest.fixture
def setup(database: Database, tmp_path: Path) -> Iterator[Setup]:
    with database.transaction() as session:
        load_samples(session, username="pat")
        tokens = {}
        for name, role in (("pat", "production"), ("ann", "analysis")):
            identity.add_user(session, name)
            identity.set_membership(session, name, DEMO_EXPERIMENT, role)
            tokens[name] = identity.issue_token(session, name, "wrapper")[1]
        stage_id = session.scalars(
            select(CampaignStage.campaign_stage_id).where(CampaignStage.name == "generate")
        ).one()
    fake_env = fake_jobsub.install(tmp_path / "fake", tmp_path / "queue.json")
    shims = tmp_path / "shims"
    done = subprocess.run(
        [str(BIN / "poms-jobsub-wrapper"), "--install", str(shims)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "jobsub_submit_dag" in done.stdout
    app = create_app(Settings(var_dir=tmp_path, dev_user=""), database)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Setup(
            f"http://127.0.0.1:{server.server_port}",
            database,
            tokens,
            stage_id,
            FakeQueue(tmp_path / "queue.json"),
            f"{shims}{os.pathsep}{fake_env['PATH']}",
            fake_env,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def launch_env(setup: Setup, sid: int) -> dict[str, str]:
    """What the launcher exports (§6.9), for the stage and a reserved submission."""
    return {
        "POMS4_CAMPAIGN_STAGE_ID": str(setup.stage_id),
        "POMS4_CAMPAIGN_STAGE_NAME": "generate",
        "POMS4_CAMPAIGN_NAME": "demo_mc",
        "POMS4_SUBMISSION_ID": str(sid),
        "POMS4_TEST_LAUNCH": "False",
        "POMS4_EXPERIMENT": DEMO_EXPERIMENT,
        "POMS_CAMPAIGN_ID": str(setup.stage_id),
        "POMS_TASK_ID": str(sid),
        "POMS_LAUNCHER": "pat",
        "POMS_CAMPAIGN_TAGS": "mc",
        "GROUP": "demo",
    }


def test_a_poms_launch_is_updated_submitted_with_classads_and_given_its_batch_id(
    setup: Setup,
) -> None:
    with setup.db.transaction() as session:
        [sid] = add_submissions(session, setup.stage_id, 1)
    before = setup.count()
    done = run(["jobsub_submit", *USER_ARGS], setup.env(**launch_env(setup, sid)))
    assert done.returncode == 0, done.stderr
    assert "Use job id 4242000.0@jobsub01.fnal.gov to retrieve output" in done.stdout
    assert f"POMS_BATCH_ID={BATCH_ID}" in done.stdout
    [call] = setup.queue.calls("jobsub_submit")
    assert call[1:5] == ["-e", "POMS_CAMPAIGN_ID", "-e", "POMS_TASK_ID"]
    assert call[-len(USER_ARGS) :] == USER_ARGS
    categories = f"POMS_TASK_ID_{sid},POMS_CAMPAIGN_ID_{setup.stage_id},mc"
    assert f'--lines=+FIFE_CATEGORIES="{categories}"' in call
    assert f"--lines=+POMS4_SUBMISSION_ID={sid}" in call
    sub = setup.submission(sid)
    assert sub.command_executed == "jobsub_submit " + " ".join(USER_ARGS)
    assert sub.batch_id == BATCH_ID
    assert setup.count() == before  # updated, not created


def test_a_launch_by_hand_creates_the_submission(setup: Setup) -> None:
    before = setup.count()
    env = setup.env(POMS_CAMPAIGN_ID=str(setup.stage_id), GROUP="demo")
    done = run(["jobsub_submit", "-N", "1", "file:///bin/true"], env)
    assert done.returncode == 0, done.stderr
    assert setup.count() == before + 1
    with setup.db.transaction() as session:
        sid = session.scalar(select(func.max(Submission.submission_id)))
    assert sid is not None and f"submission {sid}" in done.stderr
    sub = setup.submission(sid)
    assert sub.batch_id == BATCH_ID and sub.campaign_stage_id == setup.stage_id
    assert sub.command_executed == "jobsub_submit -N 1 file:///bin/true"
    [call] = setup.queue.calls("jobsub_submit")
    assert f"--lines=+POMS_TASK_ID={sid}" in call


def test_poms_being_down_does_not_stop_the_submission(setup: Setup) -> None:
    env = setup.env(
        POMS_URL="http://127.0.0.1:9", POMS_CAMPAIGN_ID=str(setup.stage_id), GROUP="demo"
    )
    done = run(["jobsub_submit", "file:///bin/true"], env)
    assert done.returncode == 0
    assert "cannot reach POMS at http://127.0.0.1:9" in done.stderr
    assert "POMS_BATCH_ID" not in done.stdout  # no submission id: nothing to report
    assert len(setup.queue.calls("jobsub_submit")) == 1


def test_a_refusal_is_warned_about_and_the_submission_still_made(setup: Setup) -> None:
    with setup.db.transaction() as session:
        [sid] = add_submissions(session, setup.stage_id, 1)
    env = setup.env(**launch_env(setup, sid), POMS_TOKEN=setup.tokens["ann"])
    done = run(["jobsub_submit", "file:///bin/true"], env)
    assert done.returncode == 0
    assert "POMS refused get_submission_id_for (HTTP 403)" in done.stderr
    assert len(setup.queue.calls("jobsub_submit")) == 1
    assert setup.submission(sid).batch_id is None


def test_the_real_tools_exit_status_is_the_wrappers(setup: Setup) -> None:
    env = setup.env(POMS_CAMPAIGN_ID=str(setup.stage_id))  # no GROUP: jobsub refuses
    done = run(["jobsub_submit", "file:///bin/true"], env)
    assert done.returncode == 1 and "no group given" in done.stderr
    shims = setup.path.split(os.pathsep)[0]
    alone = run([str(Path(shims) / "jobsub_submit")], setup.env(PATH=shims))
    assert alone.returncode == 127 and "JOBSUB_CLIENT_DIR" in alone.stderr


@pytest.mark.parametrize(("code", "final"), [(0, "Completed"), (3, "Failed")])
def test_run_script_reports_a_command_as_a_submission(setup: Setup, code: int, final: str) -> None:
    env = setup.env(POMS_CAMPAIGN_ID=str(setup.stage_id), GROUP="demo")
    command = ["sh", "-c", f'echo "task=$POMS_TASK_ID"; exit {code}']
    done = run([str(BIN / "poms-run-script"), *command], env)
    assert done.returncode == code, done.stderr
    sid = int(done.stdout.strip().split("=")[1])
    sub = setup.submission(sid)
    assert sub.command_executed == shlex.join(command)
    assert sub.batch_id is not None and ".0@fakebatch1." in sub.batch_id
    assert setup.statuses_asked(sid) == ["Idle", "Running", final]
