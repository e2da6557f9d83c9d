"""How the compatibility methods of the original client are served.

The original server answers ``<base>/<method>[/<experiment>/<role>[/<user>]]`` with GET
query fields and POST form fields meaning the same thing. Each method here is a plain
function of its :class:`Params` returning a :class:`Reply`; ``method`` registers it under
every path form, at the root and under ``/poms`` (the base path clients are configured
with), and turns failures into the API's JSON error shape with the status code:
400 for bad input (the message names the field), 401 nobody identified, 403 refused,
404 unknown object, 409/423 when the state forbids it. The reference answered 401 for a
refusal; 403 is kept here, as on ``/api/v1``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy.orm import Session

from poms_shared.domain.permissions import Actor
from poms_web import auth
from poms_web.adapters import launching
from poms_web.adapters.actions import BadRequest
from poms_web.context import web_state
from poms_web.errors import error_body

bp = Blueprint("compat", __name__)
TRUE = frozenset({"1", "true", "yes", "on", "t", "y", "active"})
FALSE = frozenset({"0", "false", "no", "off", "f", "n", "", "none", "inactive"})


class Params:
    """The request's fields (query and form merged; path experiment/role/user first)."""

    def __init__(self, path: dict[str, str]) -> None:
        self.path = path

    def get(self, name: str, default: str | None = None) -> str | None:
        if name in self.path:
            return self.path[name]
        value = request.values.get(name)
        if value is None:
            return default
        return value.strip()

    def has(self, name: str) -> bool:
        return name in self.path or name in request.values

    def required(self, name: str, *aliases: str) -> str:
        """The first of ``name``/``aliases`` that is present and not empty."""
        for key in (name, *aliases):
            value = self.get(key)
            if value:
                return value
        raise BadRequest(f"Missing form field: {name}")

    def integer(self, name: str, *aliases: str, required: bool = True) -> int | None:
        for key in (name, *aliases):
            raw = self.get(key)
            if raw:
                return parse_int(name, raw)
        if required:
            raise BadRequest(f"Missing form field: {name}")
        return None

    def need_int(self, name: str, *aliases: str) -> int:
        value = self.integer(name, *aliases)
        assert value is not None
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise BadRequest(f"{name}: expected true or false, not {raw!r}")

    def int_list(self, name: str, *, required: bool = True) -> list[int]:
        """A comma-separated list of ids (repeated fields are joined)."""
        raw = ",".join(v for v in request.values.getlist(name) if v is not None)
        parts = [p.strip() for p in raw.replace(" ", ",").split(",") if p.strip()]
        if not parts and required and not self.has(name):
            raise BadRequest(f"Missing form field: {name}")
        return [parse_int(name, p) for p in parts]

    def literal(self, name: str, *, required: bool = True) -> Any:
        """A Python-literal or JSON value, as the original client sends lists and dicts."""
        raw = self.get(name)
        if raw is None or raw == "":
            if required:
                raise BadRequest(f"Missing form field: {name}")
            return None
        return parse_literal(name, raw)

    @property
    def json_wanted(self) -> bool:
        return (self.get("fmt") or "").lower() == "json"


def parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name}: expected a whole number, not {raw!r}") from None


def parse_literal(name: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise BadRequest(f"{name}: not a JSON or Python literal value: {raw[:80]!r}") from None


# ---- replies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What a method answers; ``render`` makes the HTTP response."""

    def render(self, params: Params) -> Response:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Reply):
    text: str
    status: int = 200

    def render(self, params: Params) -> Response:
        return Response(self.text, status=self.status, mimetype="text/plain")


@dataclass(frozen=True)
class Json(Reply):
    """JSON always (``rtype="json"`` methods)."""

    data: Any
    status: int = 200

    def render(self, params: Params) -> Response:
        return Response(dumps(self.data), status=self.status, mimetype="application/json")


@dataclass(frozen=True)
class Page(Json):
    """A page's data: JSON with ``fmt=json`` and, until pages render it, otherwise too."""


@dataclass(frozen=True)
class Redirect(Reply):
    """303 to ``location``; with ``redirect=0`` the location as text instead."""

    location: str
    extra: dict[str, str] = field(default_factory=dict)

    def render(self, params: Params) -> Response:
        if params.get("redirect") == "0":
            return Response(self.location, mimetype="text/plain")
        response = Response("", status=303)
        response.headers["Location"] = self.location
        for key, value in self.extra.items():
            response.headers[key] = value
        return response


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(data: Any) -> str:
    """JSON as the original encodes pages: datetimes ``YYYY-MM-DDTHH:MM:SS``."""
    return json.dumps(data, default=_plain)


# ---- registration -------------------------------------------------------------------------

Method = Callable[[Params], Reply]
METHODS: dict[str, Method] = {}
BASES = ("", "/poms")


def method(name: str, *aliases: str) -> Callable[[Method], Method]:
    """Serve ``fn`` as ``/<name>`` (and aliases) in every path form, GET and POST."""

    def register(fn: Method) -> Method:
        for each in (name, *aliases):
            METHODS[each] = fn
            endpoint = f"m_{each}"
            view = _view(fn)
            view.__name__ = endpoint
            for base in BASES:
                rule = f"{base}/{each}"
                opts = {
                    "methods": ["GET", "POST"],
                    "endpoint": f"{endpoint}{base.replace('/', '_')}",
                }
                bp.add_url_rule(rule, view_func=view, **opts)  # type: ignore[arg-type]
                bp.add_url_rule(f"{rule}/<experiment>", view_func=view, **opts)  # type: ignore[arg-type]
                bp.add_url_rule(f"{rule}/<experiment>/<role>", view_func=view, **opts)  # type: ignore[arg-type]
                bp.add_url_rule(f"{rule}/<experiment>/<role>/<user>", view_func=view, **opts)  # type: ignore[arg-type]
        return fn

    return register


def _view(fn: Method) -> Callable[..., Response]:
    def view(**path: str) -> Response:
        if "experiment" in path:
            g.poms_path_experiment = path["experiment"]
        if "role" in path:
            g.poms_path_role = path["role"]
        params = Params(path)
        return fn(params).render(params)

    return view


# ---- helpers for the methods ------------------------------------------------------------


def acting(session: Session) -> Actor:
    """The requester in the experiment/role of the path or fields (no permission check)."""
    return auth.actor(session)


def experiment_of(session: Session) -> str:
    """The experiment the request acts in: path, field, session choice, only membership,
    else the deployment's default experiment."""
    return acting(session).experiment or web_state().settings.experiment


def error_response(status: int, code: str, message: str) -> Any:
    return jsonify({"error": {"status": status, "code": code, "message": message}}), status


def launch_reply(request_id: str, commands_only: bool = False) -> Reply:
    """A launch's answer as the original client expects it: 303 to the launch log (its
    last ``_``-separated token is the submission id), the commands as text, 423 held,
    400 refused, 202 ``pending <request>`` with no answer in time."""
    outcome = launching.outcome(request_id)
    if outcome is None:
        return Text(f"pending {request_id}", status=202)
    if outcome.outcome == "held":
        message = "launches of this stage are held; the launch is queued and runs on release"
        return Json(error_body(423, "held", message, held_launch_id=outcome.held_launch_id), 423)
    sid = outcome.submission_id
    if outcome.outcome == "failed" or sid is None:
        return Json(error_body(400, "launch_refused", outcome.error or "launch refused"), 400)
    if commands_only:
        commands = launching.commands(sid)
        if commands is None:
            return Text(f"submission {sid}: the commands are not composed yet", status=202)
        return Text(launching.commands_text(commands))
    return Redirect(f"/api/v1/submissions/{sid}/log?file=launch_{sid}")
