"""The launcher service: parallel launches, aborts, show commands, job control, restarts."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from launcher_harness import (
    Harness,
    configure_stage,
    log_text,
    new_submission,
    running_launcher,
    wait_for,
)

from poms_launcher.handlers import INTERRUPTED
from poms_shared.batch.local import LocalBatch
from poms_shared.contracts.messages import (
    AbortLaunch,
    JobControl,
    JobControlApplied,
    LaunchFailed,
    LaunchSubmission,
    SubmissionLaunched,
)
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import Settings, load_settings

STAMPED = (
    'echo "start $(date +%%s.%%N)"; sleep 1; echo "end $(date +%%s.%%N)"; poms-local-submit -- true'
)


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    with database.transaction() as session:
        load_samples(session)
    return load_settings(
        var_dir=tmp_path, database_url=database.url, launch_concurrency=3, poll_interval=0.2
    )


@pytest.fixture
def launcher(settings: Settings, database: Database) -> Iterator[Harness]:
    with running_launcher(settings, database) as harness:
        yield harness


def stamps(text: str, word: str) -> float:
    match = re.search(rf"^{word} ([0-9.]+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


def test_three_launches_run_at_the_same_time_with_concurrency_three(launcher, database):
    stage = configure_stage(database, launch_script=STAMPED)
    sids = [new_submission(database, stage) for _ in range(3)]
    for sid in sids:
        launcher.send(LaunchSubmission(submission_id=sid))
    for sid in sids:
        launcher.wait_event(SubmissionLaunched, submission_id=sid)
    logs = [log_text(launcher, sid) for sid in sids]
    assert max(stamps(t, "start") for t in logs) < min(stamps(t, "end") for t in logs)


def test_a_second_launch_request_for_a_submission_does_not_run_it_again(launcher, database):
    stage = configure_stage(database, launch_script="poms-local-submit -- true")
    sid = new_submission(database, stage)
    launcher.send(LaunchSubmission(submission_id=sid))
    launcher.send(LaunchSubmission(submission_id=sid))
    launcher.wait_event(SubmissionLaunched, submission_id=sid)
    assert launcher.service.bus.wait_idle(10)
    assert log_text(launcher, sid).count("== process_id:") == 1
    assert len(launcher.collected(SubmissionLaunched)) == 1


def test_abort_kills_a_running_launch_and_reports_it_once(launcher, database):
    stage = configure_stage(database, launch_script="sleep 60; poms-local-submit -- true")
    sid = new_submission(database, stage)
    launcher.send(LaunchSubmission(submission_id=sid))
    text = wait_for(lambda: log_text(launcher, sid), what="the process marker")
    pid = int(re.search(r"process_id: (\d+)", text).group(1))  # type: ignore[union-attr]
    launcher.send(AbortLaunch(submission_id=sid, actor="bob"))
    failed = launcher.wait_event(LaunchFailed, submission_id=sid)
    assert failed.reason == "aborted by bob"
    wait_for(lambda: not _alive(pid), 10, "the launch's process to die")
    assert "aborted by bob" in log_text(launcher, sid)
    launcher.service.bus.wait_idle(10)
    assert launcher.collected(SubmissionLaunched) == []
    assert len(launcher.collected(LaunchFailed, submission_id=sid)) == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_show_commands_stores_the_launch_without_running_it(launcher, database, settings):
    stage = configure_stage(database, launch_script="touch ran; poms-local-submit -- true")
    sid = new_submission(database, stage)
    launcher.send(LaunchSubmission(submission_id=sid, commands_only=True))
    sub = wait_for(lambda: launcher.submission(sid).command_executed and launcher.submission(sid))
    assert sub.command_executed == "touch ran; poms-local-submit -- true"
    commands = sub.submission_params["commands"]
    assert commands["command_line"].startswith("/bin/bash -c '")
    assert "echo 'touch ran; poms-local-submit -- true'" in commands["script"]
    assert sub.status_id == int(SubmissionStatus.NEW)
    assert sub.launch_log is None
    assert launcher.service.bus.wait_idle(10)
    assert launcher.events == []


def test_job_control_kill_removes_the_jobs_and_reports_each_submission(
    launcher, database, settings
):
    stage = configure_stage(database, launch_script="poms-local-submit -N 2 -- sleep 60")
    sid = new_submission(database, stage)
    idle = new_submission(database, stage)
    launcher.send(LaunchSubmission(submission_id=sid))
    batch_id = launcher.wait_event(SubmissionLaunched, submission_id=sid).batch_id
    launcher.send(JobControl(submission_ids=[sid, idle], action="kill", actor="bob"))
    applied = launcher.wait_event(JobControlApplied, submission_id=sid)
    assert applied.ok, applied.detail
    assert "2 job(s)" in applied.detail
    unlaunched = launcher.wait_event(JobControlApplied, submission_id=idle)
    assert not unlaunched.ok
    batch = LocalBatch.from_settings(settings)
    wait_for(lambda: all(j.state == "removed" for j in batch.jobs(batch_id)), 20, "jobs removed")


def test_a_kill_during_the_launch_waits_for_its_batch_id_and_removes_the_jobs(
    launcher, database, settings
):
    """The jobs run (and are reported) before the launch command ends and its batch id is
    recorded; a kill arriving in between waits for the id instead of refusing."""
    stage = configure_stage(
        database, launch_script="poms-local-submit -N 2 -- sleep 60; sleep 2; echo done"
    )
    sid = new_submission(database, stage)
    launcher.send(LaunchSubmission(submission_id=sid))
    batch = LocalBatch.from_settings(settings)
    wait_for(lambda: len(batch.jobs()) == 2, what="the launch's jobs to be submitted")
    assert launcher.submission(sid).batch_id is None
    launcher.send(JobControl(submission_ids=[sid], action="kill", actor="bob"))
    applied = launcher.wait_event(JobControlApplied, submission_id=sid)
    assert applied.ok, applied.detail
    batch_id = launcher.submission(sid).batch_id
    assert batch_id and "2 job(s)" in applied.detail
    wait_for(lambda: all(j.state == "removed" for j in batch.jobs(batch_id)), 20, "jobs removed")


def test_batch_system_errors_become_failed_outcomes(launcher, database):
    stage = configure_stage(database, launch_script="poms-local-submit -- true")
    sid = new_submission(database, stage)
    ghost = new_submission(database, stage)
    with database.transaction() as session:
        row = session.get(Submission, ghost)
        assert row is not None
        row.batch_id = "77@nowhere"
    launcher.send(LaunchSubmission(submission_id=sid))
    launcher.wait_event(SubmissionLaunched, submission_id=sid)
    launcher.send(JobControl(submission_ids=[ghost], action="hold", actor="bob"))
    outcome = launcher.wait_event(JobControlApplied, submission_id=ghost)
    assert not outcome.ok
    assert "nowhere" in outcome.detail


def test_a_launch_running_when_the_launcher_stopped_is_reported_interrupted(settings, database):
    stage = configure_stage(database, launch_script="poms-local-submit -- true")
    started = new_submission(
        database,
        stage,
        launch_accepted="t",
        launch_started="t",
        launcher_id=settings.launcher_id,
    )
    # a replica on the same host with its own POMS_LAUNCHER_ID owns this one
    replica = new_submission(
        database, stage, launch_accepted="t", launch_started="t", launcher_id="replica-2"
    )
    queued = new_submission(database, stage, launch_accepted="t")
    with database.transaction() as session:
        for sid in (started, queued, replica):
            row = session.get(Submission, sid)
            assert row is not None
            row.launch_log = str(settings.log_dir / f"restart_{sid}")
    with running_launcher(settings, database) as launcher:
        failed = launcher.wait_event(LaunchFailed, submission_id=started)
        assert failed.reason == INTERRUPTED
        launcher.wait_event(SubmissionLaunched, submission_id=queued)
    with database.transaction() as session:
        row = session.get(Submission, replica)
        assert row is not None
        assert "launch_finished" not in row.submission_params
