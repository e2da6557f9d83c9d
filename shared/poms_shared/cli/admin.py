"""poms admin: bootstrap people and access from the shell, straight on the database.

This is how the first administrator and every automation account are made: it needs the
database (``POMS_DATABASE_URL``), not a running server or a token. The commands live in
``admin_db``, loaded only when one runs: the rest of ``poms`` starts without the
database layer.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from poms_shared.domain.permissions import ROLES


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
    exp.set_defaults(run=_deferred("experiment"))

    user = verbs.add_parser("user", help="create a user, or change one")
    user.add_argument("username")
    user.add_argument("--first-name")
    user.add_argument("--last-name")
    root = user.add_mutually_exclusive_group()
    root.add_argument("--root", action="store_true", default=None, help="make an administrator")
    root.add_argument("--no-root", dest="root", action="store_false", help="no longer one")
    user.set_defaults(run=_deferred("user"))

    member = verbs.add_parser("member", help="make a user a member of an experiment")
    member.add_argument("username")
    member.add_argument("experiment")
    member.add_argument("role", choices=ROLES)
    member.add_argument("--inactive", action="store_true", help="keep the row, switched off")
    member.set_defaults(run=_deferred("member"))

    members = verbs.add_parser("members", help="list an experiment's members")
    members.add_argument("experiment")
    members.set_defaults(run=_deferred("members"))

    token = verbs.add_parser("token", help="print a new API token for a user")
    token.add_argument("username")
    token.add_argument("--name", required=True, help="what or who uses it")
    token.add_argument("--experiment", help="usable only in this experiment")
    token.add_argument("--role", choices=ROLES, help="usable only in this role")
    token.add_argument("--expires-days", type=float, help="expires after this many days")
    token.set_defaults(run=_deferred("token"))

    revoke = verbs.add_parser("revoke-token", help="revoke an API token by its id")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(run=_deferred("revoke"))


def _deferred(what: str) -> Callable[[argparse.Namespace], str]:
    """``admin_db``'s command ``what``, imported when it runs."""

    def run(args: argparse.Namespace) -> str:
        from poms_shared.cli import admin_db

        return admin_db.run(what, args)

    return run
