"""HTCondor job (user) log events as job observations.

A job log is a sequence of events, each starting with ``NNN (cluster.proc.subproc) DATE
TIME text`` and ending with a ``...`` line. The events POMS cares about:

=====  ==========================  ==========================================
code   event                       observation
=====  ==========================  ==========================================
000    submitted                   idle
001    executing (on a host)       running, node from the ``alias=`` or host
004    evicted                     idle
005    terminated                  completed (return value 0) / failed
009    aborted (removed)           removed
012    held                        held
013    released                    idle
=====  ==========================  ==========================================

Dates come as ``YYYY-MM-DD HH:MM:SS`` (current HTCondor) or ``MM/DD HH:MM:SS`` (older;
the year is supplied by the caller). Other events are skipped. Pure: text in, records out.

A terminated event tells what the job's last run used: CPU seconds from its ``Usr D
HH:MM:SS, Sys D HH:MM:SS  -  Run Remote Usage`` line, peak and requested memory from the
``Memory (MB) : <usage> <request> <allocated>`` row of its partitionable resources table
(a blank usage leaves two numbers), and wall seconds from the job's latest executing event
to it. Whatever is missing or garbled is None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from poms_shared.batch.local_events import Usage

_HEADER = re.compile(
    r"^(?P<code>\d{3}) \((?P<cluster>\d+)\.(?P<proc>\d+)\.\d+\) "
    r"(?P<date>\d{4}-\d{2}-\d{2}|\d{2}/\d{2}) (?P<time>\d{2}:\d{2}:\d{2})(?:\.\d+)? ?(?P<text>.*)$"
)
_RETURN = re.compile(r"Normal termination \(return value (-?\d+)\)")
_SIGNAL = re.compile(r"Abnormal termination \(signal (\d+)\)")
_ALIAS = re.compile(r"alias=([^&>]+)")
_HOST = re.compile(r"<([^:>?]+)")
_RUN_REMOTE = re.compile(
    r"Usr (\d{1,9}) (\d{1,9}):(\d{1,9}):(\d{1,9}), Sys (\d{1,9}) (\d{1,9}):(\d{1,9}):(\d{1,9})"
    r"\s+-\s+Run Remote Usage"
)
_MEMORY_ROW = re.compile(r"^\s*Memory \(MB\)\s*:(.*)$", re.MULTILINE)
STATES = {"000": "idle", "001": "running", "004": "idle", "012": "held", "013": "idle"}
# order of events stamped in the same second, so a later one still wins
RANK = {"000": 0, "001": 1, "004": 2, "012": 3, "013": 4, "005": 5, "009": 6}


@dataclass(frozen=True)
class LogEvent:
    cluster: int
    proc: int
    state: str
    at: datetime
    seq: int
    exit_code: int | None = None
    node: str | None = None
    usage: Usage | None = None  # terminated events only


class CondorLogError(ValueError):
    """The text is not an HTCondor job log."""


def _when(date: str, time: str, year: int) -> datetime:
    text = f"{date} {time}" if "-" in date else f"{year}/{date} {time}"
    fmt = "%Y-%m-%d %H:%M:%S" if "-" in date else "%Y/%m/%d %H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def _node(text: str) -> str | None:
    match = _ALIAS.search(text) or _HOST.search(text)
    return match.group(1) if match else None


def _outcome(code: str, body: str) -> tuple[str, int | None]:
    if code == "009":
        return "removed", None
    if match := _RETURN.search(body):
        value = int(match.group(1))
        return ("completed" if value == 0 else "failed"), value
    if match := _SIGNAL.search(body):
        return "failed", 128 + int(match.group(1))
    return "failed", None


def run_usage(body: str, started: datetime | None, ended: datetime) -> Usage | None:
    """What a terminated event's body (and the run's start, if known) tells of the run."""
    used, requested = _memory(body)
    wall = (ended - started).total_seconds() if started is not None else None
    usage = Usage(
        cpu_seconds=_cpu_seconds(body),
        wall_seconds=wall if wall is not None and wall >= 0 else None,
        memory_mb=used,
        memory_requested_mb=requested,
    )
    return usage if usage.to_obj() else None


def _cpu_seconds(body: str) -> float | None:
    match = _RUN_REMOTE.search(body)
    if match is None:
        return None
    d1, h1, m1, s1, d2, h2, m2, s2 = (int(part) for part in match.groups())
    return float((d1 + d2) * 86400 + (h1 + h2) * 3600 + (m1 + m2) * 60 + s1 + s2)


def _memory(body: str) -> tuple[int | None, int | None]:
    """(usage, request) in MB from the ``Memory (MB)`` row; the usage may be blank."""
    match = _MEMORY_ROW.search(body)
    values = match.group(1).split() if match else []
    if not values or not all(value.isdecimal() and len(value) <= 18 for value in values):
        return None, None
    numbers = [int(value) for value in values]
    if len(numbers) >= 3:
        return numbers[0], numbers[1]
    return None, numbers[0]


def parse_condor_log(text: str, year: int | None = None) -> list[LogEvent]:
    """Every event of interest in the log, in log order; ``CondorLogError`` if none parse
    and the text has no event header at all."""
    year = year or datetime.now(UTC).year
    events: list[LogEvent] = []
    started: dict[tuple[int, int], datetime] = {}  # each job's latest executing event
    seen_header = False
    for block in re.split(r"^\.\.\.\s*$", text, flags=re.MULTILINE):
        lines = [line for line in block.strip("\n").splitlines() if line.strip()]
        match = _HEADER.match(lines[0].strip()) if lines else None
        if match is None:
            continue
        seen_header = True
        event = _event(match, "\n".join(lines[1:]), year, started)
        if event is not None:
            events.append(event)
    if not seen_header and text.strip():
        raise CondorLogError("no HTCondor job log events found (expected lines like '000 (…')")
    return events


def _event(
    header: re.Match[str], body: str, year: int, started: dict[tuple[int, int], datetime]
) -> LogEvent | None:
    code = header.group("code")
    if code not in RANK:
        return None
    at = _when(header.group("date"), header.group("time"), year)
    seq = int(at.timestamp()) * 10 + RANK[code]
    job = int(header.group("cluster")), int(header.group("proc"))
    if code in STATES:
        node = None
        if code == "001":
            started[job] = at
            node = _node(header.group("text"))
        return LogEvent(*job, STATES[code], at, seq, node=node)
    state, exit_code = _outcome(code, body)
    usage = run_usage(body, started.get(job), at) if code == "005" else None
    return LogEvent(*job, state, at, seq, exit_code=exit_code, usage=usage)
