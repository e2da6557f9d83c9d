"""Submission status writes shared by the services: history row + current status together."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from poms_shared.db.base import utcnow
from poms_shared.db.tables import Submission, SubmissionHistory
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.metrics import SUBMISSION_TRANSITIONS


def record_status(
    session: Session,
    submission: Submission,
    status: SubmissionStatus,
    *,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append a history row and move the current status; final states stamp ``updated``."""
    when = at or utcnow()
    session.add(
        SubmissionHistory(
            submission_id=submission.submission_id,
            status_id=int(status),
            created=when,
            reason=reason,
        )
    )
    submission.status_id = int(status)
    if status.is_final:
        submission.updated = when
    SUBMISSION_TRANSITIONS.labels(status.label).inc()


def current_status(submission: Submission) -> SubmissionStatus:
    return SubmissionStatus(submission.status_id)
