"""One JSON error shape for every API failure."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from poms_shared.db.campaigns import CampaignError, CampaignNotFound
from poms_shared.domain.dag import CampaignLaunchError
from poms_shared.ini.parser import IniError
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.queries import NotFound


def error_body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message, **extra}}


def register_error_handlers(app: Flask) -> None:
    """Map domain errors to HTTP codes; never show a traceback."""

    def respond(status: int, code: str, message: str, **extra: Any) -> Any:
        return jsonify(error_body(status, code, message, **extra)), status

    @app.errorhandler(NotFound)
    @app.errorhandler(CampaignNotFound)
    def _not_found(exc: Exception) -> Any:
        return respond(404, "not_found", str(exc))

    @app.errorhandler(IniError)
    def _bad_ini(exc: IniError) -> Any:
        return respond(400, "bad_ini", str(exc), section=exc.section, key=exc.key)

    @app.errorhandler(CampaignError)
    def _bad_campaign(exc: CampaignError) -> Any:
        return respond(400, "bad_campaign", str(exc))

    @app.errorhandler(BadRequest)
    def _bad_request(exc: BadRequest) -> Any:
        return respond(400, "bad_request", str(exc))

    @app.errorhandler(CampaignLaunchError)
    def _cannot_launch(exc: CampaignLaunchError) -> Any:
        return respond(409, "cannot_launch", str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if not request.path.startswith("/api/") and request.blueprint != "compat":
            return exc
        body, status = respond(
            exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or ""
        )
        if status == 401:
            body.headers["WWW-Authenticate"] = 'Bearer realm="poms"'
        return body, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error on %s", request.path)
        return respond(500, "internal_error", "internal error; the server log has details")
