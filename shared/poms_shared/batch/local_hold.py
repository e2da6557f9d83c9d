"""Hold and release of local jobs: an idle job does not start, a running one is stopped.

The ``.hold`` marker in the job directory is the held state's source of truth: the
runner does not start a held job, and a running payload's group gets SIGSTOP/SIGCONT.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path

from poms_shared.batch.local_events import is_terminal, latest
from poms_shared.batch.local_procs import group_alive, read_ref, signal_group
from poms_shared.batch.local_spool import JobDir, append_event_locked, locked, read_events


def hold_marker(jd: JobDir) -> Path:
    """Present while the job is held."""
    return jd.path / ".hold"


def _hold_one(jd: JobDir) -> bool:
    with locked(jd.lock):
        events = read_events(jd)
        last = latest(events)
        if last is None or is_terminal(last.state) or last.state == "held":
            return False
        if jd.kill_marker.exists():
            return False
        hold_marker(jd).touch()
        payload = read_ref(jd.pid)
        if payload is not None and group_alive(payload.pid):
            signal_group(payload.pid, signal.SIGSTOP)
        append_event_locked(jd, events, "held")
        return True


def _release_one(jd: JobDir) -> bool:
    with locked(jd.lock):
        events = read_events(jd)
        last = latest(events)
        if not hold_marker(jd).exists() or last is None or is_terminal(last.state):
            hold_marker(jd).unlink(missing_ok=True)
            return False
        hold_marker(jd).unlink()
        payload = read_ref(jd.pid)
        if payload is not None and group_alive(payload.pid):
            signal_group(payload.pid, signal.SIGCONT)
            append_event_locked(jd, events, "running")
        else:
            append_event_locked(jd, events, "idle")
        return True


def hold_jobs(jds: Sequence[JobDir]) -> int:
    """Hold the idle or running jobs among ``jds``; returns how many were held."""
    return sum(_hold_one(jd) for jd in jds)


def release_jobs(jds: Sequence[JobDir]) -> int:
    """Release the held jobs among ``jds``; returns how many were released."""
    return sum(_release_one(jd) for jd in jds)


def is_held(jd: JobDir) -> bool:
    """True while the job must not start."""
    return hold_marker(jd).exists()


def continue_if_held(jd: JobDir, pgid: int) -> None:
    """Let a stopped payload see the signal that is about to end it."""
    if hold_marker(jd).exists():
        signal_group(pgid, signal.SIGCONT)
