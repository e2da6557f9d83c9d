"""Server-rendered pages of login setups and job types ("templates"): lists with filters
and pages done in the database, a job type's page with its edit form and recovery list;
actions call /api/v1/login-setups and /api/v1/job-types."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy import select

from poms_shared.db.models import RecoveryType
from poms_shared.domain.permissions import Act
from poms_web import auth, paging
from poms_web.adapters import templates
from poms_web.context import actor, web_state
from poms_web.pages_common import install_error_pages, pages_of, render_page

bp = Blueprint("template_pages", __name__)
install_error_pages(bp)
FLAGS = ("", "true", "false")  # a filter's choices: either way, yes, no


def _listing(kind: templates.Kind, template: str, title: str) -> Any:
    filters = templates.filters_from(request.args)
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        query = templates.listing(kind, templates.acting_experiment(acting), filters, actor())
        page = paging.page_query(session, query, lambda r: templates.info(r[0], r[1], acting))
        return render_page(
            session,
            template,
            title=title,
            page=page,
            numbers=pages_of(page),
            filters={k: request.args.get(k, "").strip().lower() for k in ("mine", "active")}
            | {"q": filters.q or ""},
            flags=FLAGS,
        )


@bp.get("/login-setups")
def login_setups() -> Any:
    """The experiment's login setups: ``?q=``, ``?mine=``, ``?active=``, paged."""
    return _listing(templates.LOGIN, "login_setups.html", "Login setups")


@bp.get("/job-types")
def job_types() -> Any:
    """The experiment's job types: ``?q=``, ``?mine=``, ``?active=``, paged."""
    return _listing(templates.JOB, "job_types.html", "Job types")


@bp.get("/job-types/<int:job_type_id>")
def job_type(job_type_id: int) -> Any:
    """One job type: every field with an edit form, and its ordered recovery list."""
    with web_state().db.transaction() as session:
        row = templates.get(session, templates.JOB, job_type_id)
        acting = templates.may_view(session, row)
        info = templates.info(row, templates.creator_name(session, row), acting)
        kinds = list(session.scalars(select(RecoveryType.name).order_by(RecoveryType.name)))
        return render_page(
            session,
            "job_type.html",
            title=f"Job type {row.name}",
            job_type=info,
            recovery_types=kinds,
        )
