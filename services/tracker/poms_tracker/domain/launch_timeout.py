"""When a submission that never left New is declared LaunchFailed (reference §2.7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class NewTimeouts:
    """Seconds a submission may stay New, and a started launch may keep running."""

    new_after: float = 3600.0
    launch_allowance: float = 900.0  # the launcher's own time limit plus a margin


@dataclass(frozen=True)
class NewSubmission:
    """What the rule needs to know of one submission still in New."""

    created: datetime
    commands_only: bool = False
    launch_started: datetime | None = None
    launch_finished: bool = False
    batch_id: str | None = None


def hours(seconds: float) -> str:
    """A duration for people: ``1 h``, ``0.3 h``."""
    return f"{round(seconds / 3600, 1):g} h"


def launch_failed_reason(sub: NewSubmission, now: datetime, limits: NewTimeouts) -> str | None:
    """Why the submission is LaunchFailed now, or None to leave it New.

    "Show commands" reservations are left to the campaign manager's own expiry, and a
    launch still running is given the launcher's time limit before it is given up on.
    """
    if sub.commands_only:
        return None
    age = (now - sub.created).total_seconds()
    if age < limits.new_after:
        return None
    prefix = f"still New {hours(age)} after creation (limit {hours(limits.new_after)})"
    if sub.launch_started is not None and not sub.launch_finished:
        running = (now - sub.launch_started).total_seconds()
        if running < limits.launch_allowance:
            return None
        return f"{prefix}: the launch started {hours(running)} ago and never finished"
    if sub.batch_id:
        return f"{prefix}: launched as {sub.batch_id}, but no job of it was ever reported"
    if sub.launch_finished:
        return f"{prefix}: the launch ended without reporting a batch job"
    return f"{prefix}: no launch was started"
