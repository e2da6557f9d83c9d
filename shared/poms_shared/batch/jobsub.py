"""The ``jobsub`` batch backend: Fermilab jobsub_lite commands, HTCondor underneath.

Job ids are jobsub's own ``<cluster>.<proc>@<schedd>``; batch ids ``<cluster>@<schedd>``
(the ``.0@`` → ``@`` form the POMS jobsub wrapper reports).

While a job is queued its state comes from ``jobsub_q``, whose table shows no exit code and
no execute node. When a job has left the queue POMS looks it up in ``jobsub_history``: one
call per poll for every such job of one group and schedd. History gives the final state
(JobStatus 3 removed, 4 completed; a non-zero ExitCode or a signal makes it failed), the
exit code, the node (``LastRemoteHost`` without its slot) and what the job used (CPU, wall
time, peak and requested memory, site: :mod:`jobsub_usage`), which the final event carries.

History may not know a job: it was lost, the history file was rotated, or condor_history
failed (``jobsub_history`` exits 0 even then). Such a job keeps its latest state and is
looked up once more when ``history_grace`` seconds (default 300) have passed since it was
first missed (the time is kept in its ``.left_queue`` marker, so pollers sharing the spool
agree). If history still does not know it, it is recorded **completed** with an unknown
exit code, as the reference's jobsub_q scraper does: leaving the queue is how every job
ends, and calling it a failure would fail every job.

``describe`` asks jobsub_q, then jobsub_history, about tracked jobs too; a job neither
knows is unknown (None) there, not completed.

Each cluster remembers the group it was submitted with (``$JOBSUB_GROUP``, else ``$GROUP``
of the submission's environment, else the configured group); every later jobsub_q, rm,
hold, release and history call about it passes that group as ``-G``.
"""

from __future__ import annotations

import getpass
import logging
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import suppress
from pathlib import Path

from poms_shared.batch.commands import check_submit, run_batch_command
from poms_shared.batch.jobsub_parse import (
    history_argv,
    history_wanted,
    job_id,
    parse_history,
    parse_job_id,
    parse_jobsub_q,
    parse_submit_output,
    submission_group,
)
from poms_shared.batch.local_events import is_terminal, latest
from poms_shared.batch.local_poll import PollResult
from poms_shared.batch.local_spool import JobDir, job_dir, read_events
from poms_shared.batch.observed import (
    ClusterRecord,
    JobKey,
    Observation,
    Reporter,
    describe_seen,
    mark_tracked,
    parse_refs,
    poll_spool,
    read_clusters,
    record_cluster,
)
from poms_shared.batch.port import BatchError
from poms_shared.settings import Settings

BACKEND = "jobsub"
COMMAND_TIMEOUT = 300.0  # jobsub_submit fetches tokens and talks to remote schedds
HISTORY_GRACE = 300.0
LEFT_MARKER = ".left_queue"
VANISHED_COMPLETED = Observation("completed")

log = logging.getLogger(__name__)
# a job that left the queue, and whether this is the last look before giving up on history
Lookup = tuple[ClusterRecord, JobKey, bool]


class JobsubBatch:
    """Submit, poll, remove, hold and release jobsub jobs; POMS state lives in ``root``."""

    name = BACKEND

    def __init__(
        self,
        root: Path,
        group: str | None = None,
        user: str | None = None,
        *,
        history_grace: float = HISTORY_GRACE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if history_grace < 0:
            raise ValueError(f"history_grace must not be negative, not {history_grace}")
        self.root = Path(root).resolve()
        self.group = group or submission_group(os.environ, "")
        self.user = user or os.environ.get("USER") or getpass.getuser()
        self.history_grace = history_grace
        self._clock = clock
        self._lock = threading.Lock()
        self._reporter = Reporter(BACKEND, "jobsub-poller", self._job_id, lambda r, p: None)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobsubBatch:
        """The jobsub spool under the settings' var directory, for the demo experiment."""
        return cls(settings.var_dir / "batch" / BACKEND, group=settings.experiment)

    def submit(
        self,
        submission_id: int,
        argv: list[str],
        count: int = 1,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> str:
        """``jobsub_submit -G <group> -N <count> file://<script> args``; returns ``C@schedd``."""
        check_submit(argv, count)
        job_env = dict(os.environ if env is None else env)
        job_env["POMS4_SUBMISSION_ID"] = str(submission_id)
        group = submission_group(job_env, self.group)
        script = "file://" + os.path.abspath(os.path.join(cwd or os.getcwd(), argv[0]))
        command = [
            *_base("jobsub_submit", group),
            "-N",
            str(count),
            "-e",
            "POMS4_SUBMISSION_ID",
            script,
            *argv[1:],
        ]
        cluster, schedd = parse_submit_output(self._run(command, env=job_env, cwd=cwd))
        experiment = job_env.get("POMS4_EXPERIMENT") or job_env.get("EXPERIMENT") or group
        record = ClusterRecord(cluster, count, submission_id, experiment, site=schedd, group=group)
        record_cluster(self.root, record)
        return f"{cluster}@{schedd}"

    def poll(self) -> PollResult:
        """Record what jobsub_q (and, for jobs that left it, jobsub_history) shows; report."""
        with self._lock:
            return poll_spool(self.root, self._snapshot, self._reporter, vanished=None)

    def mark_tracked(self, job_ids: Iterable[str]) -> int:
        """Stop reporting these finished jobs (``C.P@schedd``)."""
        return mark_tracked(self.root, job_ids, _job_key)

    def describe(self, batch_ids: list[str]) -> dict[str, Observation | None]:
        """What jobsub_q, else jobsub_history, says now of these clusters or jobs."""
        asked, found = parse_refs(batch_ids, parse_job_id)
        if not asked:
            return found
        records = {r.cluster: r for r in read_clusters(self.root)}
        where = {c: self._where(records.get(c), schedd) for c, _, schedd in asked}
        seen = self._queue({group for group, _ in where.values()})
        counts = {c: r.count for c, r in records.items()}
        for (group, schedd), clusters in history_wanted(asked, seen, counts, where).items():
            # a failure raises: nothing can be said of the jobs that left the queue
            history = parse_history(self._run(history_argv(group, schedd, clusters)))
            for key, observation in history.items():
                seen.setdefault(key, observation)  # the queue is newer than the history
        jobs = [(cluster, proc) for cluster, proc, _ in asked]
        found.update(describe_seen(jobs, seen, counts, lambda c, p: job_id(c, p, where[c][1])))
        return found

    def _where(self, record: ClusterRecord | None, schedd: str) -> tuple[str, str]:
        """The group and schedd to ask about a cluster (what POMS recorded wins)."""
        if record is None:
            return self.group, schedd
        return self._group_of(record), record.site or schedd

    def kill(self, batch_id: str) -> int:
        """``jobsub_rm --jobid``; returns how many queued jobs it targeted."""
        return self._control("jobsub_rm", batch_id, ("idle", "running", "held"))

    def hold(self, batch_id: str) -> int:
        """``jobsub_hold --jobid``; returns how many idle or running jobs it targeted."""
        return self._control("jobsub_hold", batch_id, ("idle", "running"))

    def release(self, batch_id: str) -> int:
        """``jobsub_release --jobid``; returns how many held jobs it targeted."""
        return self._control("jobsub_release", batch_id, ("held",))

    def _control(self, tool: str, batch_id: str, states: tuple[str, ...]) -> int:
        cluster, proc, schedd = parse_job_id(batch_id)
        record = next((r for r in read_clusters(self.root) if r.cluster == cluster), None)
        group = self._group_of(record) if record else self.group
        targets = [
            key
            for key, obs in self._queue({group}).items()
            if key[0] == cluster and (proc is None or key[1] == proc) and obs.state in states
        ]
        if targets:
            ident = str(cluster) if proc is None else f"{cluster}.{proc}"
            schedd = schedd or (record.site if record else "")
            full_id = f"{ident}@{schedd}" if schedd else ident
            self._run([*_base(tool, group), f"--jobid={full_id}"])
        return len(targets)

    def _group_of(self, record: ClusterRecord) -> str:
        return record.group or self.group  # records written before groups were kept

    def _snapshot(self, records: list[ClusterRecord]) -> dict[JobKey, Observation]:
        seen = self._queue({self._group_of(r) for r in records})
        lookups = self._left_queue(records, seen)
        if lookups:
            seen.update(self._from_history(lookups))
        return seen

    def _queue(self, groups: Collection[str]) -> dict[JobKey, Observation]:
        seen: dict[JobKey, Observation] = {}
        for group in sorted(groups):
            argv = [*_base("jobsub_q", group), "--user", self.user]
            seen.update(parse_jobsub_q(self._run(argv)))
        return seen

    def _left_queue(
        self, records: list[ClusterRecord], queued: Mapping[JobKey, Observation]
    ) -> list[Lookup]:
        """Unfinished jobs jobsub_q no longer shows that are due a look in the history."""
        now = self._clock()
        lookups = []
        for record in records:
            for key in record.job_keys():
                jd = job_dir(self.root, *key)
                marker = jd.path / LEFT_MARKER
                if key in queued:
                    marker.unlink(missing_ok=True)  # back in the queue: start afresh
                    continue
                if jd.tracked.exists() or _has_ended(jd):
                    continue
                since, first = _left_since(marker, now)
                overdue = now - since >= self.history_grace
                if first or overdue:
                    lookups.append((record, key, overdue))
        return lookups

    def _from_history(self, lookups: list[Lookup]) -> dict[JobKey, Observation]:
        """Final observations from one jobsub_history call per (group, schedd)."""
        batches: dict[tuple[str, str], list[Lookup]] = defaultdict(list)
        for lookup in lookups:
            batches[(self._group_of(lookup[0]), lookup[0].site)].append(lookup)
        found: dict[JobKey, Observation] = {}
        for (group, schedd), batch in sorted(batches.items()):
            clusters = {record.cluster: record.count for record, _, _ in batch}
            try:
                history = parse_history(self._run(history_argv(group, schedd, clusters)))
            except BatchError as exc:
                log.warning("jobsub_history failed, will ask again: %s", exc)
                continue
            for _, key, last_look in batch:
                if key in history:
                    found[key] = history[key]
                elif last_look:
                    found[key] = VANISHED_COMPLETED
        return found

    def _job_id(self, record: ClusterRecord, proc: int) -> str:
        return job_id(record.cluster, proc, record.site)

    def _run(
        self, argv: list[str], env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> str:
        return run_batch_command(argv, env, cwd, COMMAND_TIMEOUT)


def _base(tool: str, group: str) -> list[str]:
    return [tool, "-G", group] if group else [tool]


def _has_ended(jd: JobDir) -> bool:
    last = latest(read_events(jd))
    return last is not None and is_terminal(last.state)


def _left_since(marker: Path, now: float) -> tuple[float, bool]:
    """When the job was first missed from the queue, and whether that is ``now``."""
    try:
        text = marker.read_text(encoding="utf-8")
    except FileNotFoundError:
        return now, _create_marker(marker, now)
    except OSError:
        return now, False
    try:
        since = float(text)
    except ValueError:
        since = math.nan
    if not math.isfinite(since):
        # another poller is writing it just now, or it is damaged: its age says as much
        with suppress(OSError):
            since = marker.stat().st_mtime
    return (since if math.isfinite(since) else now), False


def _create_marker(marker: Path, now: float) -> bool:
    """Write ``now`` to a new marker; False when another poller was first."""
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError:
        return True  # no marker possible (job directory gone): every poll is a first look
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(repr(now))
    return True


def _job_key(ref: str) -> JobKey:
    cluster, proc, _ = parse_job_id(ref)
    if proc is None:
        raise ValueError(f"mark_tracked needs job ids (C.P@schedd), not a cluster: {ref!r}")
    return cluster, proc
