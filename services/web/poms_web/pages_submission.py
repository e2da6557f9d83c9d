"""The submission page: status timeline, why it is not done yet, its jobs a page at a time,
input and output files, lineage; actions call /api/v1/submissions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from poms_shared.domain.permissions import Act
from poms_shared.domain.recovery import RECOVERY_TYPES
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.domain.why import why_not_done
from poms_web import auth, paging
from poms_web.adapters import queries
from poms_web.adapters import submission_lists as lists
from poms_web.context import web_state
from poms_web.pages_common import install_error_pages, pages_of, render_page
from poms_web.pages_queries import brief, job_counts, submission_files

bp = Blueprint("submission_pages", __name__)
install_error_pages(bp)


@bp.get("/submissions/<int:submission_id>")
def submission(submission_id: int) -> Any:
    with web_state().db.transaction() as session:
        sub = queries.get_submission(session, submission_id)
        auth.may_submission(session, Act.VIEW, sub)
        status = SubmissionStatus(sub.status_id)
        history = lists.history(session, submission_id)
        counts = job_counts(session, submission_id)
        params = sub.submission_params or {}
        why = why_not_done(
            status,
            counts,
            completion_why=params.get("completion_why"),
            last_reason=history[-1]["reason"] if history else None,
            launch_started="launch_started" in params,
            reservation=bool(params.get("commands_only")),
        )
        page = paging.page_query(session, lists.jobs_query(submission_id), lists.job_row)
        related = lists.related(session, submission_id)
        parent = lists.parent_of(sub)
        return render_page(
            session,
            "submission.html",
            title=f"Submission {submission_id}",
            sub=sub,
            stage=sub.stage,
            status=status.label,
            active=status.is_active,
            finished=not status.is_active,
            dataset=lists.dataset_of(sub),
            history=history,
            why=why,
            job_counts=dict(sorted(counts.items())),
            page=page,
            numbers=pages_of(page),
            files=submission_files(session, submission_id),
            parent=brief(session, [parent])[0] if parent else None,
            recoveries=brief(session, related["recoveries"]),
            dependents=brief(session, related["dependents"]),
            recovery_types=RECOVERY_TYPES,
        )
