"""Failed jobs of the triage window grouped by site, node, exit code or software version,
over the experiment or per campaign or stage: one ``GROUP BY`` query per table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.tables import Job
from poms_web.adapters.triage import (
    BLACK_HOLE_MAX_SUCCESS,
    BLACK_HOLE_MIN_FAILED,
    DONE,
    FAILED,
    Scope,
    counted,
    ended_in,
    jobs_in,
)

# What failures are grouped by: (title, the column)
DIMENSIONS: dict[str, tuple[str, ColumnElement[Any]]] = {
    "site": ("Site", Job.site.expression),
    "node": ("Node", Job.node.expression),
    "exit_code": ("Exit code", Job.exit_code.expression),
    "version": ("Software version", CampaignStage.software_version.expression),
}
GROUPS_SHOWN = 50  # rows per table; the biggest groups first


@dataclass(frozen=True)
class FailureGroup:
    """Jobs ended in the window with one value of a dimension (maybe in one campaign or
    stage): how many failed and succeeded, and the newest submission with a failure."""

    label: str  # "unknown" when the jobs did not tell
    known: bool
    failed: int
    done: int
    submission_id: int | None
    campaign_id: int | None = None
    campaign: str | None = None
    stage_id: int | None = None
    stage: str | None = None

    @property
    def failed_pct(self) -> float:
        """Failures among the jobs that ran to their end, in per cent."""
        total = self.failed + self.done
        return round(100 * self.failed / total, 1) if total else 0.0

    @property
    def black_hole(self) -> bool:
        """Many failures and few successes (for a node: one that eats jobs)."""
        return self.known and is_black_hole(self.failed, self.done)


def is_black_hole(failed: int, done: int) -> bool:
    """At least ``BLACK_HOLE_MIN_FAILED`` failures with at most ``BLACK_HOLE_MAX_SUCCESS``
    of the jobs succeeding."""
    return failed >= BLACK_HOLE_MIN_FAILED and done <= BLACK_HOLE_MAX_SUCCESS * (failed + done)


@dataclass(frozen=True)
class FailureTable:
    dimension: str
    title: str
    per: str
    groups: list[FailureGroup]
    more: bool  # groups beyond those shown


def failures(
    session: Session,
    scope: Scope,
    dimension: str,
    per: str,
    *,
    limit: int = GROUPS_SHOWN,
    least_failed: int = 1,
) -> FailureTable:
    """Groups of jobs ended in the window with at least ``least_failed`` failures, most
    failures first; ``per``: "experiment", "campaign" or "stage"."""
    title, column = DIMENSIONS[dimension]
    keys: list[ColumnElement[Any]] = [column]
    if per in ("campaign", "stage"):
        keys += [Campaign.campaign_id.expression, Campaign.name.expression]
    if per == "stage":
        keys += [CampaignStage.campaign_stage_id.expression, CampaignStage.name.expression]
    failed = counted(FAILED)
    query = (
        jobs_in(
            select(
                *keys,
                failed,
                counted(DONE),
                func.max(case((FAILED, Job.submission_id), else_=None)),
            ),
            scope,
        )
        .where(ended_in(scope), or_(DONE, FAILED))
        .group_by(*keys)
        .having(failed >= least_failed)
        .order_by(failed.desc(), counted(DONE))
        .limit(limit + 1)
    )
    groups = [_group(dimension, per, row) for row in session.execute(query)]
    return FailureTable(dimension, title, per, groups[:limit], len(groups) > limit)


def _group(dimension: str, per: str, row: Any) -> FailureGroup:
    value, *rest = row
    where = rest[:-3]
    failed, done, submission_id = rest[-3:]
    known = value is not None and value != ""
    names: dict[str, Any] = {}
    if per in ("campaign", "stage"):
        names.update(campaign_id=where[0], campaign=where[1])
    if per == "stage":
        names.update(stage_id=where[2], stage=where[3])
    return FailureGroup(
        label=value_label(dimension, value) if known else "unknown",
        known=known,
        failed=int(failed),
        done=int(done),
        submission_id=submission_id,
        **names,
    )


def value_label(dimension: str, value: Any) -> str:
    """How a value is shown: exit codes above 128 also name the signal that ended the job."""
    if dimension == "exit_code" and isinstance(value, int) and 128 < value < 160:
        return f"{value} (signal {value - 128})"
    return str(value)


def black_holes(session: Session, scope: Scope) -> list[FailureGroup]:
    """Nodes over the whole scope (not per stage) that look like black holes."""
    table = failures(
        session, scope, "node", "experiment", limit=500, least_failed=BLACK_HOLE_MIN_FAILED
    )
    return [g for g in table.groups if g.black_hole]
