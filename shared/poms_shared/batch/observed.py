"""A spool for backends whose jobs run elsewhere (Slurm, jobsub): POMS records what it sees.

``<root>/clusters/<C>.json``   what POMS submitted (submission, job count, experiment,
                               and for jobsub the schedd and group)
``<root>/jobs/<C>.<P>/``       events.jsonl (observed state changes, seq from 1),
                               declared.jsonl (written by the job) and the .tracked marker

Observations become events only when their state or exit code changes, under the job lock,
so several pollers sharing the spool agree on one monotonic ``seq`` per job. An event
carries the node the batch system names in that observation (None while a job waits).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from poms_shared.batch.local_events import (
    VANISHED_EXIT_CODE,
    EventRecord,
    Usage,
    group_by_experiment,
    is_terminal,
    latest,
    next_seq,
    parse_declared_lines,
    usage_fields,
    utc_now,
)
from poms_shared.batch.local_poll import PollResult, declared_file
from poms_shared.batch.local_spool import (
    JobDir,
    append_line,
    job_dir,
    locked,
    read_events,
    write_text_atomic,
)
from poms_shared.contracts.messages import FilesDeclared, JobEvent

JobKey = tuple[int, int]
T = TypeVar("T")


@dataclass(frozen=True)
class Observation:
    """What the batch system says about one job right now."""

    state: str
    exit_code: int | None = None
    node: str | None = None
    usage: Usage | None = None  # recorded with the event this observation makes


VANISHED_FAILED = Observation("failed", VANISHED_EXIT_CODE)


@dataclass(frozen=True)
class ClusterRecord:
    """One submitted cluster (Slurm array, HTCondor cluster) as POMS remembers it."""

    cluster: int
    count: int
    submission_id: int
    experiment: str
    site: str = ""  # the schedd of a jobsub cluster; empty for Slurm
    group: str = ""  # the jobsub group (-G) it was submitted with; empty for Slurm
    submitted_at: str = field(default_factory=lambda: utc_now().isoformat())

    def job_keys(self) -> list[JobKey]:
        """The (cluster, proc) of every job of the cluster."""
        return [(self.cluster, proc) for proc in range(self.count)]


def clusters_dir(root: Path) -> Path:
    """Directory of the cluster records."""
    return root / "clusters"


def record_cluster(root: Path, record: ClusterRecord) -> None:
    """Create the job directories with their ``idle`` event, then publish the record."""
    for cluster, proc in record.job_keys():
        jd = job_dir(root, cluster, proc)
        jd.path.mkdir(parents=True, exist_ok=True)
        observe(jd, Observation("idle"))
    clusters_dir(root).mkdir(parents=True, exist_ok=True)
    # written last: pollers only look at jobs whose cluster record exists
    path = clusters_dir(root) / f"{record.cluster}.json"
    write_text_atomic(path, json.dumps(asdict(record)) + "\n")


def read_clusters(root: Path) -> list[ClusterRecord]:
    """Every readable cluster record, oldest cluster first."""
    records = []
    for path in sorted(clusters_dir(root).glob("*.json")):
        try:
            records.append(ClusterRecord(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue  # half-written or foreign files are not ours to report
    return sorted(records, key=lambda r: r.cluster)


def observe(jd: JobDir, seen: Observation) -> EventRecord | None:
    """Record ``seen`` as the job's next event when it differs from the latest one."""
    with locked(jd.lock):
        events = read_events(jd)
        last = latest(events)
        if last is not None and (is_terminal(last.state) or _same(last, seen)):
            return None
        # the node is the batch system's, not this host's (which append_event_locked records)
        record = EventRecord(
            next_seq(events), seen.state, utc_now(), seen.exit_code, seen.node, seen.usage
        )
        append_line(jd.events, record.to_line())
        return record


def _same(last: EventRecord, seen: Observation) -> bool:
    return last.state == seen.state and last.exit_code == seen.exit_code


def mark_tracked(root: Path, job_ids: Iterable[str], parse: Callable[[str], JobKey]) -> int:
    """Touch the .tracked marker of each job; returns how many jobs existed."""
    marked = 0
    for ref in job_ids:
        jd = job_dir(root, *parse(ref))
        if jd.path.is_dir():
            jd.tracked.touch()
            marked += 1
    return marked


@dataclass(frozen=True)
class Reporter:
    """Turns a job directory's files into the messages a poller returns."""

    backend: str
    source: str
    job_id: Callable[[ClusterRecord, int], str]
    log_path: Callable[[ClusterRecord, int], str | None]

    def report(self, root: Path, record: ClusterRecord, proc: int, result: PollResult) -> None:
        """Append the job's events (all of them; consumers dedupe) and, once ended, files."""
        jd = job_dir(root, record.cluster, proc)
        events = sorted(read_events(jd), key=lambda e: e.seq)
        batch_job_id = self.job_id(record, proc)
        result.events.extend(
            JobEvent(
                source=self.source,
                backend=self.backend,
                batch_job_id=batch_job_id,
                submission_id=record.submission_id,
                state=ev.state,  # parse_event admits only the JobEvent states
                seq=ev.seq,
                at=ev.at,
                exit_code=ev.exit_code,
                node=ev.node,
                **usage_fields(ev.usage),
                log_path=self.log_path(record, proc),
            )
            for ev in events
        )
        if events and is_terminal(events[-1].state):
            result.files.extend(_files(jd, record, batch_job_id))


def _files(jd: JobDir, record: ClusterRecord, batch_job_id: str) -> list[FilesDeclared]:
    try:
        entries, _ = parse_declared_lines(jd.declared.read_bytes())
    except FileNotFoundError:
        return []
    return [
        FilesDeclared(
            experiment=experiment,
            submission_id=record.submission_id,
            batch_job_id=batch_job_id,
            files=[declared_file(e) for e in group],
        )
        for experiment, group in group_by_experiment(entries, record.experiment).items()
    ]


def untracked(root: Path) -> list[tuple[ClusterRecord, list[int]]]:
    """Clusters with jobs the tracker has not committed yet, and those jobs' procs."""
    found = []
    for record in read_clusters(root):
        procs = [
            proc
            for cluster, proc in record.job_keys()
            if not job_dir(root, cluster, proc).tracked.exists()
        ]
        if procs:
            found.append((record, procs))
    return found


def parse_refs(
    batch_ids: Iterable[str], parse: Callable[[str], T]
) -> tuple[list[T], dict[str, Observation | None]]:
    """The ids ``parse`` reads, and the others as unknown jobs (no backend knows them)."""
    parsed: list[T] = []
    unreadable: dict[str, Observation | None] = {}
    for ref in batch_ids:
        try:
            parsed.append(parse(ref))
        except ValueError:
            unreadable[ref] = None
    return parsed, unreadable


def describe_seen(
    asked: Iterable[tuple[int, int | None]],
    seen: Mapping[JobKey, Observation],
    counts: Mapping[int, int],
    job_id: Callable[[int, int], str],
) -> dict[str, Observation | None]:
    """What ``seen`` says of each asked job, or of every job of an asked cluster (proc None).

    A cluster's jobs are those ``seen`` shows plus, for a cluster POMS recorded (``counts``:
    cluster -> job count), every proc below its count: a job the batch system lost still
    gets an entry, None.
    """
    by_cluster: dict[int, set[JobKey]] = {}
    for key in seen:
        by_cluster.setdefault(key[0], set()).add(key)
    found: dict[str, Observation | None] = {}
    for cluster, proc in asked:
        if proc is not None:
            keys = {(cluster, proc)}
        else:
            recorded = {(cluster, p) for p in range(counts.get(cluster, 0))}
            keys = by_cluster.get(cluster, set()) | recorded
        for key in sorted(keys):
            found[job_id(*key)] = seen.get(key)
    return found


def poll_spool(
    root: Path,
    snapshot: Callable[[list[ClusterRecord]], Mapping[JobKey, Observation]],
    reporter: Reporter,
    vanished: Observation | None = VANISHED_FAILED,
) -> PollResult:
    """Record what ``snapshot`` shows of untracked jobs, then report them.

    A job ``snapshot`` does not show is recorded as ``vanished``; with None it keeps its
    latest state (the snapshot decides itself when such a job has ended).
    """
    result = PollResult()
    pending = untracked(root)
    if not pending:
        return result
    seen = snapshot([record for record, _ in pending])
    for record, procs in pending:
        for proc in procs:
            observation = seen.get((record.cluster, proc), vanished)
            if observation is not None:
                observe(job_dir(root, record.cluster, proc), observation)
            reporter.report(root, record, proc, result)
    return result
