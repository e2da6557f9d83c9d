"""On-disk layout of the local batch spool: cluster counter, job directories, event files.

``<root>/cluster.counter``      last cluster id handed out (fcntl-locked, starts at 1)
``<root>/slots/<i>.lock``       one fcntl lock per concurrently running job
``<root>/jobs/<C>.<P>/``        job.json, events.jsonl, job.log, declared.jsonl, pid,
                                runner.pid, runner.log, and the .lock/.kill/.tracked markers
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poms_shared.batch.local_events import (
    EventRecord,
    Usage,
    is_terminal,
    latest,
    next_seq,
    parse_events,
    utc_now,
)

BATCH_DIR_ENV = "POMS_BATCH_DIR"
SLOTS_ENV = "POMS_LOCAL_BATCH_SLOTS"
DEFAULT_SLOTS = 4
NODE = socket.gethostname()

_JOB_NAME = re.compile(r"^(\d+)\.(\d+)$")


def default_batch_dir() -> Path:
    """``$POMS_BATCH_DIR``, else ``<$POMS_VAR_DIR or ./var>/batch/local`` (absolute)."""
    explicit = os.environ.get(BATCH_DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).resolve()
    var_dir = os.environ.get("POMS_VAR_DIR", "").strip() or "var"
    return (Path(var_dir) / "batch" / "local").resolve()


def slots_from_env(default: int = DEFAULT_SLOTS) -> int:
    """The concurrency limit from ``$POMS_LOCAL_BATCH_SLOTS``; raises ValueError if invalid."""
    raw = os.environ.get(SLOTS_ENV, "").strip()
    slots = int(raw) if raw else default
    if slots < 1:
        raise ValueError(f"{SLOTS_ENV} must be at least 1, not {slots}")
    return slots


@dataclass(frozen=True)
class JobDir:
    """Paths of one job's spool directory ``<root>/jobs/<C>.<P>``."""

    path: Path

    @property
    def name(self) -> str:
        """The job id ``<C>.<P>``."""
        return self.path.name

    @property
    def cluster(self) -> int:
        """The cluster id."""
        return int(self.name.split(".")[0])

    @property
    def proc(self) -> int:
        """The job's index within its cluster (from 0)."""
        return int(self.name.split(".")[1])

    @property
    def root(self) -> Path:
        """The spool root this job belongs to."""
        return self.path.parent.parent

    @property
    def job_json(self) -> Path:
        """What to run, where, for which submission, with which environment."""
        return self.path / "job.json"

    @property
    def events(self) -> Path:
        """One JSON line per state change."""
        return self.path / "events.jsonl"

    @property
    def log(self) -> Path:
        """The payload's stdout and stderr."""
        return self.path / "job.log"

    @property
    def declared(self) -> Path:
        """Output files the job declared (``$POMS_FILE_MANIFEST``)."""
        return self.path / "declared.jsonl"

    @property
    def pid(self) -> Path:
        """The payload's pid (and process group), with its start time."""
        return self.path / "pid"

    @property
    def runner_pid(self) -> Path:
        """The runner's pid, with its start time."""
        return self.path / "runner.pid"

    @property
    def runner_log(self) -> Path:
        """The runner's own output (tracebacks only, normally empty)."""
        return self.path / "runner.log"

    @property
    def lock(self) -> Path:
        """Serialises event writes and the start of the payload."""
        return self.path / ".lock"

    @property
    def kill_marker(self) -> Path:
        """Present once POMS asked to remove the job."""
        return self.path / ".kill"

    @property
    def tracked(self) -> Path:
        """Present once the tracker committed the job's end; the poller skips it."""
        return self.path / ".tracked"


def jobs_dir(root: Path) -> Path:
    """Directory holding one sub-directory per job."""
    return root / "jobs"


def job_dir(root: Path, cluster: int, proc: int) -> JobDir:
    """The spool directory of job ``<cluster>.<proc>``."""
    return JobDir(jobs_dir(root) / f"{cluster}.{proc}")


def list_job_dirs(root: Path, cluster: int | None = None) -> list[JobDir]:
    """Every job directory (optionally of one cluster), ordered by cluster then proc."""
    try:
        names = [e.name for e in os.scandir(jobs_dir(root)) if _JOB_NAME.match(e.name)]
    except FileNotFoundError:
        return []
    dirs = [JobDir(jobs_dir(root) / n) for n in names]
    if cluster is not None:
        dirs = [d for d in dirs if d.cluster == cluster]
    return sorted(dirs, key=lambda d: (d.cluster, d.proc))


@contextmanager
def locked(path: Path, timeout: float = 30.0) -> Iterator[int]:
    """Hold an exclusive fcntl lock on ``path`` (created if needed); yields the fd."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"could not lock {path} within {timeout}s") from None
                time.sleep(0.01)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def allocate_cluster(root: Path) -> int:
    """Hand out the next cluster id (monotonic across processes, first is 1)."""
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / "cluster.counter") as fd:
        raw = os.pread(fd, 64, 0).decode().strip()
        cluster = (int(raw) if raw.isdigit() else 0) + 1
        data = f"{cluster}\n".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
    return cluster


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` so readers see either the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_job_json(jd: JobDir) -> dict[str, Any] | None:
    """The job description, or None while it is not (completely) written."""
    try:
        obj = json.loads(jd.job_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def append_line(path: Path, line: bytes) -> None:
    """Append one complete line durably (single write, then fsync)."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # a writer died mid-line: start afresh so our line is not glued to the fragment
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_events(jd: JobDir) -> list[EventRecord]:
    """Every complete event line of a job."""
    try:
        data = jd.events.read_bytes()
    except FileNotFoundError:
        return []
    return parse_events(data)[0]


def append_event_locked(
    jd: JobDir,
    events: Sequence[EventRecord],
    state: str,
    exit_code: int | None = None,
    usage: Usage | None = None,
) -> EventRecord:
    """Append the next event; the caller holds the job lock and passes the current events."""
    record = EventRecord(next_seq(events), state, utc_now(), exit_code, NODE, usage)
    append_line(jd.events, record.to_line())
    return record


def append_event(
    jd: JobDir,
    state: str,
    exit_code: int | None = None,
    *,
    only_if_live: bool = False,
    usage: Usage | None = None,
) -> EventRecord | None:
    """Append an event under the job lock; with ``only_if_live`` never after a terminal one."""
    with locked(jd.lock):
        events = read_events(jd)
        last = latest(events)
        if only_if_live and last is not None and is_terminal(last.state):
            return None
        return append_event_locked(jd, events, state, exit_code, usage)
