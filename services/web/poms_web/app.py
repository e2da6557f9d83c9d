"""Flask app factory: no I/O at import time."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from poms_shared.db.session import Database
from poms_shared.settings import Settings
from poms_web import (
    api,
    condor_log_api,
    control_api,
    events_api,
    login_setups_api,
    ops,
    pages,
    recovery_api,
    stages_api,
)
from poms_web.context import WebState
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
    app.register_blueprint(pages.bp)
    register_error_handlers(app)
    return app
