"""The ``jobsub`` batch backend: Fermilab jobsub_lite commands, HTCondor underneath.

Job ids are jobsub's own ``<cluster>.<proc>@<schedd>``; batch ids ``<cluster>@<schedd>``
(the ``.0@`` → ``@`` form the POMS jobsub wrapper reports). ``jobsub_q`` lists only queued
jobs and shows no exit codes, so a job that leaves the queue is recorded **completed**
(exit code unknown), as the reference's ``jobsub_q`` fallback scraper does: leaving the
queue is how every job ends, and calling it a failure would fail every job.
"""

from __future__ import annotations

import getpass
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from poms_shared.batch.commands import check_submit, run_batch_command
from poms_shared.batch.local_poll import PollResult
from poms_shared.batch.observed import (
    ClusterRecord,
    JobKey,
    Observation,
    Reporter,
    mark_tracked,
    poll_spool,
    read_clusters,
    record_cluster,
)
from poms_shared.batch.port import BatchError
from poms_shared.settings import Settings

BACKEND = "jobsub"
COMMAND_TIMEOUT = 300.0  # jobsub_submit fetches tokens and talks to remote schedds
VANISHED_COMPLETED = Observation("completed")
# jobsub_q's ST column (condor_q's short status codes)
STATUS_CODES = {
    "I": "idle",
    "R": "running",
    "H": "held",
    "S": "held",
    "C": "completed",
    "X": "removed",
    "<": "running",
    ">": "running",
}
_JOB_ID_LINE = re.compile(r"Use job id (\S+) to retrieve output")
_JOB_ID = re.compile(r"^(\d+)(?:\.(\d+))?(?:@(\S+))?$")


def parse_submit_output(text: str) -> tuple[int, str]:
    """(cluster, schedd) from jobsub_submit's ``Use job id <id> to retrieve output`` line."""
    match = _JOB_ID_LINE.search(text)
    if match is None:
        raise BatchError(f"jobsub_submit printed no job id: {text.strip()[-500:]}")
    cluster, _, schedd = parse_job_id(match.group(1))
    return cluster, schedd


def parse_job_id(ref: str) -> tuple[int, int | None, str]:
    """Split ``C``, ``C@schedd`` or ``C.P@schedd`` into (cluster, proc or None, schedd)."""
    match = _JOB_ID.match(ref.strip())
    if match is None:
        raise ValueError(f"not a jobsub job id: {ref!r}")
    proc = match.group(2)
    return int(match.group(1)), None if proc is None else int(proc), match.group(3) or ""


def parse_jobsub_q(text: str) -> dict[JobKey, Observation]:
    """Observations from jobsub_q's table (JOBSUBJOBID OWNER SUBMITTED RUN_TIME ST PRI SIZE CMD)."""
    seen: dict[JobKey, Observation] = {}
    for line in text.splitlines():
        fields = line.split()
        # rows start with a job id; SUBMITTED is two words (date and time), so ST is 6th
        if len(fields) < 6 or not _JOB_ID.match(fields[0]) or "." not in fields[0]:
            continue
        cluster, proc, _ = parse_job_id(fields[0])
        state = STATUS_CODES.get(fields[5])
        if state is not None and proc is not None:
            seen[(cluster, proc)] = Observation(state)  # jobsub_q shows no exit codes
    return seen


class JobsubBatch:
    """Submit, poll, remove, hold and release jobsub jobs for one group (experiment)."""

    name = BACKEND

    def __init__(self, root: Path, group: str | None = None, user: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.group = group or os.environ.get("JOBSUB_GROUP") or os.environ.get("GROUP") or ""
        self.user = user or os.environ.get("USER") or getpass.getuser()
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
        script = "file://" + os.path.abspath(os.path.join(cwd or os.getcwd(), argv[0]))
        command = [
            *self._base("jobsub_submit"),
            "-N",
            str(count),
            "-e",
            "POMS4_SUBMISSION_ID",
            script,
            *argv[1:],
        ]
        cluster, schedd = parse_submit_output(self._run(command, env=job_env, cwd=cwd))
        experiment = job_env.get("POMS4_EXPERIMENT") or job_env.get("EXPERIMENT") or self.group
        record_cluster(
            self.root, ClusterRecord(cluster, count, submission_id, experiment, site=schedd)
        )
        return f"{cluster}@{schedd}"

    def poll(self) -> PollResult:
        """Record state changes seen in ``jobsub_q`` and report events of untracked jobs."""
        with self._lock:
            return poll_spool(self.root, self._snapshot, self._reporter, VANISHED_COMPLETED)

    def mark_tracked(self, job_ids: Iterable[str]) -> int:
        """Stop reporting these finished jobs (``C.P@schedd``)."""
        return mark_tracked(self.root, job_ids, _job_key)

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
        cluster, proc, _ = parse_job_id(batch_id)
        seen = self._snapshot(read_clusters(self.root))
        targets = [
            key
            for key, obs in seen.items()
            if key[0] == cluster and (proc is None or key[1] == proc) and obs.state in states
        ]
        if targets:
            self._run([*self._base(tool), f"--jobid={self._full_id(batch_id)}"])
        return len(targets)

    def _full_id(self, batch_id: str) -> str:
        cluster, proc, schedd = parse_job_id(batch_id)
        if not schedd:
            schedd = next((r.site for r in read_clusters(self.root) if r.cluster == cluster), "")
        ident = str(cluster) if proc is None else f"{cluster}.{proc}"
        return f"{ident}@{schedd}" if schedd else ident

    def _base(self, tool: str) -> list[str]:
        return [tool, "-G", self.group] if self.group else [tool]

    def _snapshot(self, records: list[ClusterRecord]) -> dict[JobKey, Observation]:
        return parse_jobsub_q(self._run([*self._base("jobsub_q"), "--user", self.user]))

    def _job_id(self, record: ClusterRecord, proc: int) -> str:
        job = f"{record.cluster}.{proc}"
        return f"{job}@{record.site}" if record.site else job

    def _run(
        self, argv: list[str], env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> str:
        return run_batch_command(argv, env, cwd, COMMAND_TIMEOUT)


def _job_key(ref: str) -> JobKey:
    cluster, proc, _ = parse_job_id(ref)
    if proc is None:
        raise ValueError(f"mark_tracked needs job ids (C.P@schedd), not a cluster: {ref!r}")
    return cluster, proc
