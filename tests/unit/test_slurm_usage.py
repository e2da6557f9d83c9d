"""What Slurm jobs used: squeue --json, jobcomp lines and sacct, and the events they reach."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from poms_shared.batch.local_events import Usage
from poms_shared.batch.observed import ClusterRecord, record_cluster
from poms_shared.batch.port import BatchError
from poms_shared.batch.slurm import SlurmBatch
from poms_shared.batch.slurm_parse import ClusterConfig, cluster_config, parse_squeue_json
from poms_shared.batch.slurm_usage import (
    duration_seconds,
    merge_usage,
    parse_sacct,
    requested_mb,
    sacct_argv,
    size_mb,
)
from poms_shared.contracts.messages import JobEvent


@pytest.mark.parametrize(
    ("text", "bare", "mib"),
    [
        ("2000M", "M", 2000.0),
        ("4G", "M", 4096.0),
        ("1.5G", "M", 1536.0),
        ("1388K", "M", 1388 / 1024),
        ("1T", "M", 1024.0 * 1024),
        ("2000Mn", "M", 2000.0),
        ("2000", "M", 2000.0),  # ReqMem: MiB
        ("2048", "", 2048 / 1024 / 1024),  # MaxRSS: bytes
        ("0", "", 0.0),
        ("", "M", None),
        ("Unknown", "M", None),
        ("-5M", "M", None),
        ("4X", "M", None),
        ("nanM", "M", None),
        ("9" * 5000 + "M", "M", None),
    ],
)
def test_slurm_sizes_are_read_in_mib_with_their_unit_suffixes(
    text: str, bare: str, mib: float | None
) -> None:
    assert size_mb(text, bare) == mib


@pytest.mark.parametrize(
    ("text", "cpus", "mb"),
    [
        ("2000M", 4, 2000),
        ("4Gn", 4, 4096),  # per node (older Slurm)
        ("500Mc", 4, 2000),  # per CPU (older Slurm): times the job's CPUs
        ("500Mc", None, None),
        ("500Mc", 0, None),
        ("", 1, None),
        ("lots", 1, None),
    ],
)
def test_requested_memory_counts_per_cpu_requests_for_every_cpu(
    text: str, cpus: float | None, mb: int | None
) -> None:
    assert requested_mb(text, cpus) == mb


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:03.512", 3.512),
        ("01:02", 62.0),
        ("01:02:03", 3723.0),
        ("1-02:03:04", 93784.0),
        ("1-02:03:04.500", 93784.5),
        ("", None),
        ("Unknown", None),
        ("INVALID", None),
        ("1:2:3:4", None),
        ("9" * 5000 + ":00", None),
    ],
)
def test_cpu_times_are_read_from_slurms_duration_format(text: str, seconds: float | None) -> None:
    expected = None if seconds is None else pytest.approx(seconds)
    assert duration_seconds(text) == expected


def squeue_job(job_id: int, task: int, state: str, **extra: Any) -> dict[str, Any]:
    """One job of ``squeue --json`` as Slurm 22.05 prints it (the fields POMS reads)."""
    return {
        "job_id": job_id,
        "array_job_id": 4242,
        "array_task_id": task,
        "job_state": state,
        "state_reason": "None",
        "exit_code": 0,
        "nodes": "poms-worker1",
        "cluster": "poms-test",
        "cpus": 1,
        "memory_per_node": 100,
        "memory_per_cpu": None,
        "tres_req_str": "cpu=1,mem=100M,node=1,billing=1",
        "start_time": 1795259428,
        "end_time": 1795259430,
        **extra,
    }


def test_squeue_tells_cluster_and_requested_memory_and_once_ended_the_wall_time() -> None:
    jobs = [
        squeue_job(4243, 0, "COMPLETED"),
        # a live job's end_time is its time limit, not a wall time
        squeue_job(4244, 1, "RUNNING", end_time=1826795428),
        squeue_job(4245, 2, "PENDING", nodes="", start_time=0, end_time=0),
    ]
    seen = parse_squeue_json(json.dumps({"jobs": jobs}))
    assert seen[(4242, 0)].usage == Usage("poms-test", None, 2.0, None, 100)
    assert seen[(4242, 1)].usage == Usage("poms-test", memory_requested_mb=100)
    assert seen[(4242, 2)].usage == Usage("poms-test", memory_requested_mb=100)


@pytest.mark.parametrize(
    ("extra", "usage"),
    [
        # newer releases wrap numbers: {"set": ..., "infinite": ..., "number": ...}
        (
            {
                "tres_req_str": "",
                "memory_per_node": {"set": True, "infinite": False, "number": 4096},
                "start_time": {"set": True, "infinite": False, "number": 100},
                "end_time": {"set": True, "infinite": False, "number": 160},
            },
            Usage("poms-test", None, 60.0, None, 4096),
        ),
        (
            {"tres_req_str": "", "memory_per_node": None, "memory_per_cpu": 500, "cpus": 4},
            Usage("poms-test", None, 2.0, None, 2000),
        ),
        (
            {
                "cluster": "",
                "tres_req_str": "cpu=1,mem=lots",
                "memory_per_node": {"set": False, "infinite": False, "number": 0},
                "start_time": "soon",
                "end_time": 5,
            },
            None,
        ),
        ({"cluster": 7, "tres_req_str": None, "memory_per_node": -1, "end_time": 1}, None),
    ],
)
def test_squeue_usage_reads_other_releases_and_drops_what_it_cannot_read(
    extra: dict[str, Any], usage: Usage | None
) -> None:
    jobs = [squeue_job(4243, 0, "COMPLETED", **extra)]
    assert parse_squeue_json(json.dumps({"jobs": jobs}))[(4242, 0)].usage == usage


# sacct --noheader --parsable2 --jobs=4242,4243 --format=JobID,Cluster,TotalCPU,ElapsedRaw,
# MaxRSS,ReqMem,AllocCPUS (MaxRSS is kept on the steps)
SACCT = """\
4242_0|poms|01:02.512|65||2000M|1
4242_0.batch|poms|01:02.500|65|1843200K|2000M|1
4242_0.extern|poms|00:00.012|65|0|2000M|1
4242_1|poms|1-02:03:04|93784||4Gn|2
4242_1.batch|poms|1-02:03:04|93784|3.50G|4Gn|2
4242_2|poms||Unknown||500Mc|4
4242_2.batch|poms|00:10.000|12|Unknown|500Mc|4
4242_2.0|poms|00:05.250|10|512M|500Mc|4
4242_[3-5]|poms|00:00:00|0||2000M|1
4243|unknown|garbage|-3|2048|abc|x
4244|poms|00:01.000|1
sacct: error: Slurm accounting storage is disabled
"""


def test_sacct_job_and_step_lines_give_cpu_wall_peak_and_requested_memory() -> None:
    assert parse_sacct(SACCT) == {
        (4242, 0): Usage("poms", 62.512, 65.0, 1800, 2000),
        (4242, 1): Usage("poms", 93784.0, 93784.0, 3584, 4096),
        # no TotalCPU on the job line: its steps' sum; MaxRSS "Unknown" is passed over
        (4242, 2): Usage("poms", 15.25, None, 512, 2000),
        # a bare MaxRSS is bytes; every other value here is unreadable
        (4243, 0): Usage(None, None, None, 0, None),
    }


def test_sacct_is_asked_once_for_every_array_job() -> None:
    argv = sacct_argv([4243, 4242, 4243])
    assert argv[:4] == ["sacct", "--noheader", "--parsable2", "--jobs=4242,4243"]
    assert argv[4] == "--format=JobID,Cluster,TotalCPU,ElapsedRaw,MaxRSS,ReqMem,AllocCPUS"
    with pytest.raises(ValueError):
        sacct_argv([])


def test_merged_usage_takes_every_value_the_better_source_tells() -> None:
    base = Usage("poms-test", None, 2.0, None, 100)
    assert merge_usage(base, Usage(cpu_seconds=1.5, wall_seconds=3.0)) == Usage(
        "poms-test", 1.5, 3.0, None, 100
    )
    assert merge_usage(None, base) == merge_usage(base, None) == base
    assert merge_usage(Usage(), Usage()) is None


def test_the_cluster_config_names_jobcomp_file_cluster_and_accounting() -> None:
    text = (
        "ClusterName             = poms-test\n"
        "JobCompLoc              = /var/log/slurm/jobcomp.txt\n"
        "JobCompType             = jobcomp/filetxt\n"
        "AccountingStorageType   = accounting_storage/slurmdbd\n"
    )
    assert cluster_config(text) == ClusterConfig(
        Path("/var/log/slurm/jobcomp.txt"), "poms-test", True
    )
    bare = "JobCompType = jobcomp/none\nAccountingStorageType = accounting_storage/none\n"
    assert cluster_config(bare) == ClusterConfig(None, None, False)


class ScriptedSlurm(SlurmBatch):
    """A SlurmBatch whose commands print canned output (a BatchError when told to fail)."""

    def __init__(self, root: Path, config: ClusterConfig, outputs: dict[str, Any]) -> None:
        super().__init__(root, config=config)
        self.outputs = outputs
        self.calls: list[list[str]] = []

    def _run(self, argv: list[str], env: Mapping[str, str] | None = None) -> str:
        self.calls.append(argv)
        out = self.outputs[argv[0]]
        if isinstance(out, Exception):
            raise out
        return str(out)


def squeue(*jobs: dict[str, Any]) -> str:
    return json.dumps({"jobs": list(jobs)})


def finals(batch: SlurmBatch) -> dict[str, JobEvent]:
    last: dict[str, JobEvent] = {}
    for event in batch.poll().events:
        if event.batch_job_id not in last or last[event.batch_job_id].seq < event.seq:
            last[event.batch_job_id] = event
    return last


def usage_of(event: JobEvent) -> tuple[Any, ...]:
    return (
        event.site,
        event.cpu_seconds,
        event.wall_seconds,
        event.memory_mb,
        event.memory_requested_mb,
    )


ACCOUNTED = ClusterConfig(name="poms-test", accounting=True)


def test_a_job_that_just_ended_gets_sacct_numbers_in_its_final_event(tmp_path: Path) -> None:
    outputs = {
        "squeue": squeue(squeue_job(3, 0, "COMPLETED"), squeue_job(4, 1, "RUNNING")),
        "sacct": SACCT,
    }
    batch = ScriptedSlurm(tmp_path, ACCOUNTED, outputs)
    record_cluster(tmp_path, ClusterRecord(4242, 2, 7, "demo"))
    last = finals(batch)
    assert last["4242.0@slurm"].state == "completed"
    assert usage_of(last["4242.0@slurm"]) == ("poms", 62.512, 65.0, 1800, 2000)
    # a running job tells where it runs and what it asked for; its use comes at its end
    assert last["4242.1@slurm"].state == "running"
    assert usage_of(last["4242.1@slurm"]) == ("poms-test", None, None, None, 100)
    assert [argv[:4] for argv in batch.calls if argv[0] == "sacct"] == [
        ["sacct", "--noheader", "--parsable2", "--jobs=4242"]
    ]
    finals(batch)
    assert len([argv for argv in batch.calls if argv[0] == "sacct"]) == 1  # ended: not asked


@pytest.mark.parametrize(
    ("config", "sacct"),
    [
        (ACCOUNTED, BatchError("sacct --noheader --parsable2 failed (1): timeout")),
        (ClusterConfig(name="poms-test", accounting=False), "never asked"),
    ],
)
def test_without_sacct_a_job_still_ends_with_what_squeue_tells(
    tmp_path: Path, config: ClusterConfig, sacct: object
) -> None:
    outputs = {"squeue": squeue(squeue_job(3, 0, "FAILED", exit_code=768)), "sacct": sacct}
    batch = ScriptedSlurm(tmp_path, config, outputs)
    record_cluster(tmp_path, ClusterRecord(4242, 1, 7, "demo"))
    [last] = finals(batch).values()
    assert (last.state, last.exit_code) == ("failed", 3)
    assert usage_of(last) == ("poms-test", None, 2.0, None, 100)
    assert [argv[0] for argv in batch.calls].count("sacct") == int(config.accounting)


def test_a_job_only_the_jobcomp_file_knows_is_named_after_the_configured_cluster(
    tmp_path: Path,
) -> None:
    jobcomp = tmp_path / "jobcomp.txt"
    jobcomp.write_text(
        "JobId=9 JobState=COMPLETED StartTime=2026-11-21T11:10:28 EndTime=2026-11-21T11:10:30 "
        "NodeList=poms-worker1 Tres=cpu=1,mem=24105M,node=1,billing=1 Cluster=unknown "
        "ArrayJobId=4242 ArrayTaskId=0 DerivedExitCode=0:0 ExitCode=0:0\n"
    )
    config = ClusterConfig(jobcomp, "poms-test", accounting=False)
    batch = ScriptedSlurm(tmp_path / "spool", config, {"squeue": squeue()})
    record_cluster(batch.root, ClusterRecord(4242, 1, 7, "demo"))
    [last] = finals(batch).values()
    assert (last.state, last.node) == ("completed", "poms-worker1")
    assert usage_of(last) == ("poms-test", None, 2.0, None, 24105)
