"""The ``poms admin`` commands, on the database (``admin`` holds their options)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from poms_shared.cli.base import Refused
from poms_shared.db import identity
from poms_shared.db.audit import record_audit
from poms_shared.db.migrate import upgrade
from poms_shared.db.session import Database
from poms_shared.settings import load_settings

ADMIN_ACTOR = "poms-admin"  # how shell changes appear in the audit log


def run(what: str, args: argparse.Namespace) -> str:
    """Run the command; Refused with the message for what the database or the rules refuse."""
    try:
        return COMMANDS[what](args)
    except identity.IdentityError as exc:
        raise Refused(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise Refused(f"the database refused: {exc.__class__.__name__}: {exc}") from exc


def _db() -> Database:
    """The configured database, its schema brought up to date first."""
    db = Database(load_settings().database_url)
    upgrade(db.engine)
    return db


def _experiment(args: argparse.Namespace) -> str:
    with _db().transaction() as session:
        created = identity.add_experiment(session, args.code, args.name)
        if created:
            _audit(session, "add_experiment", "experiment", args.code, {"name": args.name})
    return f"experiment {args.code} {'created' if created else 'exists already'}"


def _user(args: argparse.Namespace) -> str:
    with _db().transaction() as session:
        created = identity.add_user(
            session,
            args.username,
            first_name=args.first_name,
            last_name=args.last_name,
            root=args.root,
        )
        _audit(
            session,
            "add_user" if created else "update_user",
            "experimenter",
            args.username,
            {"root": args.root},
        )
    root = " (administrator)" if args.root else ""
    return f"user {args.username} {'created' if created else 'updated'}{root}"


def _member(args: argparse.Namespace) -> str:
    with _db().transaction() as session:
        identity.set_membership(
            session, args.username, args.experiment, args.role, active=not args.inactive
        )
        _audit(
            session,
            "set_membership",
            "experiment",
            args.experiment,
            {"username": args.username, "role": args.role, "active": not args.inactive},
        )
    return f"{args.username} is a member of {args.experiment} as {args.role}"


def _members(args: argparse.Namespace) -> str:
    with _db().transaction() as session:
        rows = identity.members(session, args.experiment)
    if not rows:
        return f"experiment {args.experiment} has no members"
    width = max(len(u) for u, _, _ in rows)
    return "\n".join(f"{u:<{width}}  {r}{'' if a else '  (inactive)'}" for u, r, a in rows)


def _token(args: argparse.Namespace) -> str:
    expires = None
    if args.expires_days is not None:
        if args.expires_days <= 0:
            raise identity.IdentityError("--expires-days: a number of days above zero")
        expires = datetime.now(UTC) + timedelta(days=args.expires_days)
    with _db().transaction() as session:
        token, secret = identity.issue_token(
            session,
            args.username,
            args.name,
            experiment=args.experiment,
            role=args.role,
            expires=expires,
        )
        _audit(
            session,
            "create_token",
            "api_token",
            token.token_id,
            {"username": args.username, "name": args.name},
        )
    return secret


def _revoke(args: argparse.Namespace) -> str:
    with _db().transaction() as session:
        try:
            identity.revoke_token(session, args.token_id, None)
        except LookupError as exc:
            raise identity.IdentityError(str(exc)) from None
        _audit(session, "revoke_token", "api_token", args.token_id, None)
    return f"API token {args.token_id} revoked"


def _audit(session: Any, action: str, entity: str, entity_id: object, after: Any) -> None:
    record_audit(
        session, actor=ADMIN_ACTOR, action=action, entity=entity, entity_id=entity_id, after=after
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], str]] = {
    "experiment": _experiment,
    "user": _user,
    "member": _member,
    "members": _members,
    "token": _token,
    "revoke": _revoke,
}
