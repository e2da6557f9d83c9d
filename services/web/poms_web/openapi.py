"""The OpenAPI document of ``/api/v1`` and the compatibility methods, made from the app.

Paths, methods and path parameters come from the app's URL map, so a new endpoint is in
the document the moment it is registered; summaries come from the view's docstring.
Request bodies and query parameters come from ``openapi_details.DETAILS`` (keyed by
``"METHOD /path"`` in OpenAPI form; a ``None`` body: the view reads none); an endpoint
without an entry there takes any JSON object (for POST, PUT, PATCH) and no declared query.
Compatibility methods are listed once each (the bare ``/<method>`` form) taking the form
fields of ``openapi_details.COMPAT_FIELDS`` (and any other field).
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

from poms_web.openapi_details import (
    BOOL,
    COMPAT_FIELDS,
    DETAILS,
    FORM,
    INT,
    JSON,
    PAGES,
    PAIRS,
    RAW_INI,
    STR,
    _body,
    _q,
)

API = "/api/v1"
__all__ = [
    "BOOL",
    "COMPAT_FIELDS",
    "DETAILS",
    "INT",
    "PAGES",
    "PAIRS",
    "RAW_INI",
    "STR",
    "_body",
    "_q",
    "document",
]

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    },
}
# every compatibility method also takes these
COMPAT_COMMON = {
    "fmt": {"type": "string", "description": "json: the data as JSON"},
    "experiment": STR,
    "role": STR,
}


_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def _path_and_params(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        conv, args, name = match["conv"], match["args"], match["name"]
        schema: dict[str, Any]
        if conv == "int":
            schema = {"type": "integer", "minimum": 0}
        elif conv == "any":
            schema = {"type": "string", "enum": [a.strip() for a in (args or "").split(",")]}
        else:
            schema = {"type": "string", "pattern": "^[^/]+$"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _CONVERTER.sub(replace, rule.rule), params


def _summary(app: Flask, rule: Rule) -> str:
    view = app.view_functions.get(rule.endpoint)
    doc = (view.__doc__ or "").strip() if view else ""
    return doc.splitlines()[0] if doc else rule.endpoint.replace("_", " ")


def _operation(app: Flask, rule: Rule, method: str, params: list[dict[str, Any]], key: str) -> Any:
    details = DETAILS.get(key, {})
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{rule.endpoint.replace('.', '_')}_{len(params)}",
        "summary": _summary(app, rule),
        "parameters": [*params, *details.get("query", [])],
        "responses": {
            "200": {"description": "done"},
            "default": {"description": "an error", "content": {JSON: {"schema": ERROR}}},
        },
    }
    if "body" in details:
        if details["body"] is not None:  # None: the view reads no body
            operation["requestBody"] = details["body"]
    elif method in ("POST", "PUT", "PATCH"):
        operation["requestBody"] = {
            "required": False,
            "content": {JSON: {"schema": {"type": "object"}}},
        }
    return operation


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0 document of this app."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule.startswith(API):
            path, params = _path_and_params(rule)
            short = path[len(API) :]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                paths.setdefault(path, {})[method.lower()] = _operation(
                    app, rule, method, params, f"{method} {short}"
                )
        elif rule.endpoint.startswith("compat.") and rule.rule.count("/") == 1:
            paths[rule.rule] = _compat(app, rule)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "POMS API",
            "version": _version(),
            "description": (
                "Production Operations Management System. Authenticate with "
                "'Authorization: Bearer <API token>' (see POST /api/v1/tokens); act in an "
                "experiment and role with ?experiment=&role= or X-POMS-Experiment/X-POMS-Role. "
                "Paths outside /api/v1 are the original client's methods: each also answers "
                "at /<method>/<experiment>/<role> and under /poms/, by GET or form POST."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _compat(app: Flask, rule: Rule) -> dict[str, Any]:
    name = rule.rule.strip("/")
    schema: dict[str, Any] = {"type": "object", "additionalProperties": STR}
    if name in COMPAT_FIELDS:
        schema["properties"] = {**COMPAT_FIELDS[name], **COMPAT_COMMON}
    form = {"required": False, "content": {FORM: {"schema": schema}}}
    responses = {
        "200": {"description": "done (text or JSON as the method says)"},
        "303": {"description": "a launch: Location ends with _<submission id>"},
        "default": {"description": "an error", "content": {JSON: {"schema": ERROR}}},
    }
    return {
        "get": {
            "operationId": f"compat_get_{name}",
            "summary": _summary(app, rule),
            "tags": ["compatibility"],
            "responses": responses,
        },
        "post": {
            "operationId": f"compat_post_{name}",
            "summary": _summary(app, rule),
            "tags": ["compatibility"],
            "requestBody": form,
            "responses": responses,
        },
    }


def _version() -> str:
    try:
        return version("poms")
    except PackageNotFoundError:
        return "0"
