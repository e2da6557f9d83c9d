"""Launches over ssh, against a real sshd on 127.0.0.1 started by the tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from launcher_harness import configure_stage, log_text, new_submission, running_launcher, wait_for

from poms_shared.contracts.messages import (
    AbortLaunch,
    LaunchFailed,
    LaunchSubmission,
    SubmissionLaunched,
)
from poms_shared.db.session import Database
from poms_shared.demo.load import load_samples
from poms_shared.settings import Settings, load_settings
from poms_shared.testing.sshd import SshdUnavailable, SshServer, private_sshd

SETUP = "export GREETING='hello world'; echo \"it's $GREETING for %(experiment)s\""
SHOW_ENV = "env | grep -E '^(POMS4_|POMS_TEST=|UPLOADS=|GROUP=)' | sort; "


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    try:
        with private_sshd(tmp_path_factory.mktemp("sshd")) as server:
            yield server
    except SshdUnavailable as exc:
        pytest.skip(f"no sshd: {exc}")


@pytest.fixture
def settings(tmp_path: Path, database: Database, sshd: SshServer) -> Settings:
    with database.transaction() as session:
        load_samples(session)
    return load_settings(
        var_dir=tmp_path,
        database_url=database.url,
        local_hosts=("localhost",),  # 127.0.0.1 goes through ssh
        ssh_port=sshd.port,
        ssh_key=str(sshd.key),
        ssh_options=sshd.options,
    )


def test_the_demo_launch_runs_over_ssh_with_the_poms_environment(settings, database, sshd):
    stage = configure_stage(
        database,
        launch_script=SHOW_ENV + "poms-demo-launch",
        parameters=[["--stage ", "generate"], ["--jobs ", "1"]],
        host="127.0.0.1",
        account=sshd.user,
        setup=SETUP,
    )
    sid = new_submission(database, stage)
    with running_launcher(settings, database) as launcher:
        launcher.send(LaunchSubmission(submission_id=sid))
        launched = launcher.wait_event(SubmissionLaunched, submission_id=sid)
        text = log_text(launcher, sid)
    assert launched.batch_id.endswith("@local")
    assert "it's hello world for demo" in text
    assert f"POMS4_SUBMISSION_ID={sid}\n" in text
    assert f"POMS4_CAMPAIGN_STAGE_ID={stage}\n" in text
    assert "POMS4_CAMPAIGN_NAME=demo_mc\n" in text
    assert "POMS_TEST=1\n" in text
    assert "GROUP=demo\n" in text
    assert re.search(r"^UPLOADS=/\S*$", text, re.MULTILINE), text
    assert "submitting 1 generate job(s)" in text
    assert re.search(r"== completed: \d+ ==", text)


def test_show_commands_gives_the_ssh_command_with_the_script_single_quoted(
    settings, database, sshd
):
    stage = configure_stage(
        database, launch_script="true", host="127.0.0.1", account=sshd.user, setup=SETUP
    )
    sid = new_submission(database, stage)
    with running_launcher(settings, database) as launcher:
        launcher.send(LaunchSubmission(submission_id=sid, commands_only=True))
        sub = wait_for(
            lambda: launcher.submission(sid).command_executed and launcher.submission(sid)
        )
    line = sub.submission_params["commands"]["command_line"]
    assert line.startswith("ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new ")
    assert f" -p {sshd.port} " in line
    assert "export GREETING='\"'\"'hello world'\"'\"';" in line


def test_abort_kills_the_launch_on_the_remote_host(settings, database, sshd):
    stage = configure_stage(
        database,
        launch_script="sleep 60; poms-local-submit -- true",
        host="127.0.0.1",
        account=sshd.user,
    )
    sid = new_submission(database, stage)
    with running_launcher(settings, database) as launcher:
        launcher.send(LaunchSubmission(submission_id=sid))
        wait_for(lambda: "process_id" in log_text(launcher, sid), what="the process marker")
        launcher.send(AbortLaunch(submission_id=sid, actor="carol"))
        failed = launcher.wait_event(LaunchFailed, submission_id=sid)
        assert failed.reason == "aborted by carol"
        assert launcher.service.bus.wait_idle(10)
        assert launcher.collected(SubmissionLaunched) == []
        assert "aborted by carol" in log_text(launcher, sid)


def test_an_analysis_launch_over_ssh_copies_the_proxy_there_and_removes_it(
    settings, database, sshd
):
    proxy = settings.uploads_dir / "demo" / "poms" / "x509up_voms_demo_Analysis_poms"
    proxy.parent.mkdir(parents=True)
    proxy.write_text("proxy bits")
    stage = configure_stage(
        database,
        launch_script='echo "PROXY=$X509_USER_PROXY"; cat "$X509_USER_PROXY"; echo; '
        "poms-local-submit -- true",
        host="127.0.0.1",
        account=sshd.user,
        vo_role="Analysis",
    )
    sid = new_submission(database, stage)
    with running_launcher(settings, database) as launcher:
        launcher.send(LaunchSubmission(submission_id=sid))
        outcome = launcher.wait_event((SubmissionLaunched, LaunchFailed), submission_id=sid)
        text = log_text(launcher, sid)
    assert isinstance(outcome, SubmissionLaunched), text
    assert re.search(r"^PROXY=/tmp/proxy[0-9a-f]+$", text, re.MULTILINE), text
    assert "proxy bits" in text
    # the proxy reached the host (it was read there) and no staged copy is left behind
    assert not list(Path("/tmp").glob("*_x509up_voms_demo_Analysis_poms"))
