"""The ``local`` batch backend: jobs run as subprocesses on this host, spooled on disk.

State lives only in the spool directory, so jobs survive the process that submitted them
and restarts of the POMS services; any number of :class:`LocalBatch` instances may share
one spool. ``describe`` reads it without changing it: a job whose directory is gone, or
whose runner died without recording its end, is unknown (None) there.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from poms_shared.batch.local_control import kill_jobs, runner_gone
from poms_shared.batch.local_events import EventRecord, is_terminal, latest, parse_job_ref
from poms_shared.batch.local_hold import hold_jobs, release_jobs
from poms_shared.batch.local_poll import BACKEND, Poller, PollResult
from poms_shared.batch.local_procs import read_ref
from poms_shared.batch.local_spool import (
    BATCH_DIR_ENV,
    JobDir,
    default_batch_dir,
    job_dir,
    list_job_dirs,
    read_events,
    read_job_json,
    slots_from_env,
)
from poms_shared.batch.local_submit import submit_jobs
from poms_shared.batch.observed import Observation, parse_refs
from poms_shared.settings import Settings

__all__ = ["LocalBatch", "LocalJobStatus", "PollResult"]


@dataclass(frozen=True)
class LocalJobStatus:
    """The current state of one local job, from its latest event."""

    job_id: str
    submission_id: int
    state: str
    exit_code: int | None
    seq: int
    log_path: Path

    @property
    def batch_job_id(self) -> str:
        """The id the tracker knows the job by, ``<C>.<P>@local``."""
        return f"{self.job_id}@{BACKEND}"


class LocalBatch:
    """Submit, list, kill and poll jobs spooled under ``root``."""

    name = BACKEND
    backend = BACKEND

    def __init__(
        self,
        root: Path,
        slots: int = 4,
        *,
        kill_grace: float = 5.0,
        runner_grace: float = 30.0,
    ) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, not {slots}")
        self.root = Path(root).resolve()
        self.slots = slots
        self.kill_grace = kill_grace
        self._poller = Poller(self.root, runner_grace=runner_grace)
        # one instance may serve several service threads in embedded mode
        self._lock = threading.Lock()
        # runners started from this process: reaped on poll so they do not linger as zombies
        self._children: list[subprocess.Popen[bytes]] = []

    @classmethod
    def from_env(cls) -> LocalBatch:
        """The spool and slot count the ``poms-local-*`` commands use in this environment."""
        return cls(default_batch_dir(), slots_from_env())

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBatch:
        """The spool of the given settings (``$POMS_BATCH_DIR`` wins when set)."""
        explicit = os.environ.get(BATCH_DIR_ENV, "").strip()
        root = Path(explicit) if explicit else settings.batch_dir
        return cls(root, settings.local_batch_slots)

    def submit(
        self,
        submission_id: int,
        argv: list[str],
        count: int = 1,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        name: str | None = None,
    ) -> str:
        """Queue ``count`` copies of ``argv`` as one cluster; returns ``<C>@local``."""
        cluster, runners = submit_jobs(
            self.root,
            submission_id,
            argv,
            count=count,
            env=env,
            cwd=cwd,
            name=name,
            slots=self.slots,
        )
        with self._lock:
            self._children.extend(runners)
        return f"{cluster}@{BACKEND}"

    def jobs(self, cluster: str | None = None) -> list[LocalJobStatus]:
        """Status of every job in the spool, or of one cluster (``C`` or ``C@local``)."""
        wanted = None if cluster is None else parse_job_ref(cluster)[0]
        statuses = []
        for jd in list_job_dirs(self.root, wanted):
            status = _status(jd)
            if status is not None:
                statuses.append(status)
        return statuses

    def describe(self, batch_ids: list[str]) -> dict[str, Observation | None]:
        """The latest recorded state of each job of these clusters (``C@local``) or jobs."""
        asked, found = parse_refs(batch_ids, parse_job_ref)
        whole = {cluster for cluster, proc in asked if proc is None}
        # one scan of the spool for all the clusters, however many
        dirs = [jd for jd in list_job_dirs(self.root) if jd.cluster in whole] if whole else []
        dirs += [job_dir(self.root, cluster, proc) for cluster, proc in asked if proc is not None]
        for jd in dirs:  # a job directory that does not exist is described as None
            found[f"{jd.name}@{BACKEND}"] = _describe_job(jd, self._poller.runner_grace)
        return found

    def kill(self, batch_id_or_job_id: str) -> int:
        """Remove a cluster (``C@local``) or one job (``C.P@local``); returns jobs removed."""
        with self._lock:
            self._reap()
        return kill_jobs(self._resolve(batch_id_or_job_id), grace=self.kill_grace)

    def hold(self, batch_id: str) -> int:
        """Hold idle jobs (they do not start) and stop running ones; returns how many."""
        return hold_jobs(self._resolve(batch_id))

    def release(self, batch_id: str) -> int:
        """Let held jobs start again (idle) or continue (running); returns how many."""
        return release_jobs(self._resolve(batch_id))

    def poll(self) -> PollResult:
        """Scan untracked jobs; events may repeat (consumers dedupe by backend, id and seq)."""
        with self._lock:
            self._reap()
            return self._poller.poll()

    def mark_tracked(self, job_ids: Iterable[str]) -> int:
        """Stop reporting these finished jobs (``C.P@local``); returns how many were marked."""
        with self._lock:
            return self._poller.mark_tracked(job_ids)

    def _resolve(self, ref: str) -> Sequence[JobDir]:
        cluster, proc = parse_job_ref(ref)
        if proc is None:
            return list_job_dirs(self.root, cluster)
        jd = job_dir(self.root, cluster, proc)
        return [jd] if jd.path.is_dir() else []

    def _reap(self) -> None:
        # the caller holds self._lock
        self._children = [p for p in self._children if p.poll() is None]


def _status(jd: JobDir) -> LocalJobStatus | None:
    meta: Mapping[str, object] | None = read_job_json(jd)
    if meta is None:
        return None
    submission_id = meta.get("submission_id")
    last = latest(read_events(jd))
    return LocalJobStatus(
        job_id=jd.name,
        submission_id=submission_id if isinstance(submission_id, int) else -1,
        state=last.state if last else "idle",
        exit_code=last.exit_code if last else None,
        seq=last.seq if last else 0,
        log_path=jd.log,
    )


def _describe_job(jd: JobDir, runner_grace: float) -> Observation | None:
    """The job's latest event; None when its runner is gone without recording an end, or
    its directory is gone."""
    last = latest(read_events(jd))
    if last is not None and is_terminal(last.state):
        return _observation(last)
    try:
        created = (jd.job_json if jd.job_json.exists() else jd.path).stat().st_mtime
    except FileNotFoundError:
        return None  # removed while we looked
    if runner_gone(jd, read_ref(jd.runner_pid), created, runner_grace):
        # the runner may have recorded the end just before it exited
        last = latest(read_events(jd))
        return _observation(last) if last is not None and is_terminal(last.state) else None
    return _observation(last) if last is not None else Observation("idle")


def _observation(event: EventRecord) -> Observation:
    return Observation(event.state, event.exit_code, event.node)
