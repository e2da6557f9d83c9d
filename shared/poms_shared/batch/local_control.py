"""Decisions POMS takes about spooled jobs from outside their runner: kill and vanish."""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence

from poms_shared.batch.local_events import VANISHED_EXIT_CODE, is_terminal, latest
from poms_shared.batch.local_hold import continue_if_held
from poms_shared.batch.local_procs import (
    ProcRef,
    group_alive,
    is_alive,
    read_ref,
    signal_group,
    terminate_groups,
)
from poms_shared.batch.local_spool import (
    JobDir,
    append_event,
    append_event_locked,
    append_line,
    locked,
    read_events,
)

_NOT_LIVE = -1  # _mark_for_kill: the job had already ended
_NOT_STARTED = 0  # _mark_for_kill: removed before its payload started


def _mark_for_kill(jd: JobDir) -> int:
    """Flag the job as being removed; returns the payload's process group when running."""
    with locked(jd.lock):
        events = read_events(jd)
        last = latest(events)
        if last is not None and is_terminal(last.state):
            return _NOT_LIVE
        # the marker tells the runner the payload's end is a removal, not a failure,
        # and stops a runner still waiting for a slot from starting it at all
        jd.kill_marker.touch()
        payload = read_ref(jd.pid)
        if payload is None:
            append_event_locked(jd, events, "removed")
            return _NOT_STARTED
    append_line(jd.log, b"POMS: job removal requested; sending SIGTERM to the job\n")
    return payload.pid


def kill_jobs(jds: Sequence[JobDir], grace: float = 5.0) -> int:
    """Remove live jobs: idle ones never start, running ones get SIGTERM then SIGKILL."""
    removed = 0
    running: dict[int, JobDir] = {}
    for jd in jds:
        outcome = _mark_for_kill(jd)
        if outcome == _NOT_LIVE:
            continue
        removed += 1
        if outcome != _NOT_STARTED:
            running[outcome] = jd
    for pgid, jd in running.items():
        continue_if_held(jd, pgid)
    # signal every group first, so a cluster's jobs share one grace period
    terminate_groups(running.keys(), grace=grace)
    for jd in running.values():
        # usually the runner has recorded the removal by now; this covers a dead runner
        append_event(jd, "removed", only_if_live=True)
    return removed


def runner_gone(jd: JobDir, runner: ProcRef | None, created: float, grace: float) -> bool:
    """True when the job's runner no longer exists (or never appeared within ``grace``)."""
    if runner is None:
        # a runner writes its pid file at once; none after the grace means none will come
        return time.time() - created > grace
    return not is_alive(runner)


def record_vanished(jd: JobDir) -> bool:
    """Durably fail a job whose runner died without recording its end; False if it had."""
    with locked(jd.lock):
        events = read_events(jd)
        last = latest(events)
        if last is not None and is_terminal(last.state):
            return False
        append_event_locked(jd, events, "failed", VANISHED_EXIT_CODE)
    payload = read_ref(jd.pid)
    if payload is not None and group_alive(payload.pid):
        # nobody would record its exit any more, and it runs outside the slot limit
        signal_group(payload.pid, signal.SIGKILL)
    append_line(jd.log, b"POMS: job runner vanished; job recorded as failed (exit -1)\n")
    return True
