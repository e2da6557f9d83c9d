"""poms admin: bootstrap people and access from the shell, straight on the database.

This is how the first administrator and every automation account are made: it needs the
database (``POMS_DATABASE_URL``), not a running server or a token.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from poms_shared.db import identity
from poms_shared.db.audit import record_audit
from poms_shared.db.migrate import upgrade
from poms_shared.db.session import Database
from poms_shared.domain.permissions import ROLES
from poms_shared.settings import load_settings

ADMIN_ACTOR = "poms-admin"  # how shell changes appear in the audit log


def add_parser(nouns: Any) -> None:
    admin = nouns.add_parser(
        "admin",
        help="bootstrap experiments, users, memberships and API tokens (on the database)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = admin.add_subparsers(dest="what", required=True, metavar="WHAT")

    exp = verbs.add_parser("experiment", help="create an experiment")
    exp.add_argument("code", help="short code, e.g. nova")
    exp.add_argument("--name", help="full name (default: the code)")
    exp.set_defaults(run=_experiment)

    user = verbs.add_parser("user", help="create a user, or change one")
    user.add_argument("username")
    user.add_argument("--first-name")
    user.add_argument("--last-name")
    root = user.add_mutually_exclusive_group()
    root.add_argument("--root", action="store_true", default=None, help="make an administrator")
    root.add_argument("--no-root", dest="root", action="store_false", help="no longer one")
    user.set_defaults(run=_user)

    member = verbs.add_parser("member", help="make a user a member of an experiment")
    member.add_argument("username")
    member.add_argument("experiment")
    member.add_argument("role", choices=ROLES)
    member.add_argument("--inactive", action="store_true", help="keep the row, switched off")
    member.set_defaults(run=_member)

    members = verbs.add_parser("members", help="list an experiment's members")
    members.add_argument("experiment")
    members.set_defaults(run=_members)

    token = verbs.add_parser("token", help="print a new API token for a user")
    token.add_argument("username")
    token.add_argument("--name", required=True, help="what or who uses it")
    token.add_argument("--experiment", help="usable only in this experiment")
    token.add_argument("--role", choices=ROLES, help="usable only in this role")
    token.add_argument("--expires-days", type=float, help="expires after this many days")
    token.set_defaults(run=_token)

    revoke = verbs.add_parser("revoke-token", help="revoke an API token by its id")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(run=_revoke)


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
