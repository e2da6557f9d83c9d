"""Submission statuses with the ordered numeric ids of the original POMS."""

from __future__ import annotations

from enum import IntEnum


class SubmissionStatus(IntEnum):
    """Ordered submission statuses; the numeric order is used by guards and queries."""

    NEW = 1000
    CANCELLED = 1500
    LAUNCH_FAILED = 2000
    AWAITING_APPROVAL = 2400
    APPROVED = 2500
    IDLE = 3000
    RUNNING = 4000
    HELD = 5000
    FAILED = 6000
    COMPLETED = 7000
    LOCATED = 8000
    REMOVED = 9000

    @property
    def label(self) -> str:
        """Human name as shown in the UI and the compatibility API."""
        return _LABELS[self]

    @classmethod
    def from_label(cls, label: str) -> SubmissionStatus:
        """Parse a status name such as ``"Awaiting Approval"`` (case-insensitive)."""
        wanted = label.strip().lower()
        for status, name in _LABELS.items():
            if name.lower() == wanted:
                return status
        raise ValueError(f"unknown submission status {label!r}")

    @property
    def is_final(self) -> bool:
        """Final states cannot be left by automatic (agent) updates."""
        return self in FINAL_STATUSES

    @property
    def is_active(self) -> bool:
        """Still expecting progress (below Completed and not a dead end)."""
        return self in ACTIVE_STATUSES


_LABELS = {
    SubmissionStatus.NEW: "New",
    SubmissionStatus.CANCELLED: "Cancelled",
    SubmissionStatus.LAUNCH_FAILED: "LaunchFailed",
    SubmissionStatus.AWAITING_APPROVAL: "Awaiting Approval",
    SubmissionStatus.APPROVED: "Approved",
    SubmissionStatus.IDLE: "Idle",
    SubmissionStatus.RUNNING: "Running",
    SubmissionStatus.HELD: "Held",
    SubmissionStatus.FAILED: "Failed",
    SubmissionStatus.COMPLETED: "Completed",
    SubmissionStatus.LOCATED: "Located",
    SubmissionStatus.REMOVED: "Removed",
}

FINAL_STATUSES = frozenset(
    {SubmissionStatus.LOCATED, SubmissionStatus.REMOVED, SubmissionStatus.FAILED}
)
ACTIVE_STATUSES = frozenset(
    {
        SubmissionStatus.NEW,
        SubmissionStatus.AWAITING_APPROVAL,
        SubmissionStatus.IDLE,
        SubmissionStatus.RUNNING,
        SubmissionStatus.HELD,
        SubmissionStatus.COMPLETED,
    }
)


class JobState(IntEnum):
    """Batch job states; the value is the progress rank, so a job never moves backwards."""

    IDLE = 10
    HELD = 20
    RUNNING = 30
    COMPLETED = 40
    FAILED = 41
    CANCELLED = 42
    REMOVED = 43

    @property
    def is_terminal(self) -> bool:
        """The job has left the batch system."""
        return self >= JobState.COMPLETED
