"""Submission into the local batch spool, shared by the Python API and ``poms-local-submit``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from poms_shared.batch.commands import check_submit
from poms_shared.batch.local_events import utc_now
from poms_shared.batch.local_procs import proc_ref
from poms_shared.batch.local_spool import (
    SLOTS_ENV,
    JobDir,
    allocate_cluster,
    append_event,
    job_dir,
    write_text_atomic,
)

# The directory holding the ``poms_shared`` package, so runners import this very code even
# when POMS runs from a checkout that is not installed.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def runner_command(jd: JobDir) -> list[str]:
    """The argv of the detached runner process of one job."""
    return [sys.executable, "-m", "poms_shared.batch.local_cli", "job", str(jd.path)]


def _runner_env(slots: int) -> dict[str, str]:
    env = dict(os.environ)
    env[SLOTS_ENV] = str(slots)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = _PACKAGE_PARENT + (os.pathsep + path if path else "")
    return env


def start_runner(jd: JobDir, slots: int) -> subprocess.Popen[bytes]:
    """Start the job's runner in its own session so it outlives the submitter."""
    with open(jd.runner_log, "ab") as log:
        proc = subprocess.Popen(
            runner_command(jd),
            cwd=jd.path,
            env=_runner_env(slots),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,  # the submitter's pipes must close when the submitter exits
        )
    write_text_atomic(jd.runner_pid, proc_ref(proc.pid).to_text())
    return proc


def create_job(
    jd: JobDir,
    submission_id: int,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    name: str,
) -> None:
    """Write a job's description and its ``idle`` event."""
    jd.path.mkdir(parents=True, exist_ok=False)
    description = {
        "cluster": jd.cluster,
        "proc": jd.proc,
        "submission_id": submission_id,
        "name": name,
        "argv": list(argv),
        "cwd": cwd,
        "env": dict(env),
        "submitted_at": utc_now().isoformat(),
    }
    # owner-only: the saved environment may carry credentials of the submitter
    write_text_atomic(jd.job_json, json.dumps(description, indent=1) + "\n", mode=0o600)
    append_event(jd, "idle")


def submit_jobs(
    root: Path,
    submission_id: int,
    argv: Sequence[str],
    *,
    count: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    name: str | None = None,
    slots: int = 4,
) -> tuple[int, list[subprocess.Popen[bytes]]]:
    """Spool ``count`` jobs as one new cluster and start their runners."""
    check_submit(argv, count)
    if slots < 1:
        raise ValueError(f"slots must be at least 1, not {slots}")
    cluster = allocate_cluster(root)
    saved_env = dict(os.environ if env is None else env)
    workdir = os.path.abspath(cwd or os.getcwd())
    label = name or os.path.basename(argv[0])
    jobs = [job_dir(root, cluster, proc) for proc in range(count)]
    # every job is on disk and idle before any runner can start and race ahead
    for jd in jobs:
        create_job(jd, submission_id, argv, saved_env, workdir, label)
    return cluster, [start_runner(jd, slots) for jd in jobs]
