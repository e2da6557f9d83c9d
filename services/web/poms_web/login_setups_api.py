"""``/api/v1/login-setups``: a login setup's details and its test launches (§6.14)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from poms_shared.contracts.messages import TestLoginSetup
from poms_shared.db.audit import record_audit
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import LoginSetup
from poms_shared.domain import login_tests
from poms_shared.domain.permissions import Act
from poms_web import auth
from poms_web.adapters import queries
from poms_web.context import actor, experiment_param, web_state

bp = Blueprint("login_setups", __name__, url_prefix="/api/v1")


def _get(session: Any, login_setup_id: int) -> LoginSetup:
    row = session.get(LoginSetup, login_setup_id)
    if row is None:
        raise queries.NotFound(f"login setup {login_setup_id} does not exist")
    return row


def _info(row: LoginSetup) -> dict[str, Any]:
    return {
        "login_setup_id": row.login_setup_id,
        "experiment": row.experiment,
        "name": row.name,
        "launch_host": row.launch_host,
        "launch_account": row.launch_account,
        "launch_setup": row.launch_setup,
        "active": row.active,
    }


def _logs_dir(login_setup_id: int) -> Path:
    return login_tests.logs_dir(web_state().settings.log_dir, login_setup_id)


def _log_url(login_setup_id: int, name: str) -> str:
    return f"/api/v1/login-setups/{login_setup_id}/tests/{name}"


@bp.get("/login-setups")
def list_login_setups() -> Any:
    """The experiment's login setups (``?experiment=``), by name."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW, experiment=experiment_param())
        rows = session.scalars(
            select(LoginSetup)
            .where(LoginSetup.experiment == (acting.experiment or experiment_param()))
            .order_by(LoginSetup.name)
        )
        items = [_info(row) for row in rows]
    return jsonify({"items": items, "total": len(items)})


@bp.get("/login-setups/<int:login_setup_id>")
def get_login_setup(login_setup_id: int) -> Any:
    with web_state().db.transaction() as session:
        row = _get(session, login_setup_id)
        auth.may(session, Act.VIEW, row)
        return jsonify(_info(row))


@bp.post("/login-setups/<int:login_setup_id>/test")
def test_login_setup(login_setup_id: int) -> Any:
    """Run the login setup on its host, printing the environment; 202 with the log's name."""
    name = login_tests.new_log_name(actor(), datetime.now(UTC))
    taken = _logs_dir(login_setup_id)
    unique, n = name, 1
    while (taken / unique).exists():
        n += 1
        unique = f"{name}.{n}"
    with web_state().db.transaction() as session:
        auth.may(session, Act.DO, _get(session, login_setup_id))
        UnitOfWork(session).emit(
            TestLoginSetup(login_setup_id=login_setup_id, actor=actor(), log_name=unique)
        )
        record_audit(
            session,
            actor=actor(),
            action="test_login_setup",
            entity="login_setup",
            entity_id=login_setup_id,
            after={"log": unique},
        )
    web_state().wake()
    body = {
        "login_setup_id": login_setup_id,
        "log_name": unique,
        "log_url": _log_url(login_setup_id, unique),
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
    if tail.isdigit():
        lines = lines[-int(tail) :]
    response = Response("".join(lines), mimetype="text/plain")
    response.headers["X-POMS-Outcome"] = login_tests.outcome(text)
    return response
