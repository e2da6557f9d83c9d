"""Per-app state (database, relay wake-up) and request identity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, request

from poms_shared.db.session import Database
from poms_shared.settings import Settings


@dataclass
class WebState:
    settings: Settings
    db: Database
    wake: Callable[[], None]


def web_state() -> WebState:
    state: WebState = current_app.extensions["poms"]
    return state


def experiment_param() -> str:
    return request.args.get("experiment") or web_state().settings.experiment


def actor() -> str:
    """The requester's user name (identified before the request reached its view)."""
    person = g.get("poms_person")
    if person is None:
        raise RuntimeError("no identified requester: the request skipped identification")
    return str(person.username)
