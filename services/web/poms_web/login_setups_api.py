"""``/api/v1/login-setups``: listing, creating, changing, deleting and cloning login setups
(§12.7), and their test launches (§6.14)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from poms_shared.db.models import LoginSetup
from poms_shared.domain import login_tests
from poms_shared.domain.permissions import Act
from poms_web import auth, paging
from poms_web.adapters import queries, templates
from poms_web.context import actor, web_state
from poms_web.stages_api import body_json

bp = Blueprint("login_setups", __name__, url_prefix="/api/v1")


def _get(session: Any, login_setup_id: int) -> LoginSetup:
    row: LoginSetup = templates.get(session, templates.LOGIN, login_setup_id)
    return row


def _answer(session: Session, row: LoginSetup, status: int = 200) -> Any:
    return jsonify(templates.info(row, templates.creator_name(session, row))), status


def _logs_dir(login_setup_id: int) -> Path:
    return login_tests.logs_dir(web_state().settings.log_dir, login_setup_id)


def _log_url(login_setup_id: int, name: str) -> str:
    return templates.login_test_url(login_setup_id, name)


@bp.get("/login-setups")
def list_login_setups() -> Any:
    """The experiment's login setups by name, a page at a time; ``?q=`` (part of the
    name), ``?mine=``, ``?active=``, ``?creator_role=``, ``?shared=`` (add the shared
    experiment's)."""
    filters = templates.filters_from(request.args)
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        query = templates.listing(
            templates.LOGIN, templates.acting_experiment(acting), filters, actor()
        )
        return jsonify(
            paging.page_query(session, query, lambda r: templates.info(r[0], r[1], acting))
        )


@bp.post("/login-setups")
def create_login_setup() -> Any:
    """``{name, launch_host, launch_account, launch_setup?, active?}``: 201 with the new one;
    409 if the experiment has one of that name."""
    body = body_json()
    with web_state().db.transaction() as session:
        row = templates.create(session, templates.LOGIN, body)
        return _answer(session, row, 201)


@bp.get("/login-setups/<int:login_setup_id>")
def get_login_setup(login_setup_id: int) -> Any:
    with web_state().db.transaction() as session:
        row = _get(session, login_setup_id)
        templates.may_view(session, row)
        return _answer(session, row)


@bp.patch("/login-setups/<int:login_setup_id>")
def edit_login_setup(login_setup_id: int) -> Any:
    """Change any of name, launch_host, launch_account, launch_setup, active."""
    body = body_json()
    with web_state().db.transaction() as session:
        row = _get(session, login_setup_id)
        changed = templates.edit(session, row, body)
        info = templates.info(row, templates.creator_name(session, row))
    return jsonify({"changed": changed, "login_setup": info})


@bp.delete("/login-setups/<int:login_setup_id>")
def delete_login_setup(login_setup_id: int) -> Any:
    """Delete it; 409 naming the stages while any stage uses it."""
    with web_state().db.transaction() as session:
        row = _get(session, login_setup_id)
        name = row.name
        templates.delete(session, row)
    return jsonify({"deleted": login_setup_id, "name": name})


@bp.post("/login-setups/<int:login_setup_id>/clone")
def clone_login_setup(login_setup_id: int) -> Any:
    """``{name}``: a copy in the acting experiment, owned by the requester; 201."""
    body = body_json()
    with web_state().db.transaction() as session:
        made = templates.clone(session, _get(session, login_setup_id), body)
        return _answer(session, made, 201)


@bp.post("/login-setups/<int:login_setup_id>/test")
def test_login_setup(login_setup_id: int) -> Any:
    """Run the login setup on its host, printing the environment; 202 with the log's name."""
    with web_state().db.transaction() as session:
        log_name = templates.start_login_test(session, _get(session, login_setup_id))
    web_state().wake()
    body = {
        "login_setup_id": login_setup_id,
        "log_name": log_name,
        "log_url": templates.login_test_url(login_setup_id, log_name),
    }
    return jsonify(body), 202


@bp.get("/login-setups/<int:login_setup_id>/tests")
def list_tests(login_setup_id: int) -> Any:
    """The login setup's test logs, newest first, each with how it ended."""
    with web_state().db.transaction() as session:
        auth.may(session, Act.VIEW, _get(session, login_setup_id))
    folder = _logs_dir(login_setup_id)
    paths = sorted(
        (p for p in folder.iterdir() if login_tests.valid_log_name(p.name))
        if folder.is_dir()
        else (),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    items = [
        {
            "log_name": p.name,
            "outcome": login_tests.outcome(p.read_text(errors="replace")),
            "size": p.stat().st_size,
            "modified": datetime.fromtimestamp(p.stat().st_mtime, UTC).isoformat(),
            "log_url": _log_url(login_setup_id, p.name),
        }
        for p in paths
    ]
    return jsonify({"items": items, "total": len(items)})


@bp.get("/login-setups/<int:login_setup_id>/tests/<name>")
def test_log(login_setup_id: int, name: str) -> Any:
    """The test's output so far (``?tail=N``); ``X-POMS-Outcome`` says how it ended."""
    if not login_tests.valid_log_name(name):
        raise queries.NotFound(f"{name!r} is not a login setup test log")
    with web_state().db.transaction() as session:
        auth.may(session, Act.VIEW, _get(session, login_setup_id))
    path = _logs_dir(login_setup_id) / name
    if not path.is_file():
        raise queries.NotFound(f"login setup {login_setup_id} has no test log {name!r} (yet)")
    text = path.read_text(errors="replace")
    lines = text.splitlines(keepends=True)
    tail = request.args.get("tail", "")
    if tail.isdecimal():
        lines = lines[-int(tail) :]
    response = Response("".join(lines), mimetype="text/plain")
    response.headers["X-POMS-Outcome"] = login_tests.outcome(text)
    return response
