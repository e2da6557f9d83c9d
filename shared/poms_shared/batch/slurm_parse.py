"""Pure parsing of Slurm output: ``squeue --json``, the jobcomp file, ``scontrol show config``.

Observations carry what :mod:`slurm_usage` reads from the same records (cluster, requested
memory, and wall time once a job has ended).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poms_shared.batch.local_events import is_terminal
from poms_shared.batch.observed import JobKey, Observation
from poms_shared.batch.slurm_usage import jobcomp_usage, site_name, squeue_usage

IDLE_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "RESIZING"})
RUNNING_STATES = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"})
HELD_STATES = frozenset({"SUSPENDED", "STOPPED", "REQUEUE_HOLD"})
FAILED_STATES = frozenset(
    {"FAILED", "NODE_FAIL", "TIMEOUT", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
)
HELD_REASONS = frozenset({"JobHeldUser", "JobHeldAdmin"})
NO_ACCOUNTING = frozenset({"", "accounting_storage/none", "(null)"})

_KEY_VALUE = re.compile(r"(\w+)=(\S*)")
_TASK_RANGE = re.compile(r"^(\d+)(?:-(\d+))?(?::(\d+))?$")


def exit_from_wait_status(raw: int) -> int:
    """A raw wait status as a shell reports it: 768 → 3, killed by signal 9 → 137."""
    signal_number = raw & 0x7F
    return 128 + signal_number if signal_number else (raw >> 8) & 0xFF


def _state_name(value: Any) -> str:
    # 22.05 gives a string; later releases a list of state flags, the base state first
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value or "")


def _raw_exit(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, dict):  # newer releases: {"status": [...], "return_code": {...}}
        code = value.get("return_code")
        code = code.get("number") if isinstance(code, dict) else code
        return (int(code) << 8) if isinstance(code, int) else 0
    return 0


def map_state(state: str, reason: str, exit_code: int | None) -> Observation:
    """A Slurm job state (plus reason and exit code) as a POMS job state."""
    if state in IDLE_STATES:
        held = reason in HELD_REASONS or reason.startswith("JobHeld")
        return Observation("held" if held else "idle")
    if state in RUNNING_STATES:
        return Observation("running")
    if state in HELD_STATES:
        return Observation("held")
    if state == "COMPLETED":
        return Observation("completed", exit_code)
    if state == "CANCELLED":
        return Observation("removed", exit_code)
    if state in FAILED_STATES:
        return Observation("failed", exit_code)
    return Observation("idle")  # an unknown state: still in Slurm's hands


def expand_tasks(spec: str) -> list[int]:
    """Task ids of an ``array_task_string`` such as ``0-3``, ``1,5-7`` or ``0-9:2%4``."""
    tasks: list[int] = []
    for part in spec.split("%", 1)[0].split(","):
        match = _TASK_RANGE.match(part.strip())
        if match is None:
            continue
        first = int(match.group(1))
        last = int(match.group(2) or first)
        tasks.extend(range(first, last + 1, int(match.group(3) or 1)))
    return tasks


def _job_keys(job: dict[str, Any]) -> list[JobKey]:
    array_job = job.get("array_job_id") or 0
    task = job.get("array_task_id")
    job_id = int(job.get("job_id") or 0)
    if not array_job:  # not an array: POMS sees it as task 0 of its own cluster
        return [(job_id, 0)]
    if isinstance(task, int):
        return [(int(array_job), task)]
    # pending tasks not yet split off share one record
    return [(int(array_job), t) for t in expand_tasks(str(job.get("array_task_string") or ""))]


def parse_squeue_json(text: str) -> dict[JobKey, Observation]:
    """Observations of every job in ``squeue --json`` output, keyed by (array job, task)."""
    jobs = json.loads(text).get("jobs") or []
    seen: dict[JobKey, Observation] = {}
    for job in jobs:
        state = _state_name(job.get("job_state"))
        raw = _raw_exit(job.get("exit_code"))
        observation = map_state(state, str(job.get("state_reason") or ""), exit_code(raw, state))
        nodes = str(job.get("nodes") or "") or None
        usage = squeue_usage(job, ended=is_terminal(observation.state))
        for key in _job_keys(job):
            seen[key] = Observation(observation.state, observation.exit_code, nodes, usage)
    return seen


def exit_code(raw: int, state: str) -> int | None:
    """The exit code of a finished job; None while it has not ended."""
    if state in IDLE_STATES or state in RUNNING_STATES or state in HELD_STATES:
        return None
    return exit_from_wait_status(raw)


def _jobcomp_exit(value: str) -> int:
    code, _, signal_number = value.partition(":")
    sig = int(signal_number) if signal_number.isdecimal() else 0
    return 128 + sig if sig else int(code) if code.isdecimal() else 0


def parse_jobcomp_lines(lines: Iterable[str]) -> dict[JobKey, Observation]:
    """Final observations from jobcomp/filetxt lines (``Key=Value`` pairs per finished job)."""
    seen: dict[JobKey, Observation] = {}
    for line in lines:
        fields = dict(_KEY_VALUE.findall(line))
        job_id, array_job = fields.get("JobId", ""), fields.get("ArrayJobId", "0")
        task = fields.get("ArrayTaskId", "")
        if not job_id.isdecimal():
            continue
        if array_job.isdecimal() and int(array_job) and task.isdecimal():
            key = (int(array_job), int(task))
        else:
            key = (int(job_id), 0)
        state = fields.get("JobState", "").split(" ")[0]
        code = _jobcomp_exit(fields.get("ExitCode", "0:0"))
        mapped = map_state(state, "", code)
        node = fields.get("NodeList") or None
        seen[key] = Observation(mapped.state, mapped.exit_code, node, jobcomp_usage(fields))
    return seen


def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config`` as a dict (``Name = value`` lines)."""
    config = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            config[name.strip()] = value.strip()
    return config


@dataclass(frozen=True)
class ClusterConfig:
    """What POMS needs to know of a Slurm cluster's configuration."""

    jobcomp: Path | None = None  # the jobcomp/filetxt file finished jobs are written to
    name: str | None = None  # ClusterName: the site its jobs ran at
    accounting: bool = False  # slurmdbd keeps accounting: sacct answers


def cluster_config(text: str) -> ClusterConfig:
    """The :class:`ClusterConfig` in ``scontrol show config`` output."""
    config = parse_config(text)
    filetxt = config.get("JobCompType") == "jobcomp/filetxt"
    location = config.get("JobCompLoc", "") if filetxt else ""
    return ClusterConfig(
        jobcomp=Path(location) if location else None,
        name=site_name(config.get("ClusterName")),
        accounting=config.get("AccountingStorageType", "") not in NO_ACCOUNTING,
    )
