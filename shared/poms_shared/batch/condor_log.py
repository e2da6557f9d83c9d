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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_HEADER = re.compile(
    r"^(?P<code>\d{3}) \((?P<cluster>\d+)\.(?P<proc>\d+)\.\d+\) "
    r"(?P<date>\d{4}-\d{2}-\d{2}|\d{2}/\d{2}) (?P<time>\d{2}:\d{2}:\d{2})(?:\.\d+)? ?(?P<text>.*)$"
)
_RETURN = re.compile(r"Normal termination \(return value (-?\d+)\)")
_SIGNAL = re.compile(r"Abnormal termination \(signal (\d+)\)")
_ALIAS = re.compile(r"alias=([^&>]+)")
_HOST = re.compile(r"<([^:>?]+)")
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


def parse_condor_log(text: str, year: int | None = None) -> list[LogEvent]:
    """Every event of interest in the log, in log order; ``CondorLogError`` if none parse
    and the text has no event header at all."""
    year = year or datetime.now(UTC).year
    events: list[LogEvent] = []
    seen_header = False
    blocks = re.split(r"^\.\.\.\s*$", text, flags=re.MULTILINE)
    for block in blocks:
        lines = [line for line in block.strip("\n").splitlines() if line.strip()]
        if not lines:
            continue
        match = _HEADER.match(lines[0].strip())
        if match is None:
            continue
        seen_header = True
        code = match.group("code")
        if code not in RANK:
            continue
        at = _when(match.group("date"), match.group("time"), year)
        seq = int(at.timestamp()) * 10 + RANK[code]
        cluster, proc = int(match.group("cluster")), int(match.group("proc"))
        if code in STATES:
            node = _node(match.group("text")) if code == "001" else None
            events.append(LogEvent(cluster, proc, STATES[code], at, seq, node=node))
            continue
        state, exit_code = _outcome(code, "\n".join(lines[1:]))
        events.append(LogEvent(cluster, proc, state, at, seq, exit_code=exit_code))
    if not seen_header and text.strip():
        raise CondorLogError("no HTCondor job log events found (expected lines like '000 (…')")
    return events
