"""The ``slurm`` batch backend: job arrays through ``sbatch``, states from ``squeue --json``.

Finished jobs stay in ``squeue`` for ``MinJobAge`` seconds; after that their end is read
from the jobcomp file (``JobCompType=jobcomp/filetxt``). A job in neither is recorded as
failed with exit code -1 (vanished). Job ids are ``<array job>.<task>@slurm``.

Events name the node Slurm ran the job on: squeue's ``nodes`` (what ``%N`` prints) while it
is known there, else the jobcomp line's ``NodeList`` (sacct's column of that name needs
slurmdbd); a pending or vanished job has none.

Events also carry what the job used (see :mod:`slurm_usage`): the cluster (squeue's, else the
configured ``ClusterName``), the requested memory and, once it has ended, its wall time.
When Slurm keeps accounting (slurmdbd), one ``sacct`` call per poll for the jobs that have
just ended adds CPU time and peak memory to their final event; a failing sacct only costs
those numbers.

``describe`` answers from the same two sources, for tracked jobs too; a job in neither is
unknown (None) there, not failed: the caller decides what a lost job means.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from poms_shared.batch.commands import check_submit, run_batch_command
from poms_shared.batch.local_events import Usage, is_terminal, latest
from poms_shared.batch.local_poll import PollResult
from poms_shared.batch.local_spool import job_dir, read_events, write_text_atomic
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
from poms_shared.batch.slurm_parse import (
    ClusterConfig,
    cluster_config,
    parse_jobcomp_lines,
    parse_squeue_json,
)
from poms_shared.batch.slurm_usage import merge_usage, parse_sacct, sacct_argv
from poms_shared.settings import Settings

BACKEND = "slurm"
SPOOL_ENV = "POMS_SLURM_SPOOL"
COMMAND_TIMEOUT = 60.0
_REF = re.compile(r"^(\d+)(?:[._](\d+))?(?:@slurm)?$")

log = logging.getLogger(__name__)

# Gives the payload the variables a POMS batch job relies on (as the local backend does).
JOB_WRAPPER = """#!/bin/sh
CLUSTER="${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}"
PROCESS="${SLURM_ARRAY_TASK_ID:-0}"
POMS_JOB_ID="$CLUSTER.$PROCESS"
POMS_JOB_DIR="$POMS_SLURM_SPOOL/jobs/$POMS_JOB_ID"
POMS_FILE_MANIFEST="$POMS_JOB_DIR/declared.jsonl"
export CLUSTER PROCESS POMS_JOB_ID POMS_JOB_DIR POMS_FILE_MANIFEST
mkdir -p "$POMS_JOB_DIR"
exec "$@"
"""


def parse_ref(ref: str) -> tuple[int, int | None]:
    """Split ``A``, ``A@slurm``, ``A.T@slurm`` or ``A_T`` into (array job, task or None)."""
    match = _REF.match(ref.strip())
    if match is None:
        raise ValueError(f"not a slurm batch id: {ref!r}")
    task = match.group(2)
    return int(match.group(1)), None if task is None else int(task)


def _job_key(ref: str) -> JobKey:
    cluster, task = parse_ref(ref)
    if task is None:
        raise ValueError(f"mark_tracked needs job ids (A.T), not a cluster: {ref!r}")
    return cluster, task


def _experiment(env: Mapping[str, str]) -> str:
    return env.get("POMS4_EXPERIMENT") or env.get("EXPERIMENT") or "demo"


class SlurmBatch:
    """Submit, poll, kill, hold and release Slurm job arrays; POMS state lives in ``root``.

    ``config`` (the jobcomp file, cluster name, accounting) is read from ``scontrol show
    config`` when not given.
    """

    name = BACKEND

    def __init__(self, root: Path, *, config: ClusterConfig | None = None) -> None:
        self.root = Path(root).resolve()
        self._config = config
        self._lock = threading.Lock()
        self._reporter = Reporter(BACKEND, "slurm-poller", self._job_id, self._log_path)

    @classmethod
    def from_settings(cls, settings: Settings) -> SlurmBatch:
        """The Slurm spool under the settings' var directory (``$POMS_SLURM_SPOOL`` wins)."""
        explicit = os.environ.get(SPOOL_ENV, "").strip()
        return cls(Path(explicit) if explicit else settings.var_dir / "batch" / BACKEND)

    def submit(
        self,
        submission_id: int,
        argv: list[str],
        count: int = 1,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> str:
        """Submit ``count`` tasks of one array running ``argv``; returns ``<A>@slurm``."""
        check_submit(argv, count)
        job_env = dict(os.environ if env is None else env)
        job_env.update(POMS4_SUBMISSION_ID=str(submission_id), **{SPOOL_ENV: str(self.root)})
        if "SLURM_CONF" in os.environ:
            job_env.setdefault("SLURM_CONF", os.environ["SLURM_CONF"])
        out = self._run(self._sbatch_argv(argv, count, cwd), env=job_env).strip()
        cluster = int(out.split(";")[0])  # --parsable prints "<id>[;<cluster>]"
        record_cluster(
            self.root, ClusterRecord(cluster, count, submission_id, _experiment(job_env))
        )
        return f"{cluster}@{BACKEND}"

    def _sbatch_argv(self, argv: list[str], count: int, cwd: str | None) -> list[str]:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        wrapper = self.root / "poms-slurm-job.sh"
        if not wrapper.exists() or wrapper.read_text() != JOB_WRAPPER:
            write_text_atomic(wrapper, JOB_WRAPPER, mode=0o755)
        return [
            "sbatch",
            "--parsable",
            f"--array=0-{count - 1}",
            "--export=ALL",
            f"--job-name={os.path.basename(argv[0])}",
            f"--chdir={os.path.abspath(cwd or os.getcwd())}",
            f"--output={self.root / 'logs' / '%A.%a.log'}",
            str(wrapper),
            *argv,
        ]

    def poll(self) -> PollResult:
        """Record state changes of untracked jobs and report their events and files."""
        with self._lock:
            return poll_spool(self.root, self._snapshot, self._reporter)

    def mark_tracked(self, job_ids: Iterable[str]) -> int:
        """Stop reporting these finished jobs (``A.T@slurm``); returns how many were marked."""
        return mark_tracked(self.root, job_ids, _job_key)

    def describe(self, batch_ids: list[str]) -> dict[str, Observation | None]:
        """What squeue and the jobcomp file say now of these arrays or tasks; None: unknown."""
        asked, found = parse_refs(batch_ids, parse_ref)
        if asked:
            with self._lock:
                seen = self._snapshot([])
            counts = {r.cluster: r.count for r in read_clusters(self.root)}
            found.update(describe_seen(asked, seen, counts, lambda a, t: f"{a}.{t}@{BACKEND}"))
        return found

    def kill(self, batch_id: str) -> int:
        """``scancel`` an array or one task; returns how many live jobs it targeted."""
        targets = self._live_targets(batch_id)
        if targets:
            self._run(["scancel", _slurm_id(batch_id)])
        return len(targets)

    def hold(self, batch_id: str) -> int:
        """Hold pending tasks (``scontrol hold``) and suspend running ones."""
        seen = self._current(batch_id)
        pending = [k for k, o in seen.items() if o.state == "idle"]
        running = [k for k, o in seen.items() if o.state == "running"]
        self._scontrol("hold", pending)
        self._scontrol("suspend", running)
        return len(pending) + len(running)

    def release(self, batch_id: str) -> int:
        """Release held pending tasks and resume suspended ones."""
        seen = self._current(batch_id)
        held = [k for k, o in seen.items() if o.state == "held"]
        suspended = set(self._suspended(held))
        self._scontrol("release", [k for k in held if k not in suspended])
        self._scontrol("resume", sorted(suspended))
        return len(held)

    def _scontrol(self, action: str, keys: list[JobKey]) -> None:
        if keys:
            self._run(["scontrol", action, ",".join(f"{a}_{t}" for a, t in keys)])

    def _suspended(self, keys: list[JobKey]) -> list[JobKey]:
        # a suspended task has started (it has a node); a held pending one has none
        seen = parse_squeue_json(self._run(["squeue", "--json"]))
        return [k for k in keys if seen.get(k, Observation("idle")).node]

    def _current(self, batch_id: str) -> dict[JobKey, Observation]:
        cluster, task = parse_ref(batch_id)
        seen = parse_squeue_json(self._run(["squeue", "--json"]))
        return {k: o for k, o in seen.items() if k[0] == cluster and (task is None or k[1] == task)}

    def _live_targets(self, batch_id: str) -> list[JobKey]:
        cluster, task = parse_ref(batch_id)
        live = []
        for record in read_clusters(self.root):
            if record.cluster != cluster:
                continue
            for key in record.job_keys():
                last = latest(read_events(job_dir(self.root, *key)))
                if (task is None or key[1] == task) and not (last and is_terminal(last.state)):
                    live.append(key)
        return live or list(self._current(batch_id))

    def _snapshot(self, records: list[ClusterRecord]) -> dict[JobKey, Observation]:
        seen = self._jobcomp_observations()
        # squeue wins: it is newer than any jobcomp line for a job id Slurm reuses
        seen.update(parse_squeue_json(self._run(["squeue", "--json"])))
        if records:
            self._add_usage(seen, records)
        return seen

    def _add_usage(self, seen: dict[JobKey, Observation], records: list[ClusterRecord]) -> None:
        """Give the recorded jobs the cluster's name, and those just ended sacct's numbers."""
        keys = [key for record in records for key in record.job_keys() if key in seen]
        ended = {key for key in keys if self._just_ended(key, seen[key])}
        # sacct tells of every task of an array: only the ended ones' numbers are final
        accounted = {k: u for k, u in self._sacct(ended).items() if k in ended}
        for key in keys:
            usage = merge_usage(seen[key].usage, accounted.get(key))
            if usage is None or usage.site is None:
                usage = merge_usage(Usage(site=self._cluster_config().name), usage)
            seen[key] = replace(seen[key], usage=usage)

    def _just_ended(self, key: JobKey, seen: Observation) -> bool:
        if not is_terminal(seen.state):
            return False
        last = latest(read_events(job_dir(self.root, *key)))
        return last is None or not is_terminal(last.state)

    def _sacct(self, keys: Collection[JobKey]) -> dict[JobKey, Usage]:
        if not keys or not self._cluster_config().accounting:
            return {}
        try:
            return parse_sacct(self._run(sacct_argv(cluster for cluster, _ in keys)))
        except BatchError as exc:
            log.warning("sacct failed, ended jobs go without CPU and memory use: %s", exc)
            return {}

    def _jobcomp_observations(self) -> dict[JobKey, Observation]:
        path = self._cluster_config().jobcomp
        if path is None:
            return {}
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return parse_jobcomp_lines(fh)
        except OSError:
            return {}

    def _cluster_config(self) -> ClusterConfig:
        if self._config is None:
            self._config = cluster_config(self._run(["scontrol", "show", "config"]))
        return self._config

    def _job_id(self, record: ClusterRecord, proc: int) -> str:
        return f"{record.cluster}.{proc}@{BACKEND}"

    def _log_path(self, record: ClusterRecord, proc: int) -> str:
        return str(self.root / "logs" / f"{record.cluster}.{proc}.log")

    def _run(self, argv: list[str], env: Mapping[str, str] | None = None) -> str:
        return run_batch_command(argv, env, timeout=COMMAND_TIMEOUT)


def _slurm_id(batch_id: str) -> str:
    cluster, task = parse_ref(batch_id)
    return str(cluster) if task is None else f"{cluster}_{task}"
