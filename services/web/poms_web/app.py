"""Flask app factory: no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request

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
    recovery_api,
    stages_api,
    submissions_api,
)
from poms_web.context import WebState, web_state
from poms_web.errors import register_error_handlers


def create_app(settings: Settings, db: Database, wake: Callable[[], None] = lambda: None) -> Flask:
    """Build the app over an existing database; ``wake`` nudges the outbox relay."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
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
    app.register_blueprint(compat.bp)
    register_error_handlers(app)
    app.before_request(_identify)
    app.after_request(auth.mark_dev_login)
    if settings.dev_user and settings.mode != "embedded":
        app.logger.warning(
            "POMS_DEV_USER=%s: requests without credentials act as this administrator;"
            " never expose this server",
            settings.dev_user,
        )
    return app


OPEN_PATHS = ("/healthz", "/metrics", "/static/")


def _identify() -> None:
    """Every request but health and metrics is identified first (401 if nobody)."""
    if request.path.startswith(OPEN_PATHS):
        return
    with web_state().db.transaction() as session:
        auth.person(session)
