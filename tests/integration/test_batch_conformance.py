"""Every batch backend behaves the same through the port: states, exit codes, control."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from batch_drivers import BACKENDS, Driver, open_driver

from poms_shared.batch.local_events import is_terminal
from poms_shared.contracts.messages import FilesDeclared, JobEvent

SLOW_JOB = "sleep 30\n"


@pytest.fixture(params=BACKENDS)
def driver(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Driver]:
    yield from open_driver(request.param, tmp_path, monkeypatch)


class Watcher:
    """Polls a backend, keeping every event and declared file it reported."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.events: dict[str, list[JobEvent]] = {}
        self.files: list[FilesDeclared] = []

    def poll(self) -> None:
        result = self.driver.backend.poll()
        for event in result.events:
            seen = self.events.setdefault(event.batch_job_id, [])
            if all(e.seq != event.seq for e in seen):
                seen.append(event)
        self.files.extend(result.files)

    def last(self, job_id: str) -> JobEvent | None:
        seen = self.events.get(job_id, [])
        return max(seen, key=lambda e: e.seq) if seen else None

    def wait(self, what: str, done: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.driver.progress()
            self.poll()
            if done():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.events}")
            time.sleep(0.3)

    def wait_states(self, count: int, states: set[str], timeout: float = 60.0) -> list[JobEvent]:
        def reached() -> bool:
            lasts = [self.last(j) for j in self.events]
            return len(lasts) == count and all(e is not None and e.state in states for e in lasts)

        self.wait(f"{count} jobs in {sorted(states)}", reached, timeout)
        return [e for j in sorted(self.events) if (e := self.last(j)) is not None]


def terminal(watcher: Watcher, count: int) -> list[JobEvent]:
    states = {"completed", "failed", "removed", "cancelled"}
    return watcher.wait_states(count, states)


def test_jobs_end_with_their_exit_codes_nodes_and_increasing_seqs(driver: Driver) -> None:
    script = '[ "$PROCESS" = 1 ] && exit 3\nexit 0\n'
    batch_id = driver.submit(101, script, 3)
    watcher = Watcher(driver)
    finals = terminal(watcher, 3)
    assert batch_id.split("@")[0] in finals[0].batch_job_id
    by_proc = {e.batch_job_id.split("@")[0].split(".")[1]: e for e in finals}
    assert [(by_proc[p].state, by_proc[p].exit_code) for p in "012"] == [
        ("completed", 0),
        ("failed", 3),
        ("completed", 0),
    ]
    assert [e.node for e in finals] == [driver.node] * 3
    for job_id, events in watcher.events.items():
        seqs = [e.seq for e in sorted(events, key=lambda e: e.seq)]
        assert seqs == sorted(set(seqs)) and seqs[0] == 1, job_id
        assert all(e.submission_id == 101 and e.backend == driver.backend.name for e in events)


def test_ended_jobs_tell_the_site_they_ran_at_and_for_how_long(driver: Driver) -> None:
    driver.submit(108, "sleep 1\n", 1)
    watcher = Watcher(driver)
    [final] = terminal(watcher, 1)
    assert final.state == "completed"
    assert final.site  # the local site, the Slurm cluster, the glidein site
    # whole seconds on Slurm (start and end times), so a second's sleep may show as 1
    assert final.wall_seconds is not None and 0.9 <= final.wall_seconds < 30


def test_finished_jobs_are_not_reported_once_marked_tracked(driver: Driver) -> None:
    driver.submit(102, "exit 0\n", 2)
    watcher = Watcher(driver)
    finals = terminal(watcher, 2)
    assert driver.backend.mark_tracked([e.batch_job_id for e in finals]) == 2
    assert driver.backend.poll().events == []


def test_kill_removes_the_live_jobs_of_a_batch(driver: Driver) -> None:
    batch_id = driver.submit(103, SLOW_JOB, 2)
    watcher = Watcher(driver)
    watcher.poll()
    assert driver.backend.kill(batch_id) == 2
    finals = terminal(watcher, 2)
    assert {e.state for e in finals} == {"removed"}


def test_hold_keeps_a_job_held_until_release_lets_it_finish(driver: Driver) -> None:
    batch_id = driver.submit(104, "sleep 2\n", 1)
    assert driver.backend.hold(batch_id) == 1
    watcher = Watcher(driver)
    watcher.wait_states(1, {"held"})
    time.sleep(1.5)  # a held job stays held (and unfinished) while nobody releases it
    watcher.poll()
    assert [e.state for e in watcher.events.values() for e in [max(e, key=lambda x: x.seq)]] == [
        "held"
    ]
    assert driver.backend.release(batch_id) == 1
    finals = terminal(watcher, 1)
    assert [(e.state, e.exit_code) for e in finals] == [("completed", 0)]
    states = [e.state for e in sorted(next(iter(watcher.events.values())), key=lambda e: e.seq)]
    assert "held" in states and states.index("held") < len(states) - 1


def test_a_job_the_batch_system_loses_gets_a_final_state(driver: Driver) -> None:
    batch_id = driver.submit(105, SLOW_JOB, 1)
    watcher = Watcher(driver)
    watcher.poll()
    driver.vanish(batch_id)
    finals = terminal(watcher, 1)
    expected = -1 if driver.vanished_state == "failed" else None
    assert [(e.state, e.exit_code) for e in finals] == [(driver.vanished_state, expected)]


# jobsub_q's table names no node: a jobsub job's node comes with its final event only
@pytest.mark.parametrize("driver", ["local", "slurm"], indirect=True)
def test_a_running_job_reports_the_node_it_runs_on(driver: Driver) -> None:
    # exec: one process, so a kill arriving as the job starts cannot miss a forked child
    batch_id = driver.submit(107, "exec sleep 30\n", 1)
    watcher = Watcher(driver)
    [running] = watcher.wait_states(1, {"running"})
    first = min(next(iter(watcher.events.values())), key=lambda e: e.seq)
    assert driver.backend.kill(batch_id) == 1
    terminal(watcher, 1)  # ended before the batch system stops, leaving no process behind
    assert running.node == driver.node
    # waiting jobs have run nowhere yet; the local backend's runner is on the POMS host
    assert first.state == "idle" and first.node in (None, driver.node)


# jobsub jobs run on remote worker nodes and declare their files through the API instead
@pytest.mark.parametrize("driver", ["local", "slurm"], indirect=True)
def test_files_declared_by_a_job_come_back_when_it_ends(driver: Driver) -> None:
    assert driver.declares_files
    script = (
        'printf data > "out$PROCESS.root"\n'
        'poms-declare-file "out$PROCESS.root" --location "out$PROCESS.root" --parent in.root\n'
    )
    driver.submit(106, script, 2)
    watcher = Watcher(driver)
    terminal(watcher, 2)
    watcher.wait("declared files", lambda: len({f.batch_job_id for f in watcher.files}) == 2)
    # a poll repeats what was not marked tracked yet; consumers dedupe
    names = sorted({f.name for d in watcher.files for f in d.files})
    assert names == ["out0.root", "out1.root"]
    declared = watcher.files[0]
    assert declared.submission_id == 106 and declared.files[0].parents == ["in.root"]
    assert declared.files[0].size == 4
    assert is_terminal(watcher.last(declared.batch_job_id or "").state)  # type: ignore[union-attr]
