"""What the stage page shows besides its settings: each listed submission's status trail,
the latest launches with their logs, and file statistics of the stage's recent
submissions. Every query is bounded (the listed page, or the last ``RECENT`` submissions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from poms_shared.db.tables import File, Submission, SubmissionFile, SubmissionHistory
from poms_shared.domain.statuses import SubmissionStatus

RECENT = 500  # submissions of the stage the file statistics cover, newest first
LAUNCHES = 5  # latest launches listed with their logs


def status_trails(session: Session, submission_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each submission's status changes in order (one query for the whole page)."""
    trails: dict[int, list[dict[str, Any]]] = {sid: [] for sid in submission_ids}
    if not submission_ids:
        return trails
    rows = session.execute(
        select(
            SubmissionHistory.submission_id, SubmissionHistory.status_id, SubmissionHistory.created
        )
        .where(SubmissionHistory.submission_id.in_(submission_ids))
        .order_by(SubmissionHistory.created, SubmissionHistory.history_id)
    )
    for sid, status, at in rows:
        trails[sid].append({"status": SubmissionStatus(status).label, "at": at.isoformat()})
    return trails


def recent_launches(session: Session, stage_id: int) -> list[dict[str, Any]]:
    """The stage's latest submissions, whether their launch left a log."""
    rows = session.execute(
        select(
            Submission.submission_id,
            Submission.created,
            Submission.status_id,
            Submission.launch_log,
        )
        .where(Submission.campaign_stage_id == stage_id)
        .order_by(Submission.submission_id.desc())
        .limit(LAUNCHES)
    )
    return [
        {
            "submission_id": sid,
            "created": created.isoformat(),
            "status": SubmissionStatus(status).label,
            "has_log": bool(log),
        }
        for sid, created, status, log in rows
    ]


def file_statistics(session: Session, stage_id: int) -> dict[str, Any]:
    """Outputs declared and located, and inputs by status, over the stage's last
    ``RECENT`` submissions."""
    recent = (
        select(Submission.submission_id)
        .where(Submission.campaign_stage_id == stage_id)
        .order_by(Submission.submission_id.desc())
        .limit(RECENT)
        .scalar_subquery()
    )
    declared, located = session.execute(
        select(func.count(), func.count(File.location)).where(
            File.producing_submission_id.in_(recent)
        )
    ).one()
    inputs: dict[str, int] = {
        status: int(n)
        for status, n in session.execute(
            select(SubmissionFile.status, func.count())
            .where(SubmissionFile.submission_id.in_(recent))
            .group_by(SubmissionFile.status)
        )
    }
    submissions = session.scalar(
        select(func.count()).select_from(
            select(Submission.submission_id)
            .where(Submission.campaign_stage_id == stage_id)
            .limit(RECENT)
            .subquery()
        )
    )
    return {
        "submissions": int(submissions or 0),
        "outputs": int(declared),
        "located": int(located),
        "inputs": {
            k: int(inputs.get(k, 0)) for k in ("delivered", "consumed", "failed", "skipped")
        },
    }
