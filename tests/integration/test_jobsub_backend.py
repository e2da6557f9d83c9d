"""The jobsub backend against the fake jobsub_lite tools: groups, history look-ups, grace."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poms_shared.batch.jobsub import LEFT_MARKER, JobsubBatch
from poms_shared.batch.observed import read_clusters
from poms_shared.batch.port import BatchError
from poms_shared.contracts.messages import JobEvent
from poms_shared.testing import fake_jobsub
from poms_shared.testing.fake_jobsub import REQUEST_MEMORY, SITE, WORKER_NODE, FakeQueue


class Clock:
    """A hand-driven clock for the history grace period."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeQueue]:
    """Fake jobsub tools first on PATH, no group in the environment."""
    for name in ("GROUP", "JOBSUB_GROUP"):
        monkeypatch.delenv(name, raising=False)
    env = fake_jobsub.install(tmp_path / "bin", tmp_path / "queue.json")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield FakeQueue(tmp_path / "queue.json")


def make_job(tmp_path: Path, body: str) -> str:
    path = tmp_path / "job.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def submit(batch: JobsubBatch, tmp_path: Path, count: int = 1, **env: str) -> str:
    script = make_job(tmp_path, '[ "$PROCESS" = 1 ] && exit 5\nexit 0\n')
    return batch.submit(1, [script], count, {**os.environ, **env}, str(tmp_path))


def last_events(batch: JobsubBatch) -> dict[str, JobEvent]:
    last: dict[str, JobEvent] = {}
    for event in batch.poll().events:
        if event.batch_job_id not in last or last[event.batch_job_id].seq < event.seq:
            last[event.batch_job_id] = event
    return last


def group_of(argv: list[str]) -> str | None:
    return argv[argv.index("-G") + 1] if "-G" in argv else None


def test_every_call_about_a_cluster_uses_the_group_it_was_submitted_with(
    tmp_path: Path, queue: FakeQueue
) -> None:
    batch = JobsubBatch(tmp_path / "spool", group="demo", user="poms")
    nova = submit(batch, tmp_path, GROUP="nova")
    dune = submit(batch, tmp_path, GROUP="nova", JOBSUB_GROUP="dune")
    plain = submit(batch, tmp_path)
    assert [group_of(argv) for argv in queue.calls("jobsub_submit")] == ["nova", "dune", "demo"]
    assert [r.group for r in read_clusters(batch.root)] == ["nova", "dune", "demo"]

    assert batch.hold(nova) == 1 and batch.release(nova) == 1 and batch.kill(dune) == 1
    assert [group_of(a) for a in queue.calls("jobsub_hold")] == ["nova"]
    assert [group_of(a) for a in queue.calls("jobsub_release")] == ["nova"]
    assert [(group_of(a), a[-1]) for a in queue.calls("jobsub_rm")] == [("dune", f"--jobid={dune}")]

    queue.advance()
    last_events(batch)
    calls = queue.calls("jobsub_history")
    assert sorted((group_of(a), a[a.index("-constraint") + 1]) for a in calls) == [
        ("demo", f"ClusterId == {plain.split('@')[0]}"),
        ("dune", f"ClusterId == {dune.split('@')[0]}"),
        ("nova", f"ClusterId == {nova.split('@')[0]}"),
    ]


def test_jobs_that_left_the_queue_get_exit_codes_and_nodes_from_one_history_call(
    tmp_path: Path, queue: FakeQueue
) -> None:
    batch = JobsubBatch(tmp_path / "spool", group="demo", user="poms")
    first = submit(batch, tmp_path, count=3).split("@")[0]
    second = submit(batch, tmp_path, count=2).split("@")[0]
    assert {e.state for e in last_events(batch).values()} == {"idle"}
    assert queue.calls("jobsub_history") == []  # nothing has left the queue yet

    queue.advance()
    finals = last_events(batch)
    assert len(queue.calls("jobsub_history")) == 1
    assert {k: (e.state, e.exit_code, e.node) for k, e in finals.items()} == {
        f"{first}.0@{fake_jobsub.SCHEDD}": ("completed", 0, WORKER_NODE),
        f"{first}.1@{fake_jobsub.SCHEDD}": ("failed", 5, WORKER_NODE),
        f"{first}.2@{fake_jobsub.SCHEDD}": ("completed", 0, WORKER_NODE),
        f"{second}.0@{fake_jobsub.SCHEDD}": ("completed", 0, WORKER_NODE),
        f"{second}.1@{fake_jobsub.SCHEDD}": ("failed", 5, WORKER_NODE),
    }
    last_events(batch)
    assert len(queue.calls("jobsub_history")) == 1  # ended jobs are not looked up again


def test_a_finished_jobs_final_event_tells_what_history_says_it_used(
    tmp_path: Path, queue: FakeQueue
) -> None:
    batch = JobsubBatch(tmp_path / "spool", group="demo", user="poms")
    script = make_job(tmp_path, "python3 -c 'sum(range(3_000_000))'\nsleep 0.2\n")
    batch.submit(1, [script], 1, dict(os.environ), str(tmp_path))
    [waiting] = last_events(batch).values()
    assert waiting.site is None and waiting.memory_requested_mb is None  # jobsub_q tells none

    queue.advance()
    [final] = last_events(batch).values()
    assert final.state == "completed"
    assert (final.site, final.memory_requested_mb) == (SITE, REQUEST_MEMORY)
    assert final.wall_seconds is not None and final.wall_seconds >= 0.2
    assert final.cpu_seconds is not None and 0 < final.cpu_seconds <= final.wall_seconds
    assert final.memory_mb is not None and final.memory_mb > 0


def test_a_job_removed_before_any_poll_saw_it_go_is_recorded_removed_from_history(
    tmp_path: Path, queue: FakeQueue
) -> None:
    batch = JobsubBatch(tmp_path / "spool", group="demo", user="poms")
    batch_id = submit(batch, tmp_path)
    assert batch.kill(batch_id) == 1
    queue.advance()  # the removed job leaves the queue for the history
    [final] = last_events(batch).values()
    assert (final.state, final.exit_code, final.node) == ("removed", None, None)
    # it never ran: no site, no use; what it asked for is still on its ad
    assert (final.site, final.cpu_seconds, final.memory_requested_mb) == (None, None, 2000)


def test_a_job_history_does_not_know_ends_completed_only_after_the_grace_period(
    tmp_path: Path, queue: FakeQueue
) -> None:
    clock = Clock()
    batch = JobsubBatch(tmp_path / "spool", group="demo", history_grace=300, clock=clock)
    batch_id = submit(batch, tmp_path)
    queue.drop(batch_id)

    assert [e.state for e in last_events(batch).values()] == ["idle"]
    clock.now += 299
    assert [e.state for e in last_events(batch).values()] == ["idle"]
    # looked up when it was first missed, and not again before the grace period ended
    assert len(queue.calls("jobsub_history")) == 1

    clock.now += 1
    [final] = last_events(batch).values()
    assert (final.state, final.exit_code, final.node) == ("completed", None, None)
    assert len(queue.calls("jobsub_history")) == 2


def test_a_job_that_history_finds_late_still_gets_its_real_exit_code(
    tmp_path: Path, queue: FakeQueue
) -> None:
    clock = Clock()
    batch = JobsubBatch(tmp_path / "spool", group="demo", history_grace=300, clock=clock)
    submit(batch, tmp_path, count=2)
    queue.advance(history_lag=True)  # gone from the queue, not yet in the history
    assert {e.state for e in last_events(batch).values()} == {"idle"}

    queue.catch_up()
    clock.now += 300
    finals = last_events(batch)
    assert sorted((e.state, e.exit_code) for e in finals.values()) == [
        ("completed", 0),
        ("failed", 5),
    ]


def test_while_history_fails_a_job_that_left_the_queue_stays_unfinished(
    tmp_path: Path, queue: FakeQueue
) -> None:
    batch = JobsubBatch(tmp_path / "spool", group="demo", history_grace=0)
    batch_id = submit(batch, tmp_path)
    queue.drop(batch_id)
    tool = tmp_path / "bin" / "jobsub_history"
    working = tool.read_text()
    tool.write_text("#!/bin/sh\necho 'Error: no bearer token' >&2\nexit 1\n")
    assert [e.state for e in last_events(batch).values()] == ["idle"]
    assert [e.state for e in last_events(batch).values()] == ["idle"]

    tool.write_text(working)  # history answers (without the job): now it may end
    [final] = last_events(batch).values()
    assert (final.state, final.exit_code) == ("completed", None)


def test_bad_settings_and_unreadable_submit_output_are_clear_errors(
    tmp_path: Path, queue: FakeQueue
) -> None:
    with pytest.raises(ValueError, match="history_grace"):
        JobsubBatch(tmp_path / "spool", history_grace=-1)
    (tmp_path / "bin" / "jobsub_submit").write_text("#!/bin/sh\necho token expired\n")
    with pytest.raises(BatchError, match="no job id"):
        submit(JobsubBatch(tmp_path / "spool", group="demo"), tmp_path)


def test_a_damaged_left_queue_marker_does_not_keep_a_job_unfinished_forever(
    tmp_path: Path, queue: FakeQueue
) -> None:
    batch = JobsubBatch(tmp_path / "spool", group="demo", history_grace=60)
    batch_id = submit(batch, tmp_path)
    queue.drop(batch_id)
    assert [e.state for e in last_events(batch).values()] == ["idle"]
    [marker] = (tmp_path / "spool" / "jobs").glob(f"*/{LEFT_MARKER}")
    marker.write_text("not a time")
    assert [e.state for e in last_events(batch).values()] == ["idle"]
    old = time.time() - 61
    os.utime(marker, (old, old))  # its age stands in for the unreadable time
    [final] = last_events(batch).values()
    assert (final.state, final.exit_code) == ("completed", None)
