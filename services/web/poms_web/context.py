"""Per-app state (database, relay wake-up) and request identity."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, request

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
    """The acting user.

    LOCAL DEVELOPMENT IDENTITY: until SSO and API tokens exist, every request acts as
    ``POMS_DEV_USER`` (default ``poms``). Do not expose this server beyond loopback.
    """
    return os.environ.get("POMS_DEV_USER", "poms")
