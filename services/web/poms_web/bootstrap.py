"""Wiring of the web service: the app, its HTTP server loop and its outbox relay."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import make_server

from poms_shared.broker import Bus
from poms_shared.db.session import Database
from poms_shared.runtime.service import Service
from poms_shared.settings import Settings
from poms_web.app import create_app

NAME = "web"
log = logging.getLogger(__name__)


def build(settings: Settings, db: Database, bus: Bus) -> Service:
    """The web app served on ``settings.web_host:web_port`` by a threaded server."""
    service = Service(NAME, db, bus)
    relay = service.attach_relay()
    app = create_app(settings, db, wake=relay.wake)
    server = make_server(settings.web_host, settings.web_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web-http", daemon=True)
    service.on_start.append(thread.start)
    service.on_stop.append(server.shutdown)
    log.info("web listening on http://%s:%d", settings.web_host, settings.web_port)
    return service
