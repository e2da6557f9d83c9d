"""Server-rendered pages (readable without JavaScript)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from poms_web.adapters import queries
from poms_web.context import experiment_param, web_state

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> Any:
    """Campaigns of the experiment with every stage's submissions; refreshes itself."""
    experiment = experiment_param()
    with web_state().db.transaction() as session:
        campaigns = [
            queries.campaign_detail(session, queries.find_campaign(session, experiment, c["name"]))
            for c in queries.list_campaigns(session, experiment)
        ]
    refresh = request.args.get("refresh", "5")
    return render_template(
        "index.html",
        campaigns=campaigns,
        experiment=experiment,
        refresh=int(refresh) if refresh.isdecimal() else 5,
    )
