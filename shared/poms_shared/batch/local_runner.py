"""Runs one spooled job: waits for a slot, runs the payload, records how it ended.

One runner process per job, detached from whoever submitted it, so jobs outlive the
launch script and restarts of the POMS services. The runner is the only writer of the
``running`` event and, unless POMS removed the job, of its terminal event.
"""

from __future__ import annotations

import fcntl
import os
import resource
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from poms_shared.batch.local_events import Usage, is_terminal, latest
from poms_shared.batch.local_hold import is_held
from poms_shared.batch.local_procs import proc_ref, signal_group
from poms_shared.batch.local_spool import (
    DEFAULT_SLOTS,
    JobDir,
    append_event,
    append_event_locked,
    append_line,
    locked,
    read_events,
    read_job_json,
    slots_from_env,
    write_text_atomic,
)

SLOT_POLL_SECONDS = 0.2
SITE_ENV = "POMS_LOCAL_SITE"  # the site local jobs report (default "local")


def _removed_or_finished(jd: JobDir) -> bool:
    if jd.kill_marker.exists():
        return True
    last = latest(read_events(jd))
    return last is not None and is_terminal(last.state)


def _try_slots(slot_dir: Path, slots: int) -> int | None:
    for index in range(slots):
        fd = os.open(slot_dir / f"{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


def wait_for_slot(jd: JobDir, slots: int) -> int | None:
    """Block until a slot lock is held (returns its fd) or the job was removed (None)."""
    slot_dir = jd.root / "slots"
    slot_dir.mkdir(parents=True, exist_ok=True)
    while True:
        if _removed_or_finished(jd):
            return None
        # a held job waits without taking a slot from jobs that may run
        fd = None if is_held(jd) else _try_slots(slot_dir, slots)
        if fd is not None:
            return fd
        time.sleep(SLOT_POLL_SECONDS)


def payload_env(jd: JobDir, meta: dict[str, Any]) -> dict[str, str]:
    """The submitter's environment plus the variables a POMS local job can rely on."""
    env = {str(k): str(v) for k, v in dict(meta.get("env") or {}).items()}
    env.update(
        POMS_JOB_ID=jd.name,
        CLUSTER=str(jd.cluster),
        PROCESS=str(jd.proc),
        POMS_FILE_MANIFEST=str(jd.declared),
        POMS_JOB_DIR=str(jd.path),
    )
    return env


def _spawn(jd: JobDir, meta: dict[str, Any]) -> subprocess.Popen[bytes]:
    log_fd = os.open(jd.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # its own session, so POMS can signal the payload and all its children as a group
        return subprocess.Popen(
            [str(a) for a in meta["argv"]],
            cwd=meta.get("cwd") or None,
            env=payload_env(jd, meta),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,  # never leak the slot lock into the payload
        )
    finally:
        os.close(log_fd)


def start_payload(jd: JobDir, meta: dict[str, Any]) -> subprocess.Popen[bytes] | None:
    """Record ``running`` and start the payload; None when removed or it cannot start."""
    # Under the job lock, so a concurrent kill sees either no payload (and the job is
    # removed before it starts) or a pid file it can signal.
    with locked(jd.lock):
        events = read_events(jd)
        last = latest(events)
        if jd.kill_marker.exists() or (last is not None and is_terminal(last.state)):
            return None
        if is_held(jd):
            return None  # held after the slot was taken: the runner waits again
        record = append_event_locked(jd, events, "running")
        try:
            proc = _spawn(jd, meta)
        except OSError as exc:
            append_line(jd.log, f"POMS: cannot start {meta['argv'][0]!r}: {exc}\n".encode())
            code = 127 if isinstance(exc, FileNotFoundError) else 126  # shell conventions
            append_event_locked(jd, [*events, record], "failed", code)
            return None
        write_text_atomic(jd.pid, proc_ref(proc.pid).to_text())
        return proc


def payload_usage(wall_seconds: float) -> Usage:
    """What the payload (and every process it waited for) used: this runner runs one
    payload, so its children's resource usage is the payload's. Linux counts the peak
    resident memory in kB."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Usage(
        site=os.environ.get(SITE_ENV, "").strip() or "local",
        cpu_seconds=round(used.ru_utime + used.ru_stime, 3),
        wall_seconds=round(wall_seconds, 3),
        memory_mb=used.ru_maxrss // 1024,
    )


def finish(jd: JobDir, pgid: int, returncode: int, usage: Usage | None = None) -> None:
    """Record the payload's end: completed, failed (with exit code) or removed by POMS,
    with what it used."""
    if not jd.kill_marker.exists():
        # Leftover children in the job's group would run on outside the slot limit; during a
        # removal kill() owns the group and gives it its SIGTERM grace instead.
        signal_group(pgid, signal.SIGKILL)
    # A signal death is reported like a shell does (128 + signal), keeping -1 for "vanished".
    code = returncode if returncode >= 0 else 128 - returncode
    if jd.kill_marker.exists():
        append_event(jd, "removed", only_if_live=True, usage=usage)
    elif code == 0:
        append_event(jd, "completed", 0, only_if_live=True, usage=usage)
    else:
        append_event(jd, "failed", code, only_if_live=True, usage=usage)


def run_job(path: Path) -> int:
    """Run the job in ``path`` to its end; returns the runner's own exit status."""
    jd = JobDir(path.resolve())
    meta = read_job_json(jd)
    if meta is None or not meta.get("argv"):
        print(f"poms-local-job: no usable job.json in {jd.path}", flush=True)
        return 2
    write_text_atomic(jd.runner_pid, proc_ref(os.getpid()).to_text())
    try:
        slots = slots_from_env()
    except ValueError:
        slots = DEFAULT_SLOTS
    while (slot_fd := wait_for_slot(jd, slots)) is not None:
        try:
            proc = start_payload(jd, meta)
            if proc is not None:
                started = time.monotonic()
                # no timeout: a batch job runs as long as it needs; POMS ends it through kill()
                returncode = proc.wait()
                usage = payload_usage(time.monotonic() - started)
                finish(jd, proc.pid, returncode, usage)
                return 0
        finally:
            os.close(slot_fd)  # releases the slot only after the terminal event is on disk
        if not is_held(jd):
            return 0  # removed, or it could not start (already recorded)
    return 0
