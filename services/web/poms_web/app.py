"""Flask app factory: no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify, request
from werkzeug.routing import IntegerConverter, Map

from poms_shared.db.session import Database
from poms_shared.settings import Settings
from poms_web import (
    api,
    auth,
    campaigns_api,
    compat,
    condor_log_api,
    control_api,
    events_api,
    identity_api,
    job_types_api,
    login_setups_api,
    ops,
    pages,
    pages_editor,
    pages_lists,  # noqa: F401 (its views join the ``pages`` blueprint on import)
    pages_more,
    pages_stage,
    pages_submission,
    pages_templates,
    pages_triage,
    recovery_api,
    stages_api,
    submissions_api,
)
from poms_web.context import WebState, web_state
from poms_web.errors import error_body, register_error_handlers


def create_app(settings: Settings, db: Database, wake: Callable[[], None] = lambda: None) -> Flask:
    """Build the app over an existing database; ``wake`` nudges the outbox relay."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    app.url_map.converters["int"] = RowId  # ids past the database's integer range: 404
    app.extensions["poms"] = WebState(settings=settings, db=db, wake=wake)
    app.register_blueprint(ops.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(stages_api.bp)
    app.register_blueprint(control_api.bp)
    app.register_blueprint(events_api.bp)
    app.register_blueprint(condor_log_api.bp)
    app.register_blueprint(login_setups_api.bp)
    app.register_blueprint(recovery_api.bp)
    app.register_blueprint(identity_api.bp)
    app.register_blueprint(campaigns_api.bp)
    app.register_blueprint(job_types_api.bp)
    app.register_blueprint(submissions_api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(pages_stage.bp)
    app.register_blueprint(pages_submission.bp)
    app.register_blueprint(pages_more.bp)
    app.register_blueprint(pages_templates.bp)
    app.register_blueprint(pages_triage.bp)
    app.register_blueprint(pages_editor.bp)
    app.register_blueprint(compat.bp)
    register_error_handlers(app)
    app.before_request(_refuse_cross_site)
    app.before_request(_identify)
    app.before_request(_refuse_nul)
    app.after_request(auth.mark_dev_login)
    if settings.dev_user and settings.mode != "embedded":
        app.logger.warning(
            "POMS_DEV_USER=%s: requests without credentials act as this administrator;"
            " never expose this server",
            settings.dev_user,
        )
    return app


OPEN_PATHS = ("/healthz", "/metrics", "/static/", "/api/v1/openapi.json")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_ROW_ID = 2**31 - 1


def _at_most(limit: int) -> str:
    """A regular expression for the decimal numbers 0..``limit`` (no leading zeros)."""
    digits = str(limit)
    options = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            low = "1" if i == 0 and len(digits) > 1 else "0"
            if low <= str(int(digit) - 1):
                rest = len(digits) - i - 1
                tail = rf"\d{{{rest}}}" if rest else ""
                options.append(f"{digits[:i]}[{low}-{int(digit) - 1}]{tail}")
    options.append(digits)
    return "(?:" + "|".join(options) + ")"


class RowId(IntegerConverter):
    """``<int:…>`` limited to what an id column holds, so a huge id matches no route (404)
    instead of reaching the database."""

    regex = _at_most(MAX_ROW_ID)

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


def _refuse_cross_site() -> Any:
    """A browser's cross-site POST/PUT/PATCH/DELETE is refused (403) before anything runs.

    Single sign-on and the development login are ambient credentials a browser sends to
    any page's request, so a changing request must come from our own pages: a browser
    says where a request comes from in ``Sec-Fetch-Site`` and ``Origin``. Requests with
    an ``Authorization`` header cannot be forged cross-site (a browser only sends one the
    page set itself, which needs CORS, not offered here); scripts send neither header."""
    if request.method not in UNSAFE or request.headers.get("Authorization"):
        return None
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    origin = request.headers.get("Origin", "")
    if site in ("cross-site", "same-site") or (origin and not _same_origin(origin)):
        message = (
            "cross-site request refused: changes are accepted only from this server's own "
            "pages, or with 'Authorization: Bearer <token>'"
        )
        return jsonify(error_body(403, "cross_site", message)), 403
    return None


def _same_origin(origin: str) -> bool:
    if origin == "null":
        return False
    # host only: behind a TLS-terminating proxy the scheme seen here differs
    return urlsplit(origin).netloc == request.host


def _identify() -> None:
    """Every request but health and metrics is identified first (401 if nobody)."""
    if request.path.startswith(OPEN_PATHS):
        return
    with web_state().db.transaction() as session:
        auth.person(session)


NUL = "\x00"


def _nul_in(value: Any, path: str) -> str | None:
    """Where a NUL character is in a parsed JSON value (``events.3.source``), or None."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return where
            found = _nul_in(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def _refuse_nul() -> Any:
    """PostgreSQL refuses NUL in text: a path part, query or form field or JSON value
    holding one is bad input (400 naming it), turned away before any query. Raw bodies
    (an .ini file, a job log) are the views' to check."""
    fields: list[tuple[str, str]] = list((request.view_args or {}).items())
    fields += list(request.args.items(multi=True))
    if request.method in UNSAFE and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        if request.mimetype == "application/x-www-form-urlencoded":
            request.get_data(cache=True)  # the raw body stays readable (curl --data-binary)
        fields += list(request.form.items(multi=True))
    found = next((name for name, value in fields if NUL in f"{name}{value}"), None)
    if found is None and request.is_json:
        found = _nul_in(request.get_json(silent=True), "")
    if found is None:
        return None
    message = f"{found or 'body'}: may not contain a NUL character"
    return jsonify(error_body(400, "bad_request", message)), 400
