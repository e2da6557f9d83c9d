"""``/api/v1``: who am I, my API tokens, experiments and their members, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden

from poms_shared.db import identity
from poms_shared.db.audit import record_audit
from poms_shared.db.models import ApiToken, Experiment
from poms_shared.db.tables import AuditEntry
from poms_shared.domain.permissions import ROLES, SUPERUSER, Act, Owner, actable_roles
from poms_web import auth
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.queries import NotFound
from poms_web.context import actor, web_state
from poms_web.paging import page_of, page_query

bp = Blueprint("identity", __name__, url_prefix="/api/v1")
MAX_TOKEN_DAYS = 366


@bp.get("/me")
def me() -> Any:
    """The requester, how they were identified, and where they may act as what."""
    with web_state().db.transaction() as session:
        who = auth.person(session)
        acting = auth.actor(session)
    return jsonify(
        {
            "username": who.username,
            "root": who.root,
            "memberships": who.memberships,
            "acting": {"experiment": acting.experiment, "role": acting.role},
            "token_scope": {"experiment": who.token_experiment, "role": who.token_role},
            "dev_login": bool(g.get("poms_dev_login")),
        }
    )


@bp.put("/me")
def choose_session() -> Any:
    """Save the experiment (and role) this person acts in when a request names none:
    ``{"experiment", "role"?}``; a role not theirs there falls back to their own."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('send a JSON object: {"experiment": …, "role"?: …}')
    experiment, role = body.get("experiment"), body.get("role")
    if not isinstance(experiment, str) or not experiment.strip():
        raise BadRequest("experiment: name the experiment to act in")
    if role is not None and (not isinstance(role, str) or role not in ROLES):
        raise BadRequest(f"role: one of {', '.join(ROLES)}")
    with web_state().db.transaction() as session:
        saved = save_session(session, experiment.strip(), role)
    return jsonify({"experiment": experiment.strip(), "role": saved, "asked_role": role})


def save_session(session: Session, experiment: str, role: str | None) -> str:
    """Save the requester's default experiment and role (403 if not theirs), audited;
    the role saved."""
    who = auth.person(session)
    if who.token_experiment and experiment != who.token_experiment:
        raise Forbidden(f"this API token acts only in experiment {who.token_experiment}")
    try:
        saved = identity.set_session(session, who.username, experiment, role)
    except identity.IdentityError as exc:
        raise Forbidden(str(exc)) from None
    record_audit(
        session,
        actor=who.username,
        action="choose_session",
        entity="experimenter",
        entity_id=who.username,
        after={"experiment": experiment, "role": saved},
        experiment=experiment,
    )
    return saved


def _token_info(token: ApiToken) -> dict[str, Any]:
    now = datetime.now(UTC)
    expires = token.expires
    return {
        "token_id": token.token_id,
        "name": token.name,
        "prefix": token.prefix,
        "experiment": token.experiment,
        "role": token.role,
        "created": token.created.isoformat(),
        "expires": expires.isoformat() if expires else None,
        "revoked": token.revoked.isoformat() if token.revoked else None,
        "last_used": token.last_used.isoformat() if token.last_used else None,
        "usable": token.revoked is None and (expires is None or expires > now),
    }


@bp.get("/tokens")
def list_tokens() -> Any:
    with web_state().db.transaction() as session:
        tokens = identity.tokens_of(session, auth.person(session).username)
        return jsonify(page_of([_token_info(t) for t in tokens]))


@bp.post("/tokens")
def create_token() -> Any:
    """``{"name", "experiment"?, "role"?, "expires_days"?}`` → 201 with the token, once."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('send a JSON object: {"name": …, "experiment"?, "role"?, …}')
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name: give the token a name (what or who uses it)")
    experiment, role = body.get("experiment"), body.get("role")
    for field, value in (("experiment", experiment), ("role", role)):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{field}: must be text")
    expires = _expiry(body.get("expires_days"))
    with web_state().db.transaction() as session:
        who = auth.person(session)
        if who.token_experiment or who.token_role:
            raise Forbidden("a scoped API token may not make tokens; use an unscoped one")
        if experiment is not None:
            acting = auth.actor(session, experiment=experiment, role=role)
            allowed = actable_roles(acting, experiment)
            if not allowed:
                raise Forbidden(f"you are not a member of experiment {experiment}")
            if role is not None and role not in allowed:
                raise Forbidden(f"in {experiment} you may act as {', '.join(allowed)}, not {role}")
        try:
            token, secret = identity.issue_token(
                session, who.username, name, experiment=experiment, role=role, expires=expires
            )
        except identity.IdentityError as exc:
            raise BadRequest(str(exc)) from None
        record_audit(
            session,
            actor=who.username,
            action="create_token",
            entity="api_token",
            entity_id=token.token_id,
            after={k: v for k, v in _token_info(token).items() if k != "last_used"},
        )
        return jsonify({**_token_info(token), "token": secret}), 201


def _expiry(days: Any) -> datetime | None:
    if days is None:
        return None
    if (
        isinstance(days, bool)
        or not isinstance(days, int | float)
        or not 0 < days <= MAX_TOKEN_DAYS
    ):
        raise BadRequest(f"expires_days: a number of days from 1 to {MAX_TOKEN_DAYS}")
    return datetime.now(UTC) + timedelta(days=float(days))


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int) -> Any:
    """Revoke one of my tokens (an administrator: anyone's)."""
    with web_state().db.transaction() as session:
        who = auth.person(session)
        try:
            token = identity.revoke_token(session, token_id, None if who.root else who.username)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        record_audit(
            session,
            actor=who.username,
            action="revoke_token",
            entity="api_token",
            entity_id=token_id,
            after={"revoked": token.revoked.isoformat() if token.revoked else None},
        )
        return jsonify(_token_info(token))


@bp.get("/experiments")
def list_experiments() -> Any:
    """Active experiments (every identified user may list them)."""
    with web_state().db.transaction() as session:
        rows = session.scalars(
            select(Experiment).where(Experiment.active.is_(True)).order_by(Experiment.experiment)
        )
        items = [{"experiment": e.experiment, "name": e.name} for e in rows]
    return jsonify(page_of(items))


@bp.get("/experiments/<experiment>/members")
def list_members(experiment: str) -> Any:
    with web_state().db.transaction() as session:
        _experiment(session, experiment)
        auth.authorize(session, Act.VIEW, Owner(experiment), experiment=experiment)
        items = [
            {"username": u, "role": r, "active": a}
            for u, r, a in identity.members(session, experiment)
        ]
    return jsonify(page_of(items))


@bp.put("/experiments/<experiment>/members/<username>")
def set_member(experiment: str, username: str) -> Any:
    """``{"role", "active"?}``: add a member or change their role (acting as superuser)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("role"), str):
        raise BadRequest('role: send {"role": "analysis|production-shifter|production|superuser"}')
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise BadRequest("active: true or false")
    with web_state().db.transaction() as session:
        _experiment(session, experiment)
        auth.authorize(
            session, Act.MODIFY, Owner(experiment), experiment=experiment, role=SUPERUSER
        )
        before = {u: (r, a) for u, r, a in identity.members(session, experiment)}.get(username)
        try:
            identity.set_membership(session, username, experiment, body["role"], active=active)
        except identity.IdentityError as exc:
            raise BadRequest(str(exc)) from None
        record_audit(
            session,
            actor=actor(),
            action="set_membership",
            entity="experiment",
            entity_id=experiment,
            before={"username": username, "role": before[0], "active": before[1]}
            if before
            else None,
            after={"username": username, "role": body["role"], "active": active},
        )
    return jsonify({"experiment": experiment, "username": username, "role": body["role"]})


def _experiment(session: Any, experiment: str) -> None:
    if session.get(Experiment, experiment) is None:
        raise NotFound(f"experiment {experiment!r} does not exist")


@bp.get("/audit")
def audit_log() -> Any:
    """Changes, newest first; ``?experiment=&actor=&entity=&entity_id=&action=`` filter.

    An administrator sees every experiment's changes; an experiment's superuser sees that
    experiment's (those of no experiment — tokens, global holds — only administrators)."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.MODIFY, None, role=SUPERUSER)  # superusers only
        query = select(AuditEntry).order_by(AuditEntry.audit_id.desc())
        for name in ("experiment", "actor", "entity", "entity_id", "action"):
            if value := request.args.get(name):
                query = query.where(getattr(AuditEntry, name) == value)
        if not acting.root:
            query = query.where(AuditEntry.experiment == acting.experiment)
        return jsonify(page_query(session, query, _audit_item))


def _audit_item(row: Any) -> dict[str, Any]:
    entry: AuditEntry = row[0]
    return {
        "audit_id": entry.audit_id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "experiment": entry.experiment,
        "action": entry.action,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "before": entry.before,
        "after": entry.after,
    }
