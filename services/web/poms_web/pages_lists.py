"""List pages joined to the ``pages`` blueprint: submissions, sample campaigns, schedules.

Tables are rendered on the server (readable without JavaScript); the forms check what is
typed and answer the reason next to the field; changes call /api/v1 from the page's
script (``static/lists.js``), destructive ones after a confirmation."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden

from poms_shared.domain.permissions import Act, Actor
from poms_web import auth, pages, paging
from poms_web.adapters import campaign_admin, campaign_samples, page_lists
from poms_web.adapters import submission_lists as lists
from poms_web.adapters.actions import BadRequest
from poms_web.context import web_state
from poms_web.pages_common import pages_of, render_page
from poms_web.pages_lists_filters import (
    PERIODS,
    STATUS_LABELS,
    api_args,
    check_form,
    read_form,
)
from poms_web.pages_lists_filters import window_links as window_of
from poms_web.pages_lists_schedules import (
    CRON_HELP,
    CronCheck,
    check_cron,
    schedule_item,
    stage_options,
)

ANSWER_BAD = 400


def _experiment(acting: Actor) -> str:
    """The acting experiment (an administrator acting nowhere: the deployment's)."""
    return acting.experiment or web_state().settings.experiment


def _nothing() -> dict[str, Any]:
    """An empty page of rows (shown while the filters are wrong)."""
    _, per_page = paging.paging()
    return {"items": [], "total": 0, "page": 1, "per_page": per_page, "pages": 1}


# ---- submissions --------------------------------------------------------------------------


# The menu links the page as ``pages.submissions``: the views join that blueprint (this
# module is imported before the app registers it).
@pages.bp.get("/submissions")
def submissions() -> Any:
    """Submissions of the experiment: filters, sorting and pages done in the database; a
    wrong filter is named next to its field (400) and no rows are listed."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        experiment = _experiment(acting)
        form = read_form()
        filters = check_form(session, form, experiment)
        if filters is None:
            page = _nothing()
        else:
            query = lists.submissions_query(session, filters)
            query = page_lists.submissions_sorted(query, form.values["sort"])
            page = paging.page_query(session, query, lists.submission_row)
        html = render_page(
            session,
            "submissions.html",
            title="Submissions",
            page=page,
            numbers=pages_of(page),
            form=form,
            campaigns=page_lists.campaign_names(session, experiment),
            stages=page_lists.stage_choices(session, experiment, form.campaign_id),
            statuses=STATUS_LABELS,
            periods=PERIODS,
            window=window_of(form.window),
            api_args=api_args(form),
        )
        return html, ANSWER_BAD if form.errors else 200


# ---- sample campaigns ---------------------------------------------------------------------


def _may_create(session: Session) -> bool:
    try:
        auth.authorize_create(session)
    except Forbidden:
        return False
    return True


def _clone_preview(session: Session, experiment: str) -> dict[str, Any] | None:
    """``?sample=&to=`` (the clone form without a script): the name the copy would get,
    or why it cannot have it."""
    sample = request.args.get("sample", "").strip()
    if not sample or "to" not in request.args:
        return None
    found: dict[str, Any] = {"sample": sample, "to": request.args["to"], "error": None}
    source = campaign_samples.sample_spec(sample).name
    try:
        found["name"] = campaign_admin.clone_name(source, found["to"], "sample")
    except BadRequest as exc:
        found["error"] = str(exc).removeprefix("to: ")
        return found
    if campaign_admin.named(session, experiment, found["name"]) is not None:
        found["error"] = f"a campaign named {found['name']} already exists in {experiment}"
    return found


@pages.bp.get("/samples")
def samples() -> Any:
    """The sample campaigns shipped with POMS, their stages, and cloning one into the
    experiment: the name typed replaces the word 'sample' in the sample's name (§12.3)."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        items = [campaign_samples.sample_item(n) for n in campaign_samples.sample_names()]
        preview = _clone_preview(session, _experiment(acting))
        html = render_page(
            session,
            "samples.html",
            title="Sample campaigns",
            samples=items,
            may_clone=_may_create(session),
            preview=preview,
        )
        return html, ANSWER_BAD if preview and preview["error"] else 200


# ---- schedules ----------------------------------------------------------------------------


def _editing() -> tuple[str, CronCheck | None]:
    """Which schedule form asked for a preview (a stage id, or 'new') and its cron check."""
    edit = request.args.get("edit", "").strip()
    if not edit or "cron" not in request.args:
        return edit, None
    return edit, check_cron(request.args["cron"])


@pages.bp.get("/schedules")
def schedules() -> Any:
    """Every stage schedule of the experiment with its next runs; ``?edit=<stage id>``
    (or ``new`` with ``stage``) and ``?cron=`` preview a change without saving it."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        experiment = _experiment(acting)
        edit, preview = _editing()
        query = page_lists.schedules_query(experiment)
        page = paging.page_query(
            session, query, lambda row: page_lists.schedule_row(experiment, row)
        )
        page["items"] = [
            schedule_item(acting, row, preview if edit == str(row.stage_id) else None)
            for row in page["items"]
        ]
        stages = page_lists.stage_choices(session, experiment)
        scheduled = page_lists.scheduled_stage_ids(session, [s.stage_id for s in stages])
        html = render_page(
            session,
            "schedules.html",
            title="Schedules",
            page=page,
            numbers=pages_of(page),
            stages=stage_options(acting, stages, scheduled),
            new_preview=preview if edit == "new" else None,
            new_stage=request.args.get("stage", "").strip(),
            cron_help=CRON_HELP,
        )
        bad = preview is not None and preview.error is not None
        return html, ANSWER_BAD if bad else 200


@pages.bp.get("/schedules/preview")
def schedule_preview() -> Any:
    """``?cron=``: the tidy text, whether the schedule API would take it (and if not, why)
    and its next five fire times (UTC): what the schedule forms show as one types."""
    return jsonify(check_cron(request.args.get("cron", "")).as_json())
