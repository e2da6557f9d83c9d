"""The campaign graph editor: stages, dependencies, defaults, login setups and job types.

The page is readable without JavaScript (the campaign as tables); with it, the graph is
drawn and edited in the browser and saved as JSON. A save is written as `.ini` text and
stored the way an `.ini` upload is (``adapters.campaign_graph_store.save_graph``), so it
is checked and refused alike; errors come back as JSON naming the node and field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import Conflict, Forbidden, HTTPException

from poms_shared.db.campaigns import CampaignError, CampaignNotFound, SaveResult
from poms_shared.domain.permissions import Act
from poms_shared.ini.parser import IniError, parse_ini
from poms_web import auth
from poms_web.adapters import campaign_admin as admin
from poms_web.adapters import campaign_graph_store as store
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.campaign_graph import Graph, graph_ini, locate, locate_message, read_graph
from poms_web.adapters.queries import NotFound
from poms_web.context import web_state
from poms_web.errors import error_body
from poms_web.pages_common import install_error_pages, page_url, render_page

bp = Blueprint("editor_pages", __name__)
install_error_pages(bp)


# ---- pages ------------------------------------------------------------------------------


@bp.get("/campaigns/<int:campaign_id>/editor")
def editor(campaign_id: int) -> Any:
    """A stored campaign in the editor (read-only for those who may not modify it)."""
    with web_state().db.transaction() as session:
        campaign = store.get_campaign(session, campaign_id)
        auth.may(session, Act.VIEW, campaign)
        state = store.editor_state(session, campaign, campaign.experiment)
        return render_page(
            session,
            "campaign_editor.html",
            title=f"Campaign editor: {campaign.name}",
            state=state,
            may_modify=admin.allowed(session, Act.MODIFY, campaign),
            save_url=page_url("editor_pages.save", campaign_id=campaign_id),
            save_method="PUT",
            ini_url=page_url("editor_pages.preview_ini"),
            campaign_url=page_url("pages.campaign", name=campaign.name),
        )


@bp.get("/campaigns/new/editor")
def new_editor() -> Any:
    """A new campaign, built in the editor and stored on its first save."""
    with web_state().db.transaction() as session:
        auth.authorize(session, Act.VIEW)
        experiment = admin.experiment_here(session)
        try:
            auth.authorize_create(session, experiment=experiment)
            may_create = True
        except Forbidden:
            may_create = False
        return render_page(
            session,
            "campaign_editor.html",
            title="Campaign editor: new campaign",
            state=store.editor_state(session, None, experiment),
            may_modify=may_create,
            save_url=page_url("editor_pages.create"),
            save_method="POST",
            ini_url=page_url("editor_pages.preview_ini"),
            campaign_url=None,
        )


# ---- JSON -------------------------------------------------------------------------------


@bp.get("/campaigns/<int:campaign_id>/graph")
def graph(campaign_id: int) -> Any:
    """The editor's JSON for a stored campaign."""
    return _json_answer(lambda: _state(campaign_id))


def _state(campaign_id: int) -> Any:
    with web_state().db.transaction() as session:
        campaign = store.get_campaign(session, campaign_id)
        auth.may(session, Act.VIEW, campaign)
        return jsonify(store.editor_state(session, campaign, campaign.experiment))


@bp.put("/campaigns/<int:campaign_id>/graph")
def save(campaign_id: int) -> Any:
    """Save the editor's graph over a stored campaign (200), or a JSON error."""
    return _json_answer(lambda: _save(campaign_id))


@bp.post("/campaigns/graph")
def create() -> Any:
    """Store a campaign built in the editor (201); 409 if the name is taken."""
    return _json_answer(lambda: _save(None))


@bp.post("/campaigns/graph/ini")
def preview_ini() -> Any:
    """The `.ini` text a save of this graph would store, checked as an upload is."""

    def answer() -> Any:
        text = graph_ini(read_graph(_body()))
        parse_ini(text)
        return Response(text, mimetype="text/plain")

    return _json_answer(answer)


def _body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("body: send the graph as a JSON object")
    return body


def _save(campaign_id: int | None) -> Any:
    graph = read_graph(_body())
    try:
        with web_state().db.transaction() as session:
            campaign = store.get_campaign(session, campaign_id) if campaign_id else None
            result = store.save_graph(session, graph, campaign)
    except (IniError, CampaignError, HTTPException) as exc:
        raise _Located(exc, graph) from exc
    return _saved(result, graph, created=campaign_id is None)


def _saved(result: SaveResult, graph: Graph, *, created: bool) -> Any:
    editor_url = page_url("editor_pages.editor", campaign_id=result.campaign_id)
    return jsonify(
        {
            "campaign": graph.name,
            "campaign_id": result.campaign_id,
            "stage_ids": result.stage_ids,
            "warnings": result.warnings,
            "editor": editor_url,
        }
    ), (201 if created else 200)


class _Located(Exception):
    """A save error, with the graph it was found in (to name the node and field)."""

    def __init__(self, error: Exception, graph: Graph) -> None:
        super().__init__(str(error))
        self.error = error
        self.graph = graph


def _json_answer(view: Callable[[], Any]) -> Any:
    """The view's answer; its errors as this service's JSON error body (not a page)."""
    graph = None
    try:
        return view()
    except _Located as exc:
        error, graph = exc.error, exc.graph
    except (IniError, CampaignError, BadRequest, NotFound, HTTPException) as exc:
        error = exc
    return _error(error, graph)


def _error(error: Exception, graph: Graph | None) -> Any:
    if isinstance(error, IniError):
        where = locate(graph, error.section, error.key)
        body = error_body(400, "bad_ini", str(error), section=error.section, key=error.key)
    elif isinstance(error, NotFound | CampaignNotFound):
        where, body = None, error_body(404, "not_found", str(error))
    elif isinstance(error, CampaignError | BadRequest):
        where = locate_message(graph, str(error))
        code = "bad_campaign" if isinstance(error, CampaignError) else "bad_request"
        body = error_body(400, code, str(error))
    elif isinstance(error, HTTPException):
        message = error.description or ""
        where = locate_message(graph, message)
        if isinstance(error, Conflict):  # the campaign's name is taken
            where = {"node": "campaign", "name": None, "field": "name"}
        code = (error.name or "error").lower().replace(" ", "_")
        body = error_body(error.code or 500, code, message)
    else:  # pragma: no cover - _json_answer passes only the errors above
        where, body = None, error_body(500, "internal_error", "internal error")
    body["error"]["where"] = where
    return jsonify(body), body["error"]["status"]
