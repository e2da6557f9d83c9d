"""Every batch backend answers ``describe`` alike: the whole truth about clusters, now."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from batch_drivers import BACKENDS, Driver, open_driver

from poms_shared.batch.local_events import is_terminal
from poms_shared.batch.port import DescribesJobs, Observation, describer

SLOW_JOB = "sleep 30\n"
Description = dict[str, Observation | None]


@pytest.fixture(params=BACKENDS)
def driver(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Driver]:
    yield from open_driver(request.param, tmp_path, monkeypatch)


def describing(driver: Driver) -> DescribesJobs:
    found = describer(driver.backend)
    assert found is not None, f"{driver.backend.name} does not offer describe"
    return found


def wait_for(
    driver: Driver, batch_ids: list[str], done: Callable[[Description], bool], timeout: float = 60
) -> Description:
    """Describe ``batch_ids`` until ``done`` says so (the fake schedd is moved on each time)."""
    deadline = time.monotonic() + timeout
    while True:
        driver.progress()
        answer = describing(driver).describe(batch_ids)
        if done(answer):
            return answer
        assert time.monotonic() < deadline, f"timed out; last answer {answer}"
        time.sleep(0.3)


def ended(count: int) -> Callable[[Description], bool]:
    return lambda a: (
        len(a) == count and all(o is not None and is_terminal(o.state) for o in a.values())
    )


def job_ref(batch_id: str, proc: int) -> str:
    cluster, _, where = batch_id.partition("@")
    return f"{cluster}.{proc}@{where}" if where else f"{cluster}.{proc}"


def test_a_finished_batch_is_described_job_by_job_even_once_tracked(driver: Driver) -> None:
    batch_id = driver.submit(201, '[ "$PROCESS" = 1 ] && exit 3\nexit 0\n', 3)
    answer = wait_for(driver, [batch_id], ended(3))
    assert list(answer) == [job_ref(batch_id, p) for p in range(3)]
    assert [(o.state, o.exit_code) for o in answer.values() if o] == [
        ("completed", 0),
        ("failed", 3),
        ("completed", 0),
    ]
    assert [o.node for o in answer.values() if o] == [driver.node] * 3
    # the ids are the ones poll reports, so the tracker can match its rows
    polled = {e.batch_job_id for e in driver.backend.poll().events}
    assert polled == set(answer)
    # describe tells the whole truth, not the changes: tracked jobs are still described
    assert driver.backend.mark_tracked(sorted(polled)) == 3
    assert describing(driver).describe([batch_id]) == answer
    assert describing(driver).describe([job_ref(batch_id, 1)]) == {
        job_ref(batch_id, 1): answer[job_ref(batch_id, 1)]
    }


def test_a_live_job_is_described_live_and_then_removed(driver: Driver) -> None:
    batch_id = driver.submit(202, SLOW_JOB, 1)
    [live] = describing(driver).describe([batch_id]).values()
    assert live is not None and live.state in ("idle", "running") and live.exit_code is None
    assert driver.backend.kill(batch_id) == 1
    [gone] = wait_for(driver, [batch_id], ended(1)).values()
    assert gone is not None and gone.state == "removed"


def test_a_job_the_batch_system_lost_is_unknown_not_ended(driver: Driver) -> None:
    batch_id = driver.submit(203, SLOW_JOB, 1)
    driver.backend.poll()
    driver.vanish(batch_id)
    answer = wait_for(driver, [batch_id], lambda a: list(a.values()) == [None])
    assert answer == {job_ref(batch_id, 0): None}
    assert describing(driver).describe([job_ref(batch_id, 0)]) == answer


def test_ids_it_cannot_read_or_does_not_have_are_unknown(driver: Driver) -> None:
    batch_id = driver.submit(204, "exit 0\n", 1)
    wait_for(driver, [batch_id], ended(1))
    stranger = job_ref(batch_id, 7)
    answer = describing(driver).describe(["not-a-batch-id", stranger, batch_id])
    assert answer["not-a-batch-id"] is None and answer[stranger] is None
    assert answer[job_ref(batch_id, 0)] is not None
    nobody = "999999@" + batch_id.partition("@")[2]
    assert describing(driver).describe([nobody]) == {}
