"""Compatibility methods: the saved session experiment and role (reference §8.2)."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import Forbidden

from poms_web import auth, identity_api
from poms_web.compat.framework import Params, Redirect, Reply, method
from poms_web.context import web_state


def _save(experiment: str | None, role: str | None) -> Reply:
    with web_state().db.transaction() as session:
        where = experiment or auth.actor(session).experiment
        if not where:
            raise Forbidden("no experiment chosen: pass session_experiment")
        identity_api.save_session(session, where, role)
    return Redirect(request.referrer or "/")


@method("update_session_experiment")
def update_session_experiment(p: Params) -> Reply:
    """Act in ``session_experiment`` by default from now on (a member only; the role is
    kept if allowed there, else lowered to the membership's)."""
    experiment = p.required("session_experiment")
    with web_state().db.transaction() as session:
        current = auth.actor(session).role
    return _save(experiment, current)


@method("update_session_role")
def update_session_role(p: Params) -> Reply:
    """Act as ``session_role`` by default in the session experiment."""
    return _save(None, p.required("session_role"))
