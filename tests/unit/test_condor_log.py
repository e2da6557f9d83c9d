"""HTCondor job-log events → job observations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from poms_shared.batch.condor_log import CondorLogError, parse_condor_log
from poms_shared.batch.local_events import Usage

# As HTCondor 9+ writes it (one job ran, one failed by signal, one was held and removed;
# the last job's events use the older MM/DD date form).
LOG = (Path(__file__).parents[1] / "data" / "condor_job.log").read_text()


def test_a_job_log_becomes_ordered_job_observations():
    events = parse_condor_log(LOG, year=2026)
    seen = [(e.cluster, e.proc, e.state, e.exit_code, e.node) for e in events]
    assert seen == [
        (4321, 0, "idle", None, None),
        (4321, 1, "idle", None, None),
        (4321, 0, "running", None, "fnpc1234.fnal.gov"),
        (4321, 0, "completed", 0, None),
        (4321, 1, "running", None, "10.9.9.9"),
        (4321, 1, "failed", 137, None),
        (4321, 2, "idle", None, None),
        (4321, 2, "held", None, None),
        (4321, 2, "idle", None, None),
        (4321, 2, "removed", None, None),
    ]
    assert events[3].at == datetime(2026, 11, 20, 10, 20, tzinfo=UTC)
    for job in (0, 1, 2):
        seqs = [e.seq for e in events if e.proc == job]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_events_in_the_same_second_keep_their_order():
    text = (
        "000 (7.000.000) 2026-01-01 00:00:00 Job submitted from host: <h:1>\n...\n"
        "001 (7.000.000) 2026-01-01 00:00:00 Job executing on host: <h:2>\n...\n"
        "005 (7.000.000) 2026-01-01 00:00:00 Job terminated.\n"
        "\t(1) Normal termination (return value 3)\n...\n"
    )
    events = parse_condor_log(text)
    assert [e.state for e in events] == ["idle", "running", "failed"]
    assert events[0].seq < events[1].seq < events[2].seq
    assert events[2].exit_code == 3


@pytest.mark.parametrize("text", ["hello world\n", "POMS_BATCH_ID=1@local\n"])
def test_text_that_is_not_a_job_log_is_refused(text):
    with pytest.raises(CondorLogError, match="no HTCondor job log events"):
        parse_condor_log(text)


def test_an_empty_log_has_no_events():
    assert parse_condor_log("") == []


def test_a_terminated_event_tells_what_the_jobs_last_run_used():
    events = parse_condor_log(LOG, year=2026)
    used = {(e.proc, e.state): e.usage for e in events}
    # Usr 10:00 + Sys 0:05; executing 10:01:05 → terminated 10:20:00; 1843 of 2000 MB
    assert used[(0, "completed")] == Usage(None, 605.0, 1135.0, 1843, 2000)
    # a blank usage column leaves the request (and the allocation)
    assert used[(1, "failed")] == Usage(None, 32.0, 60.0, None, 4096)
    assert used[(2, "removed")] is None
    assert all(e.usage is None for e in events if e.state in ("idle", "running", "held"))


def terminated(body: str, executed: bool = True) -> Usage | None:
    text = "000 (7.000.000) 2026-01-01 00:00:00 Job submitted from host: <h:1>\n...\n"
    if executed:
        text += "001 (7.000.000) 2026-01-01 00:01:00 Job executing on host: <h:2>\n...\n"
    text += "005 (7.000.000) 2026-01-01 00:03:30 Job terminated.\n" + body + "...\n"
    return parse_condor_log(text)[-1].usage


@pytest.mark.parametrize(
    ("body", "executed", "usage"),
    [
        (
            "\t\tUsr 1 02:03:04, Sys 0 00:00:01  -  Run Remote Usage\n"
            "\t   Memory (MB)          :       12      100       128 \n",
            True,
            Usage(None, 93785.0, 150.0, 12, 100),
        ),
        ("\t   Memory (MB)          :  x  2000  2000 \n", True, Usage(wall_seconds=150.0)),
        ("\t   Memory (MB)          :  -5  2000  2000 \n", True, Usage(wall_seconds=150.0)),
        ("\t   Memory (MB)          :   \n", True, Usage(wall_seconds=150.0)),
        ("\t   Memory (MB)          :  " + "9" * 5000 + " 1 1\n", True, Usage(wall_seconds=150.0)),
        (
            "\t   Memory (MB)          :  2000 \n",
            True,
            Usage(wall_seconds=150.0, memory_requested_mb=2000),
        ),
        (
            "\t\tUsr 0 00:xx:00, Sys 0 00:00:01  -  Run Remote Usage\n",
            True,
            Usage(wall_seconds=150.0),
        ),
        ("\t\tUsr 0 00:00:09, Sys 0 00:00:01  -  Total Remote Usage\n", False, None),
        ("\t(1) Normal termination (return value 0)\n", False, None),
    ],
)
def test_usage_a_terminated_event_does_not_tell_clearly_is_left_out(body, executed, usage):
    assert terminated(body, executed) == usage


def test_a_run_that_seems_to_end_before_it_started_has_no_wall_time():
    text = (
        "001 (7.000.000) 12/31 23:59:00 Job executing on host: <h:2>\n...\n"
        "005 (7.000.000) 01/01 00:01:00 Job terminated.\n"
        "\t(1) Normal termination (return value 0)\n...\n"
    )
    [_, ended] = parse_condor_log(text, year=2026)
    assert ended.state == "completed" and ended.usage is None
