"""Health and metrics endpoints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from poms_web import openapi
from poms_web.context import web_state

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """200 when the database answers, 503 otherwise."""
    try:
        with web_state().db.transaction() as session:
            session.execute(text("select 1"))
    except Exception as exc:
        return jsonify({"status": "unhealthy", "database": str(exc).splitlines()[0]}), 503
    return jsonify({"status": "ok", "database": "ok"})


@bp.get("/metrics")
def metrics() -> Response:
    # content_type, not mimetype: the latter appends a second charset to the exposition type.
    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)


@bp.get("/api/v1/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI document of this server (open, like health and metrics)."""
    return jsonify(openapi.document(current_app))
