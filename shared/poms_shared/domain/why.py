"""Why a submission is not done yet, in words, from its status and job counts."""

from __future__ import annotations

from collections.abc import Mapping

from poms_shared.domain.statuses import SubmissionStatus

S = SubmissionStatus
ENDED = (S.FAILED, S.REMOVED, S.CANCELLED, S.LAUNCH_FAILED)


def why_not_done(
    status: SubmissionStatus,
    jobs: Mapping[str, int],
    *,
    completion_why: str | None = None,
    last_reason: str | None = None,
    launch_started: bool = False,
    reservation: bool = False,
) -> str | None:
    """None when the submission is Located; otherwise what it is waiting for, or how it ended."""
    if status == S.LOCATED:
        return None
    if status in ENDED:
        return f"ended {status.label}" + (f": {last_reason}" if last_reason else "")
    if status == S.COMPLETED:
        return completion_why or "jobs done; waiting for the located check"
    if status == S.AWAITING_APPROVAL:
        return "waiting for a person to approve or reject it"
    total = sum(jobs.values())
    if status == S.NEW or total == 0:
        if reservation:
            return "a show-commands reservation: nothing runs until the command is run"
        if launch_started:
            return "the launch command is running; no batch jobs reported yet"
        return "waiting for the launcher" if status == S.NEW else "no batch jobs reported yet"
    finished = sum(jobs.get(k, 0) for k in ("completed", "failed", "cancelled", "removed"))
    parts = ", ".join(f"{n} {state}" for state, n in sorted(jobs.items()) if n)
    return f"{finished} of {total} jobs finished ({parts}); Completed when all have finished"
