"""The submission page: status timeline, why it is not done yet, its jobs a page at a time,
input and output files, lineage; actions call /api/v1/submissions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from poms_shared.db.tables import Job
from poms_shared.domain.permissions import Act
from poms_shared.domain.recovery import RECOVERY_TYPES
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.domain.why import why_not_done
from poms_web import auth, diagrams, paging
from poms_web.adapters import queries
from poms_web.adapters import submission_lists as lists
from poms_web.context import web_state
from poms_web.pages_common import install_error_pages, page_url, pages_of, render_page
from poms_web.pages_more import log_tail
from poms_web.pages_queries import brief, job_counts, submission_files

bp = Blueprint("submission_pages", __name__)
install_error_pages(bp)
JOB_LOG_TAIL = 2000  # lines of a job's log the page shows; the whole log is a link away


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
        batch_dir = web_state().settings.batch_dir
        with_logs = {
            j["job_id"]
            for j in page["items"]
            if lists.readable_job_log(j["backend"], j["log_path"], batch_dir) is not None
        }
        related = lists.related(session, submission_id)
        parent = lists.parent_of(sub)
        parent_brief = brief(session, [parent])[0] if parent else None
        recoveries = brief(session, related["recoveries"])
        dependents = brief(session, related["dependents"])
        figure = diagrams.lineage(
            submission_id,
            sub.stage.name,
            status.label,
            parent_brief,
            sub.recovery_parent_id is not None,
            recoveries,
            dependents,
            lambda sid: page_url("submission_pages.submission", submission_id=sid),
        )
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
            with_logs=with_logs,
            files=submission_files(session, submission_id),
            parent=parent_brief,
            recoveries=recoveries,
            dependents=dependents,
            lineage_figure=figure,
            recovery_types=RECOVERY_TYPES,
        )


@bp.get("/submissions/<int:submission_id>/jobs/<int:job_id>/log")
def job_log(submission_id: int, job_id: int) -> Any:
    """A job's log (its last lines; ``?raw=1``: the whole file as text) when this server
    can read it: a local job's log in the local batch spool."""
    with web_state().db.transaction() as session:
        sub = queries.get_submission(session, submission_id)
        auth.may_submission(session, Act.VIEW, sub)
        job = session.get(Job, job_id)
        if job is None or job.submission_id != submission_id:
            raise queries.NotFound(f"submission {submission_id} has no job {job_id}")
        batch_dir = web_state().settings.batch_dir
        path = lists.readable_job_log(job.backend, job.log_path, batch_dir)
        if path is not None and request.args.get("raw"):
            return Response(path.read_bytes(), mimetype="text/plain")
        text, length = log_tail(path, JOB_LOG_TAIL)
        return render_page(
            session,
            "job_log.html",
            title=f"Log of job {job.batch_job_id}",
            sub=sub,
            job=lists.job_row((job,)),
            log=text,
            length=length,
            tail=JOB_LOG_TAIL,
        )
