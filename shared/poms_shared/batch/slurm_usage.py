"""What a Slurm job used, read from ``squeue --json``, the jobcomp file and ``sacct`` (pure).

Without slurmdbd (``AccountingStorageType=accounting_storage/none``) Slurm keeps no CPU time
or peak memory: squeue and the jobcomp file still give the cluster, the requested memory
(``mem=`` of the requested TRES) and, once a job has ended, its start and end times. With
accounting, ``sacct`` adds ``TotalCPU`` (user + system), ``ElapsedRaw`` and ``MaxRSS``, which
is kept on the job's steps (``.batch``, ``.extern``, ``.0``): the job's peak is the largest.

Sizes carry K/M/G/T/P suffixes (powers of 1024). A bare ``MaxRSS`` is in bytes (sacct only
drops the suffix below 1024), a bare ``ReqMem`` in MiB; older Slurm ends ``ReqMem`` with
``n`` (per node) or ``c`` (per CPU, multiplied here by the job's CPUs). Values that cannot
be read — blank, ``Unknown``, negative, garbled — are None, never an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from poms_shared.batch.local_events import Usage
from poms_shared.batch.observed import JobKey

SACCT_FIELDS = ("JobID", "Cluster", "TotalCPU", "ElapsedRaw", "MaxRSS", "ReqMem", "AllocCPUS")
_UNITS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}
# digit counts are bounded: no value, however garbled, makes int() or float() fail
_SIZE = re.compile(r"^(\d{1,18}(?:\.\d{1,9})?)([KMGTP]?)([NC]?)$", re.IGNORECASE)
_DURATION = re.compile(r"^(?:(\d{1,9})-)?(?:(\d{1,9}):)?(\d{1,9}):(\d{1,9}(?:\.\d{1,9})?)$")
_SACCT_ID = re.compile(r"^(\d{1,18})(?:_(\d{1,18}))?(?:\.(\S+))?$")
_NOT_NAMES = frozenset({"", "unknown", "none", "n/a", "(null)", "undefined"})


def site_name(value: Any) -> str | None:
    """A cluster name, or None for a blank or placeholder one (jobcomp says ``unknown``)."""
    text = value.strip() if isinstance(value, str) else ""
    return None if text.lower() in _NOT_NAMES else text


def size_mb(text: str, bare_unit: str = "M") -> float | None:
    """MiB in a Slurm size such as ``2000M``, ``4G`` or ``1388K`` (``n``/``c`` ignored)."""
    return _size(text, bare_unit)[0]


def requested_mb(text: str, cpus: float | None) -> int | None:
    """The memory a job asked for, from ``ReqMem`` (``2000M``, ``4Gn``, ``500Mc``)."""
    amount, per = _size(text, "M")
    if amount is not None and per == "C":
        amount = amount * cpus if cpus else None
    return _mb(amount)


def _size(text: str, bare_unit: str) -> tuple[float | None, str]:
    """MiB and the ``n``/``c`` suffix (upper case; empty when none) of a size."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None, ""
    unit = match.group(2).upper() or bare_unit
    mib = float(match.group(1)) * 1024.0 ** (_UNITS[unit] - _UNITS["M"])
    return _finite(mib), match.group(3).upper()


def duration_seconds(text: str) -> float | None:
    """Seconds in ``[D-][HH:]MM:SS[.mmm]`` (sacct's TotalCPU, UserCPU, SystemCPU)."""
    match = _DURATION.match(text.strip())
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60
    return _finite(total + float(seconds))


def tres_memory_mb(tres: str) -> int | None:
    """The ``mem=`` of a TRES string such as ``cpu=1,mem=100M,node=1``."""
    for part in tres.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "mem":
            return _mb(size_mb(value))
    return None


def squeue_usage(job: Mapping[str, Any], ended: bool) -> Usage | None:
    """Cluster and requested memory of one ``squeue --json`` job; its wall time once ended
    (a live job's ``end_time`` is only its time limit)."""
    wall = _span(_number(job.get("start_time")), _number(job.get("end_time"))) if ended else None
    return _told(
        Usage(
            site=site_name(job.get("cluster")),
            wall_seconds=wall,
            memory_requested_mb=_squeue_requested(job),
        )
    )


def _squeue_requested(job: Mapping[str, Any]) -> int | None:
    from_tres = tres_memory_mb(str(job.get("tres_req_str") or ""))
    if from_tres is not None:
        return from_tres
    per_node = _number(job.get("memory_per_node"))
    if per_node is not None:
        return _mb(per_node)
    per_cpu, cpus = _number(job.get("memory_per_cpu")), _number(job.get("cpus"))
    return _mb(per_cpu * cpus) if per_cpu is not None and cpus is not None else None


def jobcomp_usage(line: Mapping[str, str]) -> Usage | None:
    """Cluster, wall time and requested memory of one jobcomp line's ``Key=Value`` pairs."""
    start, end = _timestamp(line.get("StartTime", "")), _timestamp(line.get("EndTime", ""))
    return _told(
        Usage(
            site=site_name(line.get("Cluster")),
            wall_seconds=_span(start, end),
            memory_requested_mb=tres_memory_mb(line.get("Tres", "")),
        )
    )


def sacct_argv(array_jobs: Iterable[int]) -> list[str]:
    """One ``sacct`` call for every task (and step) of these array jobs."""
    jobs = ",".join(str(job) for job in sorted(set(array_jobs)))
    if not jobs:
        raise ValueError("sacct_argv needs at least one job")
    return [
        "sacct",
        "--noheader",
        "--parsable2",
        f"--jobs={jobs}",
        "--format=" + ",".join(SACCT_FIELDS),
    ]


def parse_sacct(text: str) -> dict[JobKey, Usage]:
    """Usage by (array job, task) from ``sacct_argv`` output; job and step lines combined."""
    jobs: dict[JobKey, dict[str, str]] = {}
    steps: dict[JobKey, list[dict[str, str]]] = {}
    for line in text.splitlines():
        values = line.split("|")
        if len(values) != len(SACCT_FIELDS):
            continue
        row = dict(zip(SACCT_FIELDS, values, strict=True))
        match = _SACCT_ID.match(row["JobID"].strip())
        if match is None:  # a pending array's "7_[2-3]", a heterogeneous job's "7+0"
            continue
        key = (int(match.group(1)), int(match.group(2) or 0))
        if match.group(3) is None:
            jobs[key] = row
        else:
            steps.setdefault(key, []).append(row)
    return {key: _sacct_usage(row, steps.get(key, [])) for key, row in jobs.items()}


def _sacct_usage(job: Mapping[str, str], steps: list[dict[str, str]]) -> Usage:
    # the job line's TotalCPU covers its steps; the steps' sum stands in when it is missing
    cpu = duration_seconds(job["TotalCPU"])
    if cpu is None:
        cpu = _sum_known(duration_seconds(step["TotalCPU"]) for step in steps)
    peaks = [size_mb(row["MaxRSS"], bare_unit="") for row in (job, *steps)]
    known = [peak for peak in peaks if peak is not None]
    return Usage(
        site=site_name(job["Cluster"]),
        cpu_seconds=cpu,
        wall_seconds=_number(job["ElapsedRaw"]),
        memory_mb=_mb(max(known)) if known else None,
        memory_requested_mb=requested_mb(job["ReqMem"], _number(job["AllocCPUS"])),
    )


def _sum_known(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def merge_usage(base: Usage | None, better: Usage | None) -> Usage | None:
    """``base`` with every value ``better`` tells put in its place."""
    if better is None or base is None:
        return better or base
    told = {f.name: v for f in fields(better) if (v := getattr(better, f.name)) is not None}
    return _told(replace(base, **told))


def _told(usage: Usage) -> Usage | None:
    return usage if usage.to_obj() else None


def _number(value: Any) -> float | None:
    """A non-negative finite number from 22.05's plain value, a newer release's
    ``{"set": true, "infinite": false, "number": N}``, or a digit string."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite", False):
            return None
        value = value.get("number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return _finite(float(value))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) and value >= 0 else None


def _mb(value: float | None) -> int | None:
    return None if value is None else int(value)


def _span(start: float | None, end: float | None) -> float | None:
    # Slurm writes 0 (or Unknown) for a time it does not know
    if not start or not end or end < start:
        return None
    return end - start


def _timestamp(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        return None
