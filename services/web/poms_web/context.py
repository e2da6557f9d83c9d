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
    """The experiment a request names (query, ``X-POMS-Experiment``, path), else the
    requester's (token scope, session choice, only membership), else the default one."""
    named = (
        request.args.get("experiment")
        or request.headers.get("X-POMS-Experiment")
        or g.get("poms_path_experiment")
    )
    if named and named.strip():
        return named.strip()
    person = g.get("poms_person")
    own = person.acting(None, None).experiment if person is not None else None
    return own or web_state().settings.experiment


def actor() -> str:
    """The requester's user name (identified before the request reached its view)."""
    person = g.get("poms_person")
    if person is None:
        raise RuntimeError("no identified requester: the request skipped identification")
    return str(person.username)
