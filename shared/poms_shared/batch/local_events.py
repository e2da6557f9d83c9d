"""Pure parsing of the local batch spool's JSON-lines files (job events, declared outputs).

Kept free of I/O and of pydantic: the job runner imports it and must start fast.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STATES = frozenset({"idle", "running", "held", "completed", "failed", "cancelled", "removed"})
TERMINAL_STATES = frozenset({"completed", "failed", "cancelled", "removed"})
VANISHED_EXIT_CODE = -1

_JOB_REF = re.compile(r"^(\d+)(?:\.(\d+))?(?:@local)?$")

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Usage:
    """Where a job ran and what it used so far, as far as anyone told (None: unknown)."""

    site: str | None = None
    cpu_seconds: float | None = None
    wall_seconds: float | None = None
    memory_mb: int | None = None  # peak resident memory
    memory_requested_mb: int | None = None

    def to_obj(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class EventRecord:
    """One state change of one job, as stored in ``events.jsonl``."""

    seq: int
    state: str
    at: datetime
    exit_code: int | None = None
    node: str | None = None
    usage: Usage | None = None

    def to_line(self) -> bytes:
        """Encode as one complete JSON line (with its newline)."""
        obj: dict[str, Any] = {
            "seq": self.seq,
            "state": self.state,
            "at": self.at.isoformat(),
            "exit_code": self.exit_code,
            "node": self.node,
        }
        if self.usage is not None and (told := self.usage.to_obj()):
            obj["usage"] = told
        return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


@dataclass(frozen=True)
class DeclaredEntry:
    """One output file a job declared in ``declared.jsonl``."""

    name: str
    location: str | None = None
    size: int | None = None
    parents: list[str] = field(default_factory=list)
    software_version: str | None = None
    metadata: dict[str, Scalar] = field(default_factory=dict)
    experiment: str | None = None
    input_status: str | None = None  # set: a report on an input file, not an output


INPUT_STATUSES = ("delivered", "consumed", "failed", "skipped")


def is_terminal(state: str) -> bool:
    """True for states a job never leaves."""
    return state in TERMINAL_STATES


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def split_complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """Return the newline-terminated lines of ``data`` and how many bytes they span."""
    end = data.rfind(b"\n")
    if end < 0:
        return [], 0
    return data[:end].split(b"\n"), end + 1


def parse_jsonl(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Decode complete JSON-object lines; a partial last line is left unconsumed."""
    lines, consumed = split_complete_lines(data)
    objects: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            # A fragment left by a writer that died mid-line; the writers start a fresh line
            # after it, so skipping it loses nothing that was ever complete.
            continue
        if isinstance(obj, dict):
            objects.append(obj)
    return objects, consumed


def _opt_int(value: Any) -> int | None:
    # bool is an int subclass; a JSON true is never a valid exit code or size
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_time(value: Any) -> datetime | None:
    """Parse an ISO timestamp; naive values are taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse_event(obj: dict[str, Any]) -> EventRecord | None:
    """Validate one decoded event line; None when it is not a usable event."""
    seq = _opt_int(obj.get("seq"))
    state = obj.get("state")
    at = parse_time(obj.get("at"))
    if seq is None or seq < 1 or state not in STATES or at is None:
        return None
    return EventRecord(
        seq=seq,
        state=str(state),
        at=at,
        exit_code=_opt_int(obj.get("exit_code")),
        node=_opt_str(obj.get("node")),
        usage=parse_usage(obj.get("usage")),
    )


def usage_fields(usage: Usage | None) -> dict[str, Any]:
    """The told parts of ``usage`` by name (the JobEvent fields of the same names)."""
    return usage.to_obj() if usage is not None else {}


def parse_usage(obj: Any) -> Usage | None:
    """A usage object; values that are not what they should be (negative, not finite,
    wrong type) are dropped rather than spoiling the event."""
    if not isinstance(obj, dict):
        return None
    usage = Usage(
        site=_opt_str(obj.get("site")),
        cpu_seconds=_amount(obj.get("cpu_seconds")),
        wall_seconds=_amount(obj.get("wall_seconds")),
        memory_mb=_whole(obj.get("memory_mb")),
        memory_requested_mb=_whole(obj.get("memory_requested_mb")),
    )
    return usage if usage.to_obj() else None


def _amount(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _whole(value: Any) -> int | None:
    amount = _amount(value)
    return int(amount) if amount is not None else None


def parse_events(data: bytes) -> tuple[list[EventRecord], int]:
    """Parse the complete event lines of ``data``; returns events and bytes consumed."""
    objects, consumed = parse_jsonl(data)
    events = [ev for ev in map(parse_event, objects) if ev is not None]
    return events, consumed


def latest(events: Sequence[EventRecord]) -> EventRecord | None:
    """The event with the highest seq, or None for a job without events."""
    return max(events, key=lambda ev: ev.seq, default=None)


def next_seq(events: Sequence[EventRecord]) -> int:
    """The seq the next event of this job gets."""
    last = latest(events)
    return 1 if last is None else last.seq + 1


def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    # the catalog stores flat metadata; keep nested values readable rather than drop them
    return json.dumps(value, sort_keys=True)


def parse_declared(obj: dict[str, Any]) -> DeclaredEntry | None:
    """Validate one decoded ``declared.jsonl`` line; None when it names no file."""
    name = _opt_str(obj.get("name"))
    if name is None:
        return None
    status = obj.get("input_status")
    if status is not None:
        if status not in INPUT_STATUSES:
            return None
        return DeclaredEntry(
            name=name, experiment=_opt_str(obj.get("experiment")), input_status=status
        )
    raw_parents = obj.get("parents")
    parents = raw_parents if isinstance(raw_parents, list) else []
    metadata = obj.get("metadata")
    return DeclaredEntry(
        name=name,
        location=_opt_str(obj.get("location")),
        size=_opt_int(obj.get("size")),
        parents=[p for p in parents if isinstance(p, str) and p],
        software_version=_opt_str(obj.get("software_version")),
        metadata=(
            {str(k): _scalar(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
        ),
        experiment=_opt_str(obj.get("experiment")),
    )


def parse_declared_lines(data: bytes) -> tuple[list[DeclaredEntry], int]:
    """Parse the complete lines of a ``declared.jsonl``; returns entries and bytes consumed."""
    objects, consumed = parse_jsonl(data)
    entries = [e for e in map(parse_declared, objects) if e is not None]
    return entries, consumed


def parse_job_ref(ref: str) -> tuple[int, int | None]:
    """Split ``C``, ``C@local``, ``C.P`` or ``C.P@local`` into (cluster, proc or None)."""
    match = _JOB_REF.match(ref.strip())
    if match is None:
        raise ValueError(f"not a local batch id: {ref!r}")
    proc = match.group(2)
    return int(match.group(1)), None if proc is None else int(proc)


def group_by_experiment(
    entries: Iterable[DeclaredEntry], default: str
) -> dict[str, list[DeclaredEntry]]:
    """Group declared files by experiment, falling back to ``default``."""
    groups: dict[str, list[DeclaredEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.experiment or default, []).append(entry)
    return groups
