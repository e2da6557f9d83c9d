"""Server-rendered pages of campaigns (readable without JavaScript; actions call /api/v1)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from poms_shared.domain.permissions import ANALYSIS, CREATOR_ROLES, PRODUCTION, SHIFTER, Act
from poms_web import auth, paging
from poms_web.adapters import campaign_admin, page_lists, stage_admin
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.campaign_admin import Listing
from poms_web.adapters.weekly import weekly_chart
from poms_web.context import web_state
from poms_web.pages_common import install_error_pages, pages_of, render_page
from poms_web.pages_queries import SORTS, campaign_rows, dependencies, latest_submissions, sorted_by

bp = Blueprint("pages", __name__)
install_error_pages(bp)
ACTIVE = {
    "active": frozenset({True}),
    "inactive": frozenset({False}),
    "all": frozenset({True, False}),
}
OWNERS = ("all", "mine", "others")
KINDS = ("all", *CREATOR_ROLES)


@bp.get("/")
def index() -> Any:
    """The campaigns page, refreshing itself (``?refresh=`` seconds, 0: never)."""
    raw = request.args.get("refresh", "30")
    return _campaigns(refresh=int(raw) if raw.isdecimal() else 30)


@bp.get("/campaigns")
def campaigns() -> Any:
    """Campaigns of the experiment: filters, sorting and pages done in the database."""
    raw = request.args.get("refresh", "")
    return _campaigns(refresh=int(raw) if raw.isdecimal() else 0)


def _choice(name: str, allowed: tuple[str, ...] | list[str], default: str) -> str:
    value = request.args.get(name, "").strip() or default
    if value not in allowed:
        raise BadRequest(f"{name}: one of {', '.join(allowed)}, not {value!r}")
    return value


def _default_kind(role: str) -> str:
    """Analysis people see analysis campaigns, production people production ones (§12.7)."""
    return {ANALYSIS: ANALYSIS, PRODUCTION: PRODUCTION, SHIFTER: PRODUCTION}.get(role, "all")


def _campaigns(refresh: int) -> Any:
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        filters = {
            "active": _choice("active", list(ACTIVE), "active"),
            "owner": _choice("owner", OWNERS, "all"),
            "kind": _choice("kind", KINDS, _default_kind(acting.role)),
            "tag": request.args.get("tag", "").strip(),
            "q": request.args.get("q", "").strip(),
            "sort": _choice("sort", list(SORTS), "name"),
        }
        show = Listing(
            experiment=acting.experiment,
            me=auth.person(session).experimenter_id,
            active=ACTIVE[filters["active"]],
            mine=filters["owner"] != "others",
            others=filters["owner"] != "mine",
            roles=frozenset(CREATOR_ROLES if filters["kind"] == "all" else {filters["kind"]}),
            tag=filters["tag"] or None,
            q=filters["q"] or None,
        )
        query = sorted_by(campaign_admin.listing_query(show), filters["sort"])
        page = paging.page_query(session, query, lambda row: row)
        page["items"] = campaign_rows(session, page["items"])
        return render_page(
            session,
            "campaigns.html",
            title="Campaigns",
            page=page,
            numbers=pages_of(page),
            filters=filters,
            kinds=KINDS,
            owners=OWNERS,
            actives=list(ACTIVE),
            refresh=refresh,
            tag_names=page_lists.tag_names(session, acting.experiment),
        )


@bp.get("/campaigns/<name>")
def campaign(name: str) -> Any:
    """One campaign: its stages with their latest submissions, and its dependencies."""
    with web_state().db.transaction() as session:
        found = campaign_admin.find(session, campaign_admin.experiment_here(session), name)
        auth.may(session, Act.VIEW, found)
        stages = stage_admin.summaries(session, list(found.stages))
        ids = [s["stage_id"] for s in stages]
        latest = latest_submissions(session, ids)
        return render_page(
            session,
            "campaign.html",
            title=f"Campaign {found.name}",
            campaign=found,
            stages=[{**s, "latest": latest.get(s["stage_id"])} for s in stages],
            dependencies=dependencies(session, ids),
            history_chart=weekly_chart(session, ids, f"Submissions of {found.name} by week"),
        )


@bp.get("/stages")
def stages() -> Any:
    """Every stage of the experiment with a summary of its submissions; paginated."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        page = paging.page_query(
            session, stage_admin.stages_query(acting.experiment), lambda r: r[0]
        )
        page["items"] = stage_admin.summaries(session, page["items"])
        return render_page(
            session, "stages.html", title="Campaign stages", page=page, numbers=pages_of(page)
        )
