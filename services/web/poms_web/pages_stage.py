"""The stage page: settings, job type and login setup, dependencies, schedule, hold and
split state, and its submissions a page at a time; actions call /api/v1/stages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import select

from poms_shared.db.tables import Schedule
from poms_shared.domain.permissions import Act
from poms_web import auth, diagrams, paging
from poms_web.adapters import actions, queries, stage_stats
from poms_web.adapters import submission_lists as lists
from poms_web.adapters.weekly import weekly_chart
from poms_web.context import web_state
from poms_web.pages_common import install_error_pages, page_url, pages_of, render_page
from poms_web.pages_queries import dependencies, stage_counts, username

bp = Blueprint("stage_pages", __name__)
install_error_pages(bp)


@bp.get("/stages/<int:stage_id>")
def stage(stage_id: int) -> Any:
    with web_state().db.transaction() as session:
        found = actions.get_stage(session, stage_id)
        auth.may(session, Act.VIEW, found)
        schedule = session.scalar(select(Schedule).where(Schedule.campaign_stage_id == stage_id))
        filters = lists.Filters(experiment=found.experiment, stage_id=stage_id)
        page = paging.page_query(
            session, lists.submissions_query(session, filters), lists.submission_row
        )
        edges = dependencies(session, [stage_id])
        upstream = [e for e in edges if e["downstream_id"] == stage_id]
        downstream = [e for e in edges if e["upstream_id"] == stage_id]
        figure = diagrams.stage_neighbours(
            found.name,
            upstream,
            downstream,
            lambda other: page_url("stage_pages.stage", stage_id=other),
        )
        return render_page(
            session,
            "stage.html",
            title=f"Stage {found.name}",
            stage=found,
            job_type=found.job_type,
            login_setup=found.login_setup,
            creator=username(session, found.creator_id),
            held_by=username(session, found.hold_experimenter_id),
            schedule=queries.schedule_info(stage_id, schedule),
            upstream=upstream,
            downstream=downstream,
            dependency_figure=figure,
            counts=stage_counts(session, stage_id),
            trails=stage_stats.status_trails(session, [s["submission_id"] for s in page["items"]]),
            launches=stage_stats.recent_launches(session, stage_id),
            file_stats=stage_stats.file_statistics(session, stage_id),
            history_chart=weekly_chart(session, [stage_id], f"Submissions of {found.name} by week"),
            page=page,
            numbers=pages_of(page),
        )
