"""The reconciler: compares the tracker with the batch backends and the disk, periodically.

A pass (``Reconciler.run_once``) reads the submissions not settled with their live jobs and
located outputs; asks each backend offering ``describe`` once about their batches (below
Completed) and live jobs, and looks for the outputs on disk, outside any transaction; then,
per submission, in its own transaction under its row lock, re-reads the jobs and applies
the rules of ``domain.drift``: repairs go through ``handlers.ingest_job_events`` (the
idempotent path of every job event, ``source="reconciler"``), confirmed findings into
``submission_params["drift"]``. First sightings (``suspected``) stay in this object's
memory: most are the poller's lag, and would linger in submissions settled by then.
A backend that cannot be asked is skipped for the pass: nothing is concluded about its jobs.
"""

from __future__ import annotations

import logging
from collections import Counter as Counter_
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.batch.port import BatchError, DescribesJobs, Observation, describer
from poms_shared.contracts.messages import JobEvent
from poms_shared.db.base import utcnow
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.session import Database
from poms_shared.db.tables import File, Job, Submission
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.metrics import LOOP_ERRORS
from poms_shared.settings import Settings
from poms_tracker import handlers
from poms_tracker.domain import drift
from poms_tracker.domain.drift import BackendJob, Drift, Grace, Plan, TrackedJob
from poms_tracker.metrics import DESCRIBE_ERRORS, DRIFT_FOUND, DRIFT_OPEN, DRIFT_REPAIRED

log = logging.getLogger(__name__)
SOURCE = "reconciler"
_SETTLED = [int(s) for s in drift.SETTLED]


@dataclass
class Watched:
    """One submission the reconciler looks at, as read at the start of a pass."""

    submission_id: int
    batch_id: str | None
    status: SubmissionStatus
    has_live: bool
    live: list[tuple[str, str]] = field(default_factory=list)  # (backend, job id)
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (name, location)


@dataclass
class Checked:
    """What the pass learnt outside the database, per backend and per file."""

    answers: dict[str, dict[str, BackendJob | None]]  # backend -> its describe, as values
    clusters: dict[str, set[tuple[str, str]]]  # backend -> clusters asked about as a whole
    missing: dict[int, list[Drift]]  # submission -> outputs gone from the disk
    files_seen: dict[int, set[str]]  # submission -> outputs this host could check


def output_present(path: str, name: str) -> bool | None:
    """Whether an output is at ``path`` (the file, or a directory holding it); None when
    the path's top directory (``/pnfs``, ``/data``) is missing: not mounted on this host."""
    where = Path(path)
    if not Path(*where.parts[:2]).exists():
        return None
    if where.is_dir() and where.name != name:
        return (where / name).exists()
    return where.exists()


class Reconciler:
    """One pass over the submissions not settled; ``run_once`` is a ``Loop``'s work."""

    def __init__(
        self,
        db: Database,
        backends: Iterable[object],
        after_commit: Callable[[], None],
        *,
        grace: Grace | None = None,
        clock: Callable[[], datetime] = utcnow,
        present: Callable[[str, str], bool | None] = output_present,
        settings: Settings | None = None,
    ) -> None:
        self.db = db
        self.settings = settings  # which catalog repairs that complete a submission ask
        self.describers: dict[str, DescribesJobs] = {
            d.name: d for d in map(describer, backends) if d is not None
        }
        self.after_commit = after_commit
        self.grace = grace or Grace()
        self.clock = clock
        self.present = present
        # first sightings live here, not in the submission: most are the poller's lag
        self.suspected: dict[int, list[drift.Finding]] = {}

    def run_once(self) -> bool:
        """Compare every watched submission; sets the open-drift gauge; never asks to rerun."""
        watched = self._watched()
        checked = Checked({}, {}, {}, {})
        self._describe(watched, checked)
        for sub in watched:
            self._check_outputs(sub, checked)
        open_now: Counter_[str] = Counter_()
        # suspicions about submissions no longer watched are moot
        self.suspected = {s.submission_id: self.suspected.get(s.submission_id, []) for s in watched}
        for sub in watched:
            sid = sub.submission_id
            if (
                sub.has_live
                or self.suspected[sid]
                or checked.files_seen.get(sid)
                or self._asked(sub)
            ):
                try:
                    open_now.update(self._reconcile(sub.submission_id, checked))
                except Exception:  # one bad submission must not stop the others
                    LOOP_ERRORS.labels("reconcile").inc()
                    log.exception("reconciling submission %s failed", sub.submission_id)
        for kind in drift.KINDS:
            DRIFT_OPEN.labels(kind).set(open_now[kind])
        return False

    def _watched(self) -> list[Watched]:
        with self.db.transaction() as session:
            rows = session.execute(
                select(
                    Submission.submission_id,
                    Submission.batch_id,
                    Submission.status_id,
                    Submission.submission_params,
                ).where(Submission.status_id.not_in(_SETTLED))
            ).all()
            subs = {
                sid: Watched(sid, batch, SubmissionStatus(status), _has_live(params))
                for sid, batch, status, params in rows
            }
            live = session.execute(
                select(Job.submission_id, Job.backend, Job.batch_job_id)
                .join(Submission, Submission.submission_id == Job.submission_id)
                .where(Submission.status_id.not_in(_SETTLED), Job.state < int(JobState.COMPLETED))
            )
            # each statement may see a newer snapshot: rows of submissions not read are skipped
            for sid, backend, job_id in live:
                if sid in subs:
                    subs[sid].live.append((backend, job_id))
            outputs = session.execute(
                select(File.producing_submission_id, File.name, File.location)
                .join(Submission, Submission.submission_id == File.producing_submission_id)
                .where(Submission.status_id.not_in(_SETTLED), File.location.is_not(None))
            )
            for sid, name, location in outputs:
                if sid in subs:
                    subs[sid].outputs.append((name, location))
        return [subs[sid] for sid in sorted(subs)]

    def _home(self, sub: Watched) -> str | None:
        """The backend holding the batch; None for Completed submissions, whose batch has
        ended (only their live jobs are asked about: jobsub_history costs)."""
        if not sub.batch_id or sub.status >= SubmissionStatus.COMPLETED:
            return None
        return drift.backend_name(sub.batch_id, self.describers)

    def _asked(self, sub: Watched) -> bool:
        return self._home(sub) is not None or any(b in self.describers for b, _ in sub.live)

    def _describe(self, watched: list[Watched], checked: Checked) -> None:
        """One ``describe`` per backend: the batches, and live jobs of other clusters."""
        refs: dict[str, set[str]] = {name: set() for name in self.describers}
        for sub in watched:
            home = self._home(sub)
            if home is not None and sub.batch_id:
                refs[home].add(sub.batch_id)
        clusters = {name: {drift.cluster_of(r) for r in batches} for name, batches in refs.items()}
        for sub in watched:
            for backend, job_id in sub.live:
                if backend in refs and drift.cluster_of(job_id) not in clusters[backend]:
                    refs[backend].add(job_id)
        for name, wanted in refs.items():
            if not wanted:
                continue
            try:
                answer = self.describers[name].describe(sorted(wanted))
            except (BatchError, OSError) as exc:
                DESCRIBE_ERRORS.labels(name).inc()
                log.warning("reconciler: asking the %s backend failed, skipped: %s", name, exc)
                continue
            checked.answers[name] = {job: _backend_job(obs) for job, obs in answer.items()}
            checked.clusters[name] = clusters[name]

    def _check_outputs(self, sub: Watched, checked: Checked) -> None:
        for name, location in sub.outputs:
            path = drift.local_path(location)
            present = None if path is None else self.present(path, name)
            if present is None:
                continue
            checked.files_seen.setdefault(sub.submission_id, set()).add(name)
            if not present:
                found = Drift(drift.MISSING_OUTPUT, name, detail=f"no file at {location}")
                checked.missing.setdefault(sub.submission_id, []).append(found)

    def _reconcile(self, sid: int, checked: Checked) -> dict[str, int]:
        """Decide and apply for one submission; returns its open findings by kind."""
        now = self.clock()
        with self.db.transaction() as session:
            sub = session.scalar(
                select(Submission)
                .where(Submission.submission_id == sid)
                .with_for_update(of=Submission, key_share=True, skip_locked=True)
            )
            if sub is None or SubmissionStatus(sub.status_id) in drift.SETTLED:
                return {}
            drifts, looked_at, tracked, backend_of = self._compare(session, sub, checked)
            drifts += checked.missing.get(sid, [])
            looked_at |= checked.files_seen.get(sid, set())
            stored = drift.read_findings(sub.submission_params.get("drift"))
            previous = [*stored, *self.suspected.get(sid, [])]
            plan = drift.plan(previous, drifts, tracked, looked_at, now, self.grace)
            if plan.repairs:
                events = [_event(sid, backend_of[r.job], r, now) for r in plan.repairs]
                handlers.ingest_job_events(UnitOfWork(session), events, self.settings)
            keep = [f.to_dict() for f in plan.findings if f.status != drift.SUSPECTED]
            if keep != sub.submission_params.get("drift", []):
                sub.submission_params = {**sub.submission_params, "drift": keep}
        self.suspected[sid] = [f for f in plan.findings if f.status == drift.SUSPECTED]
        if plan.repairs:
            self.after_commit()
        _report(sid, plan)
        return plan.open_by_kind()

    def _compare(
        self, session: Session, sub: Submission, checked: Checked
    ) -> tuple[list[Drift], set[str], dict[str, TrackedJob], dict[str, str]]:
        """Job drift on every backend that answered, with what was looked at."""
        jobs = session.scalars(select(Job).where(Job.submission_id == sub.submission_id)).all()
        batch = sub.batch_id
        home = drift.backend_name(batch, checked.answers) if batch else None
        drifts: list[Drift] = []
        # a job the tracker has seen end cannot drift: what was suspected of it is settled
        looked_at = {j.batch_job_id for j in jobs if JobState(j.state).is_terminal}
        tracked: dict[str, TrackedJob] = {}
        backend_of: dict[str, str] = {}
        for name, answer in checked.answers.items():
            asked = checked.clusters[name]
            # only jobs the question covered: one reported since then was not asked about
            mine = {
                j.batch_job_id: TrackedJob(JobState(j.state), j.last_seq)
                for j in jobs
                if j.backend == name
                and (j.batch_job_id in answer or drift.cluster_of(j.batch_job_id) in asked)
            }
            own = drift.cluster_of(batch) if name == home and batch else None
            seen = drift.seen_for(mine, answer, own)
            for job_id in _tracked_elsewhere(session, name, set(seen) - set(mine)):
                del seen[job_id]  # another submission's job: not ours to create
            drifts += drift.compare_jobs(mine, seen)
            looked_at |= set(mine) | set(seen)
            tracked.update(mine)
            backend_of.update(dict.fromkeys(set(mine) | set(seen), name))
        return drifts, looked_at, tracked, backend_of


def _tracked_elsewhere(session: Session, backend: str, job_ids: set[str]) -> set[str]:
    """Those of ``job_ids`` the tracker has a row for (under another submission)."""
    query = select(Job.batch_job_id).where(Job.backend == backend, Job.batch_job_id.in_(job_ids))
    return set(session.scalars(query)) if job_ids else set()


def _backend_job(observation: Observation | None) -> BackendJob | None:
    if observation is None:
        return None
    return BackendJob(observation.state, observation.exit_code, observation.node)


def _event(sid: int, backend: str, repair: drift.Repair, at: datetime) -> JobEvent:
    return JobEvent(
        source=SOURCE,
        backend=backend,
        batch_job_id=repair.job,
        submission_id=sid,
        state=repair.state,  # validated by the model
        seq=repair.seq,
        at=at,
        exit_code=repair.exit_code,
        node=repair.node,
    )


def _has_live(params: Mapping[str, object] | None) -> bool:
    found = drift.read_findings((params or {}).get("drift"))
    return any(f.status in drift.LIVE for f in found)


def _report(sid: int, plan: Plan) -> None:
    """Count and log what the pass changed (after the commit, so only what stuck)."""
    for found in plan.confirmed:
        DRIFT_FOUND.labels(found.kind).inc()
        log.warning("submission %s: %s %s (%s)", sid, found.kind, found.subject, found.detail)
    for repair in plan.repairs:
        DRIFT_REPAIRED.labels(repair.kind).inc()
        log.warning("repaired submission %s job %s: %s", sid, repair.job, repair.reason)
