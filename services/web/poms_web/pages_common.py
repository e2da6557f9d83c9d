"""What every server-rendered page shares: the header (experiment and role selectors, menu,
external links), links that keep the chosen experiment and role, pagination and the HTML
error pages (the API's error handlers answer JSON; pages answer HTML)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError

from poms_shared.db.campaigns import CampaignNotFound
from poms_shared.db.models import Experiment
from poms_shared.domain.permissions import Actor, actable_roles
from poms_web import auth
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.queries import NotFound
from poms_web.context import web_state

KEPT = ("experiment", "role")  # query fields every link carries on
# (section, label, endpoint of the page, where to go until that page exists)
MENU: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Campaign data",
        (
            ("Campaigns", "pages.campaigns", "/campaigns"),
            ("Campaign stages", "pages.stages", "/stages"),
            ("Submissions", "pages.submissions", "/api/v1/submissions"),
        ),
    ),
    (
        "Configure work",
        (
            ("Login setups", "template_pages.login_setups", "/api/v1/login-setups"),
            ("Job types", "template_pages.job_types", "/api/v1/job-types"),
            ("Sample campaigns", "pages.samples", "/api/v1/sample-campaigns"),
        ),
    ),
    (
        "Jobs",
        (
            ("Triage", "triage_pages.triage", "/api/v1/submissions?status=Failed"),
            ("Held launches", "pages.held_launches", "/api/v1/held-launches"),
            ("Schedules", "pages.schedules", "/api/v1/schedules"),
        ),
    ),
    ("Account", (("My API tokens", "more_pages.tokens", "/api/v1/tokens"),)),
)


def kept_args(**changes: Any) -> dict[str, Any]:
    """The chosen experiment and role, plus ``changes`` (None drops a field)."""
    args = {k: request.args[k] for k in KEPT if request.args.get(k)}
    args.update(changes)
    return {k: v for k, v in args.items() if v not in (None, "")}


def page_url(endpoint: str, **values: Any) -> str:
    """``url_for`` keeping the chosen experiment and role."""
    return url_for(endpoint, **kept_args(**values))


def here(**changes: Any) -> str:
    """This page with some query fields changed (None removes one); others are kept."""
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v is not None})
    return f"{request.path}?{urlencode(args)}" if args else request.path


def api_url(path: str, **extra: Any) -> str:
    """An API path for the page's scripts, acting in the page's experiment and role."""
    args = kept_args(**extra)
    return f"/api/v1{path}?{urlencode(args)}" if args else f"/api/v1{path}"


def _menu_href(endpoint: str, fallback: str) -> str:
    try:
        return page_url(endpoint)
    except BuildError:
        return fallback


def _experiments(session: Session, acting: Actor) -> list[str]:
    names = set(acting.memberships) | ({acting.experiment} if acting.experiment else set())
    if acting.root:
        names |= set(session.scalars(select(Experiment.experiment)))
    return sorted(names)


def _external_links(session: Session, experiment: str | None) -> list[tuple[str, str]]:
    """Logbook and service desk of the experiment, the downtime calendar of the site."""
    row = session.get(Experiment, experiment) if experiment else None
    links = [
        ("Logbook", row.logbook if row else None),
        ("Service desk", row.snow_url if row else None),
        ("Downtime calendar", getattr(web_state().settings, "downtime_calendar_url", None)),
    ]
    return [(label, url) for label, url in links if url]


def _menu(experiment: str | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """``MENU`` with its links; the acting experiment's members page under Account."""
    menu = [
        (section, [(label, _menu_href(ep, fb)) for label, ep, fb in items])
        for section, items in MENU
    ]
    if experiment:
        members = page_url("more_pages.members", experiment=experiment)
        menu[-1][1].append(("Experiment members", members))
    return menu


def chrome(session: Session) -> dict[str, Any]:
    """The header's data: who, acting where and as what, the menu and external links."""
    acting = auth.actor(session)
    experiment = acting.experiment
    return {
        "username": acting.username,
        "acting": acting,
        "experiments": _experiments(session, acting),
        "roles": actable_roles(acting, experiment) if experiment else (),
        "menu": _menu(experiment),
        "external_links": _external_links(session, experiment),
        "dev_login": g.get("poms_dev_login"),
        "search": request.args.get("q", "") if request.endpoint == "pages.campaigns" else "",
    }


def render_page(session: Session, template: str, **context: Any) -> str:
    """A page inside the common layout."""
    return render_template(
        template,
        **chrome(session),
        page_url=page_url,
        here=here,
        api_url=api_url,
        **context,
    )


def pages_of(page: dict[str, Any]) -> list[int | None]:
    """Page numbers to offer around the current one (None: a gap)."""
    last, current = page["pages"], page["page"]
    shown = sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
    numbers: list[int | None] = []
    for number in shown:
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


# ---- error pages ------------------------------------------------------------------------

TITLES = {400: "Bad request", 401: "Not signed in", 403: "Not allowed", 404: "Not found"}


def _error_page(status: int, message: str) -> Any:
    title = TITLES.get(status, "Error")
    try:
        with web_state().db.transaction() as session:
            chrome_data = chrome(session)
    except HTTPException:  # who is asking is the trouble: the page without the header
        chrome_data = {"menu": [], "experiments": [], "roles": (), "external_links": []}
    html = render_template(
        "error.html",
        status=status,
        title=title,
        message=message,
        page_url=page_url,
        here=here,
        api_url=api_url,
        **chrome_data,
    )
    return html, status


def install_error_pages(bp: Blueprint) -> None:
    """Errors in ``bp``'s pages answer a readable HTML page (the API keeps its JSON)."""

    @bp.errorhandler(NotFound)
    @bp.errorhandler(CampaignNotFound)
    def _not_found(exc: Exception) -> Any:
        return _error_page(404, str(exc))

    @bp.errorhandler(BadRequest)
    def _bad_request(exc: BadRequest) -> Any:
        return _error_page(400, str(exc))

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if exc.code is None or exc.code >= 500:
            current_app.logger.error("page %s failed: %s", request.path, exc)
        return _error_page(exc.code or 500, exc.description or "")
