"""Job-event ordering, submission roll-up and status-transition guards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from poms_shared.domain.statuses import JobState, SubmissionStatus


@dataclass(frozen=True)
class JobView:
    """What the tracker knows of one job."""

    state: JobState
    seq: int


def accept_job_event(current: JobView | None, state: JobState, seq: int) -> bool:
    """Apply an observation only if the job has not finished and it is newer, or final.

    A final state is accepted whatever its ``seq``: sources number their observations
    differently (a poller counts from 1, a job log stamps times), and an ending is never a
    step backwards. Once a job has ended nothing moves it again.
    """
    if current is None:
        return True
    if current.state.is_terminal:
        return False
    return seq > current.seq or state.is_terminal


@dataclass(frozen=True)
class JobCounts:
    idle: int = 0
    running: int = 0
    held: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.idle + self.running + self.held + self.completed + self.failed + self.cancelled

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.cancelled

    @property
    def done(self) -> bool:
        """Every known job has left the batch system."""
        return self.total > 0 and self.finished == self.total

    def __str__(self) -> str:
        parts = [f"{n} {name}" for name, n in vars(self).items() if n]
        return ", ".join(parts) or "no jobs"

    @classmethod
    def tally(cls, jobs: Mapping[int, int]) -> JobCounts:
        """From the number of jobs in each state (by ``JobState`` value; a negative number,
        left by subtracting a concurrent writer's changes, counts as none)."""

        def n(state: JobState) -> int:
            return max(0, jobs.get(state, 0))

        return cls(
            idle=n(JobState.IDLE),
            running=n(JobState.RUNNING),
            held=n(JobState.HELD),
            completed=n(JobState.COMPLETED),
            failed=n(JobState.FAILED),
            cancelled=n(JobState.CANCELLED) + n(JobState.REMOVED),
        )


DEFAULT_FAILED_RATIO = 0.5  # the reference rule: failed × 2 > completed


def rollup_status(
    counts: JobCounts, failed_ratio: float | None = DEFAULT_FAILED_RATIO
) -> SubmissionStatus | None:
    """Submission status implied by its jobs; first matching rule wins.

    ``failed_ratio`` (the stage's; None means the reference's 0.5): the finished batch is
    Failed when failed > ratio × completed.
    """
    if counts.total == 0:
        return None
    ratio = DEFAULT_FAILED_RATIO if failed_ratio is None else failed_ratio
    if counts.done:
        # The tolerance keeps float rounding (0.29 × 100 = 28.999…) from deciding a tie.
        if counts.failed > ratio * counts.completed + 1e-9:
            return SubmissionStatus.FAILED
        if counts.cancelled > 1 and counts.completed + counts.failed == 0:
            return SubmissionStatus.CANCELLED
        return SubmissionStatus.COMPLETED
    if counts.held > 0:
        return SubmissionStatus.HELD
    if counts.running == 0 and counts.idle > 0:
        return SubmissionStatus.IDLE
    if counts.running > 0:
        return SubmissionStatus.RUNNING
    return None


def ended_by_person(
    proposed: SubmissionStatus | None, counts: JobCounts, action: str | None
) -> SubmissionStatus | None:
    """A person killed (``kill``) or cancelled (``cancel``) the submission's jobs: once
    every job has left the batch system the outcome is Removed or Cancelled, whatever the
    counts alone would say (a killed job counts as cancelled, and one cancelled job alone
    rolls up to Completed). Otherwise ``proposed``."""
    if action not in ("kill", "cancel") or proposed is None or not counts.done:
        return proposed
    return SubmissionStatus.REMOVED if action == "kill" else SubmissionStatus.CANCELLED


def next_status(
    current: SubmissionStatus, proposed: SubmissionStatus, *, is_recovery: bool, automatic: bool
) -> SubmissionStatus | None:
    """The status to record for a proposed change, or None to ignore it (reference §2.3)."""
    if proposed == SubmissionStatus.FAILED and is_recovery:
        proposed = SubmissionStatus.COMPLETED  # a recovery that fails again is still done
    if automatic and current.is_final:
        return None
    if current == SubmissionStatus.COMPLETED and proposed <= SubmissionStatus.COMPLETED:
        return None
    if proposed == current:
        return None
    return proposed
