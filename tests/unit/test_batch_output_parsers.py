"""Parsing of Slurm and jobsub_lite output in their real formats."""

from __future__ import annotations

import json

import pytest

from poms_shared.batch.jobsub import parse_jobsub_q, parse_submit_output
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
    "NodeCnt=1 ProcCnt=1 WorkDir=/work ReservationName= Tres=cpu=1,node=1 Account= QOS= "
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
    assert parse_jobcomp_lines([JOBCOMP]) == {(1, 1): Observation("failed", 3, "vm")}


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
