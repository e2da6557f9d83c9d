"""HTCondor job-log events → job observations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from poms_shared.batch.condor_log import CondorLogError, parse_condor_log

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
