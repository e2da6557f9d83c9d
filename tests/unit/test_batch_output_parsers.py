"""Parsing of Slurm and jobsub_lite output in their real formats."""

from __future__ import annotations

import json

import pytest

from poms_shared.batch.jobsub_parse import (
    HISTORY_ATTRIBUTES,
    execute_node,
    history_argv,
    parse_history,
    parse_jobsub_q,
    parse_submit_output,
    submission_group,
)
from poms_shared.batch.jobsub_usage import ad_usage
from poms_shared.batch.local_events import Usage
from poms_shared.batch.observed import Observation
from poms_shared.batch.port import BatchError
from poms_shared.batch.slurm import parse_ref
from poms_shared.batch.slurm_parse import (
    exit_from_wait_status,
    expand_tasks,
    parse_jobcomp_lines,
    parse_squeue_json,
)

SQUEUE = {
    "jobs": [
        {"job_id": 7, "array_job_id": 7, "array_task_id": None, "array_task_string": "2-3",
         "job_state": "PENDING", "state_reason": "None", "exit_code": 0, "nodes": ""},
        {"job_id": 8, "array_job_id": 7, "array_task_id": 1, "job_state": "FAILED",
         "state_reason": "NonZeroExitCode", "exit_code": 768, "nodes": "vm"},
        {"job_id": 9, "array_job_id": 7, "array_task_id": 0, "job_state": "RUNNING",
         "state_reason": "None", "exit_code": 0, "nodes": "vm"},
        {"job_id": 12, "array_job_id": 0, "array_task_id": None, "job_state": "PENDING",
         "state_reason": "JobHeldUser", "exit_code": 0, "nodes": ""},
        {"job_id": 13, "array_job_id": 13, "array_task_id": 0, "job_state": "CANCELLED",
         "state_reason": "None", "exit_code": 15, "nodes": "vm"},
    ]
}  # fmt: skip

JOBCOMP = (
    "JobId=4 UserId=root(0) GroupId=root(0) Name=wrap JobState=FAILED Partition=poms "
    "TimeLimit=525600 StartTime=2026-11-21T03:05:36 EndTime=2026-11-21T03:05:37 NodeList=vm "
    "NodeCnt=1 ProcCnt=1 WorkDir=/work ReservationName= Tres=cpu=1,mem=100M,node=1 Account= QOS= "
    "WcKey= Cluster=unknown SubmitTime=2026-11-21T03:05:35 EligibleTime=2026-11-21T03:05:36 "
    "ArrayJobId=1 ArrayTaskId=1 DerivedExitCode=0:0 ExitCode=3:0 \n"
)

SUBMIT = """\
Attempting to get token from https://htvaultprod.fnal.gov:8200 ... succeeded
Storing bearer token in /tmp/bt_token_demo_Analysis_0
Submitting job(s)...
3 job(s) submitted to cluster 4242000.

Use job id 4242000.0@jobsub01.fnal.gov to retrieve output
"""

JOBSUB_Q = """\
JOBSUBJOBID                             OWNER           SUBMITTED     RUN_TIME   ST PRI SIZE CMD
4242000.0@jobsub01.fnal.gov             poms            11/21 03:05   0+00:00:00 I  0   0.0  a.sh
4242000.1@jobsub01.fnal.gov             poms            11/21 03:05   0+00:01:10 R  0   0.0  a.sh
4242000.2@jobsub01.fnal.gov             poms            11/21 03:05   0+00:00:00 H  0   0.0  a.sh
4242001.0@jobsub02.fnal.gov             poms            11/21 03:06   0+00:00:00 X  0   0.0  b.sh

4 jobs; 0 completed, 1 removed, 1 idle, 1 running, 1 held, 0 suspended
"""


def test_squeue_json_maps_states_exit_codes_and_pending_array_tasks() -> None:
    seen = parse_squeue_json(json.dumps(SQUEUE))
    assert seen[(7, 2)] == seen[(7, 3)] == Observation("idle")
    assert seen[(7, 1)] == Observation("failed", 3, "vm")
    assert seen[(7, 0)] == Observation("running", None, "vm")
    assert seen[(12, 0)] == Observation("held")
    assert seen[(13, 0)] == Observation("removed", 143, "vm")


def test_wait_statuses_and_task_ranges_decode_like_a_shell() -> None:
    assert [exit_from_wait_status(s) for s in (0, 768, 9, 256)] == [0, 3, 137, 1]
    assert expand_tasks("0-2,5,8-12:2%4") == [0, 1, 2, 5, 8, 10, 12]


def test_jobcomp_lines_give_the_final_state_of_array_tasks() -> None:
    # jobcomp/filetxt writes Cluster=unknown: no site; the wall time is EndTime - StartTime
    usage = Usage(wall_seconds=1.0, memory_requested_mb=100)
    assert parse_jobcomp_lines([JOBCOMP]) == {(1, 1): Observation("failed", 3, "vm", usage)}


def test_slurm_refs_accept_batch_and_job_ids() -> None:
    assert parse_ref("17@slurm") == (17, None)
    assert parse_ref("17.3@slurm") == (17, 3)
    assert parse_ref("17_3") == (17, 3)


def test_jobsub_submit_output_names_cluster_and_schedd() -> None:
    assert parse_submit_output(SUBMIT) == (4242000, "jobsub01.fnal.gov")
    with pytest.raises(BatchError):
        parse_submit_output("Error: no token\n")


def test_jobsub_q_rows_map_status_codes() -> None:
    assert parse_jobsub_q(JOBSUB_Q) == {
        (4242000, 0): Observation("idle"),
        (4242000, 1): Observation("running"),
        (4242000, 2): Observation("held"),
        (4242001, 0): Observation("removed"),
    }


# jobsub_history -G demo -name jobsub01.fnal.gov -constraint '...' -limit 6 -autoformat
# ClusterId ProcId JobStatus ExitCode ExitBySignal ExitSignal LastRemoteHost RemoteHost
# RemoteUserCpu RemoteSysCpu RemoteWallClockTime ResidentSetSize_RAW MemoryUsage
# RequestMemory MATCH_GLIDEIN_Site MATCH_EXP_JOB_GLIDEIN_Site JOB_Site GLIDEIN_Site
# (newest first: jobsub_history always reads backwards)
JOBSUB_HISTORY = """\
4242017 2 4 0 false undefined slot1_3@fnpc9014.fnal.gov undefined 3521.0 42.0 3700.0 1843200 1800 2000 FermiGrid FermiGrid undefined undefined
4242017 1 4 3 false undefined slot1_12@fnpc7103.fnal.gov undefined 10.5 undefined 61.0 undefined 245 2000 undefined Unknown BNL undefined
4242017 0 4 undefined true 9 slot1@glidein_2881_329104040@cmswn2134.fnal.gov undefined undefined undefined undefined undefined undefined undefined undefined undefined undefined undefined
4242018 1 3 undefined undefined undefined undefined slot1_1@fnpc9014.fnal.gov 0.0 0.0 12.0 0 0 4096.0 undefined undefined undefined MWT2
4242018 0 3 undefined undefined undefined undefined undefined undefined undefined undefined undefined undefined 2000 undefined undefined undefined undefined
4242018 0 4 0 false undefined slot1_2@fnpc9015.fnal.gov undefined 1 1 1 1 1 1 A B C D
"""  # noqa: E501 (one ad per line, as jobsub_history prints them)


def test_jobsub_history_autoformat_rows_give_final_states_exit_codes_and_nodes() -> None:
    seen = parse_history(JOBSUB_HISTORY)
    assert {key: (o.state, o.exit_code, o.node) for key, o in seen.items()} == {
        (4242017, 2): ("completed", 0, "fnpc9014.fnal.gov"),
        (4242017, 1): ("failed", 3, "fnpc7103.fnal.gov"),
        (4242017, 0): ("failed", 137, "cmswn2134.fnal.gov"),
        (4242018, 1): ("removed", None, "fnpc9014.fnal.gov"),
        # the newest ad of a job wins over an older one of the same id
        (4242018, 0): ("removed", None, None),
    }


def test_jobsub_history_rows_tell_what_each_job_used() -> None:
    seen = parse_history(JOBSUB_HISTORY)
    # ResidentSetSize_RAW is KiB and wins over MemoryUsage (MiB)
    assert seen[(4242017, 2)].usage == Usage("FermiGrid", 3563.0, 3700.0, 1800, 2000)
    # one CPU part alone still counts; MemoryUsage stands in for the raw RSS; an
    # "Unknown" site is passed over for the next site attribute
    assert seen[(4242017, 1)].usage == Usage("BNL", 10.5, 61.0, 245, 2000)
    assert seen[(4242017, 0)].usage is None
    assert seen[(4242018, 1)].usage == Usage("MWT2", 0.0, 12.0, 0, 4096)
    assert seen[(4242018, 0)].usage == Usage(memory_requested_mb=2000)


def test_a_site_name_with_a_space_costs_only_the_site() -> None:
    row = "7 0 4 0 false undefined slot1@wn.edu undefined 5 1 9 2048 2 2000 Big Site X Y Z"
    [seen] = parse_history(row).values()
    assert (seen.state, seen.exit_code, seen.node) == ("completed", 0, "wn.edu")
    assert seen.usage == Usage(None, 6.0, 9.0, 2, 2000)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "JOBSUBJOBID      OWNER    SUBMITTED   FINISHED    ST  CMD\n",
        "Error: Couldn't contact schedd jobsub02.fnal.gov\n",
        "4242017 x 4 0 false undefined slot1@a undefined" + " undefined" * 10 + "\n",
        "4242017 0 4 0 false undefined slot1@a undefined\n",  # the usage columns missing
        "4242017 0 2 undefined undefined undefined undefined slot1@a" + " 1" * 10 + "\n",  # live
        "4242017 ² 4 0 false undefined slot1@a undefined" + " undefined" * 10 + "\n",
    ],
)
def test_jobsub_history_lines_that_are_not_final_job_rows_are_skipped(text: str) -> None:
    assert parse_history(text) == {}


def test_a_completed_ad_without_an_exit_code_counts_as_completed() -> None:
    row = "7 0 4 undefined undefined undefined undefined undefined" + " undefined" * 10
    assert parse_history(row) == {(7, 0): Observation("completed", None, None)}


def test_jobsub_history_is_asked_once_for_all_clusters_in_autoformat_columns() -> None:
    argv = history_argv("nova", "jobsub02.fnal.gov", {4242018: 2, 4242017: 3})
    assert argv == [
        "jobsub_history",
        "-G",
        "nova",
        "-name",
        "jobsub02.fnal.gov",
        "-constraint",
        "ClusterId == 4242017 || ClusterId == 4242018",
        "-limit",
        "5",
        "-autoformat",
        *HISTORY_ATTRIBUTES,
    ]
    assert history_argv("", "", {1: 1})[:3] == ["jobsub_history", "-constraint", "ClusterId == 1"]
    with pytest.raises(ValueError):
        history_argv("nova", "", {})


@pytest.mark.parametrize(
    ("host", "node"),
    [
        ("slot1@fnpc9014.fnal.gov", "fnpc9014.fnal.gov"),
        ("slot1_7@glidein_12_34@wn.example.edu", "wn.example.edu"),
        ("fnpc9014.fnal.gov", "fnpc9014.fnal.gov"),
        ("undefined", None),
        ("", None),
    ],
)
def test_execute_nodes_are_slot_names_without_the_slot(host: str, node: str | None) -> None:
    assert execute_node(host) == node


@pytest.mark.parametrize(
    ("env", "group"),
    [
        ({"JOBSUB_GROUP": "dune", "GROUP": "nova"}, "dune"),
        ({"GROUP": "nova"}, "nova"),
        ({"GROUP": " "}, "demo"),
        ({}, "demo"),
    ],
)
def test_a_submission_runs_under_jobsub_group_then_group_then_the_configured_one(
    env: dict[str, str], group: str
) -> None:
    assert submission_group(env, "demo") == group


@pytest.mark.parametrize(
    ("ad", "usage"),
    [
        ({"RemoteUserCpu": "-1", "RemoteSysCpu": "nan", "RemoteWallClockTime": "inf"}, None),
        ({"ResidentSetSize_RAW": "lots", "MemoryUsage": "512"}, Usage(memory_mb=512)),
        ({"ResidentSetSize_RAW": "1048575"}, Usage(memory_mb=1023)),  # KiB → whole MiB
        ({"RequestMemory": "1e400", "RemoteWallClockTime": "9" * 5000}, None),
        (
            {"MATCH_GLIDEIN_Site": "$$(GLIDEIN_Site:Unknown)", "JOB_Site": '"Nebraska"'},
            Usage("Nebraska"),
        ),
        ({"MATCH_EXP_JOB_GLIDEIN_Site": "Unknown", "GLIDEIN_Site": "error"}, None),
    ],
)
def test_ad_values_that_are_not_usage_are_left_out(ad: dict[str, str], usage: Usage | None) -> None:
    assert ad_usage(ad) == usage
