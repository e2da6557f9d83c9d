"""Process liveness and group termination for the local batch backend (Linux ``/proc``).

A zombie counts as dead: PID 1 reaps orphans only every few seconds, so ``kill -0``
keeps succeeding for a while after a process is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_DEAD_STATES = frozenset({"Z", "X", "x"})
# Field offsets after the ")" that closes the command name in /proc/<pid>/stat.
_STATE, _PGRP, _STARTTIME = 0, 2, 19


@dataclass(frozen=True)
class ProcRef:
    """A process id plus its start time, so a recycled PID is not mistaken for ours."""

    pid: int
    start: int | None = None

    def to_text(self) -> str:
        """Serialise as ``"<pid> <start>"`` for a pid file."""
        return f"{self.pid} {'' if self.start is None else self.start}".rstrip() + "\n"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # the command name may contain spaces and parentheses; it ends at the last ")"
    return text[text.rfind(")") + 2 :].split()


def proc_ref(pid: int) -> ProcRef:
    """Capture ``pid`` with its start time (when /proc knows it)."""
    fields = _stat_fields(pid)
    start = int(fields[_STARTTIME]) if fields and len(fields) > _STARTTIME else None
    return ProcRef(pid, start)


def parse_ref(text: str) -> ProcRef | None:
    """Parse the content of a pid file written by :meth:`ProcRef.to_text`."""
    parts = text.split()
    if not parts or not parts[0].isdigit():
        return None
    start = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return ProcRef(int(parts[0]), start)


def read_ref(path: Path) -> ProcRef | None:
    """Read a pid file; None when absent or unreadable."""
    try:
        return parse_ref(path.read_text())
    except OSError:
        return None


def is_alive(ref: ProcRef) -> bool:
    """True while the referenced process exists and is not a zombie."""
    if not _PROC.is_dir():
        try:
            os.kill(ref.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _stat_fields(ref.pid)
    if fields is None or fields[_STATE] in _DEAD_STATES:
        return False
    return ref.start is None or len(fields) <= _STARTTIME or int(fields[_STARTTIME]) == ref.start


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process belongs to process group ``pgid``."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[_STATE] not in _DEAD_STATES and fields[_PGRP] == str(pgid):
            return True
    return False


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group, ignoring a group that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_groups_gone(pgids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    alive = {g for g in pgids if group_alive(g)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {g for g in alive if group_alive(g)}
    return alive


def terminate_groups(pgids: Iterable[int], grace: float = 5.0, timeout: float = 5.0) -> set[int]:
    """SIGTERM the groups, SIGKILL those alive after ``grace``; returns groups still alive."""
    targets = set(pgids)
    for pgid in targets:
        signal_group(pgid, signal.SIGTERM)
    stubborn = _wait_groups_gone(targets, grace)
    for pgid in stubborn:
        signal_group(pgid, signal.SIGKILL)
    return _wait_groups_gone(stubborn, timeout)
