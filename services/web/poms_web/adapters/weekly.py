"""Submissions by week and outcome, for the campaign and stage pages' history charts:
one grouped query over the last ``WEEKS`` weeks (weeks start on Monday, UTC)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_web.diagrams import weekly_bars

WEEKS = 12
OUTCOMES = ("Located", "Completed", "Failed", "Active")  # stacking order, bottom first
_FAILED = {
    SubmissionStatus.FAILED,
    SubmissionStatus.LAUNCH_FAILED,
    SubmissionStatus.REMOVED,
    SubmissionStatus.CANCELLED,
}


def outcome(status: SubmissionStatus) -> str:
    if status == SubmissionStatus.LOCATED:
        return "Located"
    if status == SubmissionStatus.COMPLETED:
        return "Completed"
    return "Failed" if status in _FAILED else "Active"


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def by_week(
    session: Session, stage_ids: Iterable[int], now: datetime | None = None
) -> list[dict[str, Any]]:
    """For each of the last ``WEEKS`` weeks (oldest first): its Monday and how many of the
    stages' submissions made that week ended up in each outcome."""
    ids = list(stage_ids)
    this_week = week_start((now or datetime.now(UTC)).astimezone(UTC).date())
    first = this_week - timedelta(weeks=WEEKS - 1)
    weeks = {first + timedelta(weeks=n): dict.fromkeys(OUTCOMES, 0) for n in range(WEEKS)}
    if ids:
        created: Any = Submission.created
        if session.get_bind().dialect.name == "postgresql":
            created = func.timezone("UTC", created)  # the UTC day, whatever the server's zone
        day = func.date(created)
        since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        rows = session.execute(
            select(day, Submission.status_id, func.count())
            .where(Submission.campaign_stage_id.in_(ids), Submission.created >= since)
            .group_by(day, Submission.status_id)
        )
        for made, status, n in rows:
            made_on = made if isinstance(made, date) else date.fromisoformat(str(made))
            counts = weeks.get(week_start(made_on))
            if counts is not None:
                counts[outcome(SubmissionStatus(status))] += int(n)
    return [{"week": week.isoformat(), **counts} for week, counts in weeks.items()]


def weekly_chart(session: Session, stage_ids: Iterable[int], caption: str) -> dict[str, Any]:
    """The weeks and their chart, for a page's "Submissions by week" section."""
    weeks = by_week(session, stage_ids)
    return {"weeks": weeks, "outcomes": OUTCOMES, "svg": weekly_bars(weeks, OUTCOMES, caption)}
