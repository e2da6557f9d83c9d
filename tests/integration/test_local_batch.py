"""The local batch backend running real jobs from a temporary spool."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from poms_shared.batch.local import LocalBatch, PollResult
from poms_shared.batch.local_events import is_terminal, parse_events
from poms_shared.batch.local_procs import group_alive, read_ref
from poms_shared.batch.local_spool import JobDir
from poms_shared.contracts.messages import JobEvent

BIN = Path(sys.executable).parent
T = TypeVar("T")

JOB_SCRIPT = """\
echo "hello from $POMS_JOB_ID"
echo "to stderr" >&2
if [ "$PROCESS" = 1 ]; then exit 3; fi
if [ "$PROCESS" = 0 ]; then
  printf data > out0.root
  poms-declare-file out0.root --location out0.root --parent in0.root --parent in1.root \\
    --version v1 --meta nevents=10
fi
"""


def job_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # the payloads call poms-declare-file from this virtualenv
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def cli(script: str, subcommand: str) -> list[str]:
    path = BIN / script
    if path.exists():
        return [str(path)]
    return [sys.executable, "-m", "poms_shared.batch.local_cli", subcommand]


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "it") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def by_job(events: list[JobEvent]) -> dict[str, list[JobEvent]]:
    grouped: dict[str, list[JobEvent]] = {}
    for event in events:
        grouped.setdefault(event.batch_job_id, []).append(event)
    return grouped


def poll_until_terminal(batch: LocalBatch, count: int, timeout: float = 10.0) -> PollResult:
    def probe() -> PollResult | None:
        result = batch.poll()
        jobs = by_job(result.events)
        finished = [j for j in jobs.values() if is_terminal(max(j, key=lambda e: e.seq).state)]
        return result if len(finished) == count else None

    return wait_for(probe, timeout, f"{count} terminal job(s)")


def state_of(batch: LocalBatch, job_id: str) -> str:
    return next(j.state for j in batch.jobs() if j.job_id == job_id)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "spool"
    yield root
    # never leave a payload behind, whatever the test did
    cleaner = LocalBatch(root, kill_grace=1.0)
    for job in cleaner.jobs():
        if not is_terminal(job.state):
            cleaner.kill(job.job_id)


def test_jobs_run_to_their_terminal_states(spool: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    batch = LocalBatch(spool, slots=4)
    env = job_env(POMS4_EXPERIMENT="testexp")
    batch_id = batch.submit(11, ["sh", "-c", JOB_SCRIPT], count=3, env=env, cwd=str(work))
    assert batch_id == "1@local"

    result = poll_until_terminal(batch, 3)

    jobs = by_job(result.events)
    assert sorted(jobs) == ["1.0@local", "1.1@local", "1.2@local"]
    finals = {job_id: events[-1] for job_id, events in jobs.items()}
    assert {k: (e.state, e.exit_code) for k, e in finals.items()} == {
        "1.0@local": ("completed", 0),
        "1.1@local": ("failed", 3),
        "1.2@local": ("completed", 0),
    }
    for job_id, events in jobs.items():
        assert [e.seq for e in events] == [1, 2, 3]
        assert [e.state for e in events][:2] == ["idle", "running"]
        assert [e.at for e in events] == sorted(e.at for e in events)
        assert all(e.source == "local-poller" and e.backend == "local" for e in events)
        assert all(e.submission_id == 11 and e.node for e in events)
        log = Path(str(events[-1].log_path)).read_text()
        assert f"hello from {job_id.removesuffix('@local')}" in log
        assert "to stderr" in log

    assert len(result.files) == 1
    declared = result.files[0]
    assert (declared.experiment, declared.submission_id) == ("testexp", 11)
    assert declared.batch_job_id == "1.0@local"
    [out] = declared.files
    assert out.name == "out0.root"
    assert out.parents == ["in0.root", "in1.root"]
    assert (out.location, out.size) == (str(work / "out0.root"), 4)
    assert (out.software_version, out.metadata) == ("v1", {"nevents": 10})


def test_slot_limit_runs_one_job_at_a_time(spool: Path) -> None:
    batch = LocalBatch(spool, slots=1)
    batch.submit(1, ["sh", "-c", "sleep 0.3"], count=3)

    result = poll_until_terminal(batch, 3, timeout=15.0)

    spans = sorted((events[1].at, events[-1].at) for events in by_job(result.events).values())
    assert len(spans) == 3
    for (_, previous_end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= previous_end


def test_kill_removes_idle_and_running_jobs(spool: Path) -> None:
    batch = LocalBatch(spool, slots=1, kill_grace=2.0)
    batch.submit(2, ["sleep", "30"], count=2)
    # waiting jobs race for the only slot, so either may be the one that runs
    running = wait_for(
        lambda: next((j.job_id for j in batch.jobs() if j.state == "running"), None),
        what="a running job",
    )
    waiting = "1.1" if running == "1.0" else "1.0"
    payload = wait_for(lambda: read_ref(JobDir(spool / "jobs" / running).pid), what="pid file")

    assert batch.kill(f"{waiting}@local") == 1
    assert state_of(batch, waiting) == "removed"

    started = time.monotonic()
    assert batch.kill("1@local") == 1  # only the running job was still live
    assert time.monotonic() - started < 2.0  # SIGTERM was enough, no SIGKILL grace needed
    assert not group_alive(payload.pid)

    jobs = by_job(batch.poll().events)
    assert [e.state for e in jobs[f"{running}@local"]] == ["idle", "running", "removed"]
    assert [e.state for e in jobs[f"{waiting}@local"]] == ["idle", "removed"]
    time.sleep(0.5)  # the removed job's runner must not start it now that the slot is free
    assert [e.state for e in by_job(batch.poll().events)[f"{waiting}@local"]] == [
        "idle",
        "removed",
    ]
    assert batch.kill("1@local") == 0


def test_job_whose_runner_vanished_is_failed(spool: Path) -> None:
    batch = LocalBatch(spool, slots=2)
    batch.submit(3, ["sleep", "30"])
    jd = JobDir(spool / "jobs" / "1.0")
    payload = wait_for(lambda: read_ref(jd.pid), what="the payload's pid file")
    runner = read_ref(jd.runner_pid)
    assert runner is not None

    os.kill(runner.pid, signal.SIGKILL)
    result = poll_until_terminal(batch, 1)

    final = by_job(result.events)["1.0@local"][-1]
    assert (final.state, final.exit_code, final.seq) == ("failed", -1, 3)
    wait_for(lambda: not group_alive(payload.pid), timeout=5.0, what="the orphaned payload")
    # the decision is on disk: another instance (a restarted tracker) sees the same
    last = parse_events(jd.events.read_bytes())[0][-1]
    assert (last.state, last.exit_code) == ("failed", -1)
    assert [(j.state, j.exit_code) for j in LocalBatch(spool).jobs()] == [("failed", -1)]


def test_cli_submit_prints_batch_id_and_jobs_outlive_it(spool: Path) -> None:
    env = job_env(POMS_BATCH_DIR=str(spool), POMS4_SUBMISSION_ID="5")
    command = ["-N", "2", "--", "sh", "-c", 'sleep 0.5; echo "done $PROCESS"']
    submitter = subprocess.run(
        [*cli("poms-local-submit", "submit"), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert submitter.returncode == 0, submitter.stderr
    assert submitter.stdout.splitlines() == [
        "Submitted cluster 1 with 2 job(s).",
        "POMS_BATCH_ID=1@local",
    ]
    batch = LocalBatch(spool)
    # the submitter has exited; its jobs have not finished yet
    assert not any(is_terminal(j.state) for j in batch.jobs())

    poll_until_terminal(batch, 2)
    jobs = batch.jobs()
    assert [(j.job_id, j.submission_id, j.state) for j in jobs] == [
        ("1.0", 5, "completed"),
        ("1.1", 5, "completed"),
    ]
    assert "done 1" in jobs[1].log_path.read_text()


@pytest.mark.parametrize("submission_id", [None, "abc"])
def test_cli_submit_needs_a_submission_id(spool: Path, submission_id: str | None) -> None:
    env = job_env(POMS_BATCH_DIR=str(spool))
    env.pop("POMS4_SUBMISSION_ID", None)
    if submission_id is not None:
        env["POMS4_SUBMISSION_ID"] = submission_id
    result = subprocess.run(
        [*cli("poms-local-submit", "submit"), "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert "POMS4_SUBMISSION_ID" in result.stderr
    assert not (spool / "jobs").exists()


def test_declare_file_outside_a_job_fails_clearly() -> None:
    env = job_env()
    env.pop("POMS_FILE_MANIFEST", None)
    result = subprocess.run(
        [*cli("poms-declare-file", "declare"), "out.root"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert "not running inside a POMS local batch job" in result.stderr


def test_mark_tracked_stops_reporting_and_restart_rereads(spool: Path) -> None:
    batch = LocalBatch(spool)
    batch.submit(4, ["true"], count=2)
    first = poll_until_terminal(batch, 2)
    assert batch.poll().events == first.events  # reported again until tracked

    assert batch.mark_tracked(["1.0@local"]) == 1

    remaining = batch.poll().events
    assert {e.batch_job_id for e in remaining} == {"1.1@local"}
    restarted = LocalBatch(spool).poll().events
    assert restarted == remaining
    assert [e for e in first.events if e.batch_job_id == "1.1@local"] == remaining


def test_payload_that_cannot_start_fails_like_a_shell(spool: Path) -> None:
    batch = LocalBatch(spool)
    batch.submit(6, [str(spool.parent / "no-such-program")])
    poll_until_terminal(batch, 1)
    [job] = batch.jobs()
    assert (job.state, job.exit_code) == ("failed", 127)
    assert "cannot start" in job.log_path.read_text()


def test_kill_escalates_to_sigkill_after_the_grace(spool: Path) -> None:
    batch = LocalBatch(spool, kill_grace=0.3)
    # SIG_IGN is inherited across exec, so the whole group ignores SIGTERM
    batch.submit(7, ["sh", "-c", "trap '' TERM; sleep 30"])
    jd = JobDir(spool / "jobs" / "1.0")
    payload = wait_for(lambda: read_ref(jd.pid), what="the payload's pid file")
    assert batch.kill("1.0@local") == 1
    assert not group_alive(payload.pid)
    assert [(j.state, j.exit_code) for j in batch.jobs()] == [("removed", None)]
    assert jd.job_json.stat().st_mode & 0o077 == 0  # the saved environment stays private


def test_an_ended_job_reports_what_it_used(
    spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The terminal event carries the payload's CPU and wall seconds, its peak memory and
    the site (``POMS_LOCAL_SITE`` where the runner runs); events before it tell none."""
    monkeypatch.setenv("POMS_LOCAL_SITE", "lab")
    burn = (
        "import time\n"
        "block = bytearray(60 * 1024 * 1024)\n"  # touched: resident
        "for i in range(0, len(block), 4096): block[i] = 1\n"
        "end = time.process_time() + 0.3\n"
        "while time.process_time() < end: pass\n"
        "time.sleep(0.2)\n"
    )
    batch = LocalBatch(spool, slots=1)
    batch.submit(12, [sys.executable, "-c", burn], count=1, env=job_env(), cwd=str(tmp_path))

    [events] = by_job(poll_until_terminal(batch, 1).events).values()

    *before, last = events
    assert last.state == "completed"
    assert all(e.cpu_seconds is None and e.site is None for e in before)
    assert last.site == "lab"
    assert last.cpu_seconds is not None and last.wall_seconds is not None
    assert 0.3 <= last.cpu_seconds <= last.wall_seconds + 0.05
    assert last.wall_seconds >= 0.5
    assert last.memory_mb is not None and last.memory_mb >= 60
    assert last.memory_requested_mb is None  # the local backend takes no request
