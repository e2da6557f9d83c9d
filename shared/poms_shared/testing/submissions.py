"""Submissions made directly in the database, for tests and benchmarks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus


def add_submissions(
    session: Session, stage_id: int, count: int, dataset: str | None = ""
) -> list[int]:
    """``count`` New submissions of a stage, launched by ``poms``; their ids."""
    rows = [
        Submission(
            campaign_stage_id=stage_id,
            launcher="poms",
            status_id=int(SubmissionStatus.NEW),
            submission_params={"dataset": dataset},
        )
        for _ in range(count)
    ]
    session.add_all(rows)
    session.flush()
    return [r.submission_id for r in rows]
