"""Drift between the tracker and the batch system or the catalog: what is certain, what is not.

A disagreement seen once is only *suspected*: the poller may not have reported the change
yet. Seen in ``Grace.confirm`` passes in a row it is *open*, counted and acted on:

- the backend reports a terminal state of a job the tracker thinks live: certain, the
  state is applied (``missed_terminal``);
- the backend reports a job of the submission's cluster the tracker has no row for:
  certain, the job is created (``unreported_job``);
- the backend does not know a job the tracker thinks live (``unknown_job``): uncertain,
  only flagged until unknown in ``Grace.passes`` passes in a row *and* for
  ``Grace.seconds``, then failed with an unknown exit code. Passes alone would fail jobs
  within seconds under a short interval (or several tracker replicas), time alone would
  decide on two looks after a long pause;
- a located output whose local path is gone: flagged (``missing_output``), never changed.

One finding per (kind, job or file): a repeated pass changes only ``last_seen`` and
``passes``. An unconfirmed suspicion is dropped, an open finding not seen again is
``resolved``, one acted on ``repaired``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from poms_shared.domain.statuses import JobState
from poms_shared.domain.statuses import SubmissionStatus as S

MISSED_TERMINAL = "missed_terminal"
UNREPORTED_JOB = "unreported_job"
UNKNOWN_JOB = "unknown_job"
MISSING_OUTPUT = "missing_output"
KINDS = (MISSED_TERMINAL, UNREPORTED_JOB, UNKNOWN_JOB, MISSING_OUTPUT)
SUSPECTED, OPEN, REPAIRED, RESOLVED = "suspected", "open", "repaired", "resolved"
_STATUSES = (SUSPECTED, OPEN, REPAIRED, RESOLVED)
LIVE = (SUSPECTED, OPEN)  # findings the next pass looks at again
KEEP_CLOSED = 200  # repaired/resolved findings kept per submission (open ones: all)

# submissions the reconciler leaves alone: their jobs no longer matter
SETTLED = frozenset({S.LOCATED, S.REMOVED, S.CANCELLED, S.FAILED, S.LAUNCH_FAILED})
_TERMINAL = frozenset({"completed", "failed", "cancelled", "removed"})


@dataclass(frozen=True)
class TrackedJob:
    """What the tracker knows of one job."""

    state: JobState
    seq: int


@dataclass(frozen=True)
class BackendJob:
    """What the batch backend says of one job now."""

    state: str
    exit_code: int | None = None
    node: str | None = None


@dataclass(frozen=True)
class Grace:
    """Passes before a drift counts, and how long a job may stay unknown to its backend."""

    confirm: int = 2
    passes: int = 3
    seconds: float = 600.0


@dataclass(frozen=True)
class Drift:
    """One disagreement seen in this pass."""

    kind: str
    subject: str  # a batch job id, or a file name for missing_output
    seen: BackendJob | None = None
    detail: str = ""


@dataclass(frozen=True)
class Finding:
    """A disagreement as remembered in the submission's ``submission_params["drift"]``."""

    kind: str
    subject: str
    first_seen: datetime
    last_seen: datetime
    passes: int = 1
    status: str = SUSPECTED
    detail: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.subject

    def to_dict(self) -> dict[str, Any]:
        """The stored form: ``file`` names the subject of a missing output, else ``job``."""
        return {
            "file" if self.kind == MISSING_OUTPUT else "job": self.subject,
            "finding": self.kind,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "passes": self.passes,
            "status": self.status,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> Finding | None:
        """A stored finding; None for anything unreadable (it is then forgotten)."""
        if not isinstance(raw, dict) or raw.get("finding") not in KINDS:
            return None
        subject = raw.get("file") or raw.get("job")
        first, last = _time(raw.get("first_seen")), _time(raw.get("last_seen"))
        if not isinstance(subject, str) or first is None or last is None:
            return None
        passes, status = raw.get("passes"), raw.get("status")
        passes = passes if isinstance(passes, int) and passes > 0 else 1
        status = status if isinstance(status, str) and status in _STATUSES else SUSPECTED
        detail = str(raw.get("detail") or "")
        return cls(raw["finding"], subject, first, last, passes, status, detail)


@dataclass(frozen=True)
class Repair:
    """A job event the reconciler applies (seq 0: a job the tracker has no row for)."""

    job: str
    kind: str
    state: str
    seq: int
    exit_code: int | None = None
    node: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """What one pass decides for one submission."""

    findings: tuple[Finding, ...]
    repairs: tuple[Repair, ...] = ()
    confirmed: tuple[Finding, ...] = ()  # open since this pass: the drift to count

    def open_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for finding in self.findings:
            if finding.status == OPEN:
                counts[finding.kind] += 1
        return counts


def compare_jobs(
    tracked: Mapping[str, TrackedJob], seen: Mapping[str, BackendJob | None]
) -> list[Drift]:
    """Disagreements between the tracker's jobs and the backend's word on the same jobs.

    ``tracked`` holds the submission's jobs on one backend; ``seen`` what that backend said
    of them (absent or None: it does not know the job) and of the jobs of the submission's
    cluster it knows.
    """
    drifts = []
    for job_id, job in sorted(tracked.items()):
        if job.state.is_terminal:
            continue
        now = seen.get(job_id)
        if now is None:
            drifts.append(Drift(UNKNOWN_JOB, job_id, detail=f"tracker: {job.state.name.lower()}"))
        elif now.state in _TERMINAL:
            drifts.append(Drift(MISSED_TERMINAL, job_id, now, f"tracker: {job.state.name.lower()}"))
    for job_id, now in sorted(seen.items()):
        if now is not None and job_id not in tracked:
            drifts.append(Drift(UNREPORTED_JOB, job_id, now, "no tracker row"))
    return drifts


def seen_for(
    tracked: Iterable[str], answer: Mapping[str, BackendJob | None], cluster: tuple[str, str] | None
) -> dict[str, BackendJob | None]:
    """The backend's word on the tracked jobs (None: unknown to it), and on the jobs it
    knows of the submission's own ``cluster`` (``cluster_of`` its batch id; None: none)."""
    seen = {job_id: answer.get(job_id) for job_id in tracked}
    seen.update(
        (job_id, now)
        for job_id, now in answer.items()
        if now is not None and job_id not in seen and cluster_of(job_id) == cluster
    )
    return seen


def plan(
    previous: Iterable[Finding],
    drifts: Iterable[Drift],
    tracked: Mapping[str, TrackedJob],
    looked_at: set[str],
    now: datetime,
    grace: Grace,
) -> Plan:
    """Merge this pass's drift into the findings and decide the repairs.

    ``looked_at``: the jobs and files this pass could check; a live finding about one of
    them that is not seen again is closed, one about anything else is left as it was.
    """
    findings = {f.key: f for f in previous}
    repairs, confirmed = [], []
    current = {(d.kind, d.subject): d for d in drifts}
    for key, drift in sorted(current.items()):
        old = findings.get(key)
        if old is not None and old.status in LIVE:
            finding = replace(old, last_seen=now, passes=old.passes + 1, detail=drift.detail)
        else:
            finding = Finding(drift.kind, drift.subject, now, now, detail=drift.detail)
        if finding.status == SUSPECTED and finding.passes >= grace.confirm:
            finding = replace(finding, status=OPEN)
            confirmed.append(finding)
        repair = _repair(drift, finding, tracked.get(drift.subject), now, grace)
        if repair is not None:
            repairs.append(repair)
            finding = replace(finding, status=REPAIRED, detail=f"{drift.detail}; {repair.reason}")
        findings[key] = finding
    for key, finding in list(findings.items()):
        if finding.status in LIVE and key not in current and finding.subject in looked_at:
            if finding.status == SUSPECTED:
                del findings[key]  # the poller caught up: it was never drift
            else:
                findings[key] = replace(finding, status=RESOLVED, last_seen=now)
    return Plan(_trim(findings.values()), tuple(repairs), tuple(confirmed))


def _repair(
    drift: Drift, finding: Finding, job: TrackedJob | None, now: datetime, grace: Grace
) -> Repair | None:
    if finding.status != OPEN:
        return None
    seq = job.seq + 1 if job is not None else 0  # 0: the backend's own events still apply
    seen = drift.seen
    if drift.kind in (MISSED_TERMINAL, UNREPORTED_JOB) and seen is not None:
        what = "reported" if drift.kind == MISSED_TERMINAL else "found untracked"
        code = "unknown" if seen.exit_code is None else seen.exit_code
        reason = f"{what} by the backend as {seen.state} (exit {code})"
        return Repair(drift.subject, drift.kind, seen.state, seq, seen.exit_code, seen.node, reason)
    if drift.kind == UNKNOWN_JOB and job is not None:
        waited = (now - finding.first_seen).total_seconds()
        if finding.passes >= grace.passes and waited >= grace.seconds:
            reason = (
                f"failed: unknown to the backend in {finding.passes} passes over {waited:.0f} s"
                f" (since {finding.first_seen.isoformat(timespec='seconds')})"
            )
            return Repair(drift.subject, UNKNOWN_JOB, "failed", seq, None, None, reason)
    return None


def _trim(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Every live finding, and the most recent closed ones, oldest first."""
    ordered = sorted(findings, key=lambda f: (f.first_seen, f.kind, f.subject))
    closed = [f for f in ordered if f.status not in LIVE]
    keep = {f.key for f in closed[-KEEP_CLOSED:]} | {f.key for f in ordered if f.status in LIVE}
    return tuple(f for f in ordered if f.key in keep)


def read_findings(raw: Any) -> list[Finding]:
    """Findings stored in ``submission_params["drift"]`` (unreadable entries are dropped)."""
    items = raw if isinstance(raw, list) else []
    return [f for f in map(Finding.from_dict, items) if f is not None]


def local_path(location: str | None) -> str | None:
    """The path on this host a catalog location names, or None when it names none.

    Absolute paths and ``file://`` URLs only: relative paths, other URLs and SAM's
    ``site:/path`` locations cannot be checked here.
    """
    if not location:
        return None
    if location.startswith("file://"):
        location = location[len("file://") :]
    return location if location.startswith("/") else None


def cluster_of(ref: str) -> tuple[str, str]:
    """(cluster, backend or schedd) of a batch or job id: ``12.3@local`` -> ``("12", "local")``."""
    head, _, where = ref.strip().partition("@")
    return head.split(".")[0].split("_")[0], where


def backend_name(batch_id: str, known: Iterable[str]) -> str | None:
    """The backend holding ``batch_id``: its ``@`` suffix, a schedd host meaning jobsub."""
    suffix = cluster_of(batch_id)[1]
    names = set(known)
    if suffix in names:
        return suffix
    return "jobsub" if "." in suffix and "jobsub" in names else None


def _time(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)
