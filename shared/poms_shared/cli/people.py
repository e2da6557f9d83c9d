"""``poms me``, ``token``, ``member``, ``audit``, ``held`` and ``launches``: who I am,
my API tokens, an experiment's members, the audit log and held launches."""

from __future__ import annotations

import argparse
from typing import Any

from poms_shared.cli.base import (
    COMMON,
    UsageError,
    add_yes,
    confirm,
    get_list,
    noun,
    positive,
    verb,
)
from poms_shared.cli.client import Client
from poms_shared.cli.output import Shown, fields, listing
from poms_shared.domain.permissions import ROLES

TOKEN_COLUMNS = [
    ("token_id", "ID"),
    ("name", "NAME"),
    ("prefix", "PREFIX"),
    ("experiment", "EXPERIMENT"),
    ("role", "ROLE"),
    ("expires", "EXPIRES"),
    ("last_used", "LAST USED"),
    ("usable", "USABLE"),
]
HELD_COLUMNS = [
    ("held_launch_id", "ID"),
    ("stage_id", "STAGE"),
    ("created", "HELD SINCE"),
    ("launcher", "LAUNCHER"),
    ("dataset", "DATASET"),
    ("test", "TEST"),
    ("parent_submission_id", "PARENT"),
]
AUDIT_COLUMNS = [
    ("audit_id", "ID"),
    ("at", "AT"),
    ("actor", "ACTOR"),
    ("action", "ACTION"),
    ("entity", "ENTITY"),
    ("entity_id", "ENTITY ID"),
]


def add_parser(nouns: Any) -> None:
    me_parser = nouns.add_parser(
        "me",
        help="who the server thinks I am, and where I act as what",
        description=(
            "Who the server thinks I am, and where I may act as what. With --act-in,"
            " save where (and as what) I act when a request names no experiment."
        ),
        parents=[COMMON],
    )
    me_parser.add_argument("--act-in", metavar="EXPERIMENT", help="act here by default")
    me_parser.add_argument("--act-as", metavar="ROLE", choices=ROLES, help="as this role")
    me_parser.set_defaults(handler=me)

    verbs = noun(nouns, "token", "my API tokens")
    verb(verbs, "list", list_tokens, "list my API tokens", paged=True)
    p = verb(verbs, "create", create_token, "make an API token (printed once)")
    p.add_argument("name", help="what or who uses it")
    p.add_argument("--for-experiment", dest="scope_experiment", help="usable only there")
    p.add_argument("--as-role", dest="scope_role", choices=ROLES, help="usable only as this")
    p.add_argument("--expires-days", type=int, metavar="N")
    p = verb(verbs, "revoke", revoke_token, "revoke one of my API tokens")
    p.add_argument("id", type=int)

    verbs = noun(nouns, "member", "an experiment's members and their roles")
    p = verb(verbs, "list", list_members, "list the members", paged=True)
    p.add_argument("of", nargs="?", metavar="EXPERIMENT", help="default: --experiment")
    p = verb(verbs, "set", set_member, "add a member or change their role (superusers)")
    p.add_argument("username")
    p.add_argument("member_role", metavar="ROLE", choices=ROLES)
    p.add_argument("--inactive", action="store_true", help="keep the membership, switched off")
    p.add_argument("--in", dest="of", metavar="EXPERIMENT", help="default: --experiment")

    audit = nouns.add_parser(
        "audit",
        help="the audit log: who changed what (superusers)",
        description="The audit log, newest first (superusers).",
        parents=[COMMON],
    )
    for name in ("actor", "entity", "action"):
        audit.add_argument(f"--{name}")
    audit.add_argument("--entity-id")
    _paging(audit)
    audit.set_defaults(handler=audit_log)

    verbs = noun(nouns, "held", "launches waiting for a hold to be released")
    p = verb(verbs, "list", list_held, "list held launches", paged=True)
    p.add_argument("--stage", type=int, metavar="ID")
    p = verb(verbs, "remove", remove_held, "drop a held launch without running it")
    p.add_argument("id", type=int)
    add_yes(p)

    verbs = noun(nouns, "launches", "hold or release every launch (administrators)")
    verb(verbs, "hold", hold_all, "hold every launch until release")
    verb(verbs, "release", hold_all, "release the global hold and run the held launches")


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page", type=positive, help="page to show (from 1)")
    parser.add_argument("--per-page", type=positive, help="items per page (up to 1000)")
    parser.add_argument("--all-pages", action="store_true", help="fetch every page")


def me(args: argparse.Namespace, client: Client) -> Shown:
    if getattr(args, "act_in", None):
        body = {"experiment": args.act_in, "role": args.act_as}
        client.call("PUT", "/me", json_body=body)
    data = client.call("GET", "/me").json()
    memberships = data.get("memberships") or {}
    text = fields(
        {
            **data,
            "member_of": ", ".join(f"{e} ({r})" for e, r in memberships.items()) or None,
        },
        [
            ("username", "user"),
            ("root", "administrator"),
            ("member_of", "member of"),
            ("acting.experiment", "acting in"),
            ("acting.role", "acting as"),
            ("token_scope.experiment", "token only in"),
            ("token_scope.role", "token only as"),
            ("dev_login", "development login"),
        ],
    )
    return Shown(data, text)


def list_tokens(args: argparse.Namespace, client: Client) -> Shown:
    return listing(TOKEN_COLUMNS, empty="(no tokens)")(get_list(client, "/tokens", args))


def create_token(args: argparse.Namespace, client: Client) -> Shown:
    body = {
        "name": args.name,
        "experiment": args.scope_experiment,
        "role": args.scope_role,
        "expires_days": args.expires_days,
    }
    data = client.call(
        "POST", "/tokens", json_body={k: v for k, v in body.items() if v is not None}
    ).json()
    text = (
        f"token {data.get('token_id')} ({args.name}):\n{data.get('token')}\n"
        "It is shown only now: keep it in POMS_TOKEN, a token file or ~/.config/poms/config.toml"
    )
    return Shown(data, text)


def revoke_token(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("DELETE", f"/tokens/{args.id}").json()
    return Shown(data, f"token {args.id} revoked")


def _experiment(args: argparse.Namespace, client: Client) -> str:
    experiment = args.of or client.experiment
    if not experiment:
        raise UsageError("which experiment? name it, or set --experiment / POMS_EXPERIMENT")
    return str(experiment)


def list_members(args: argparse.Namespace, client: Client) -> Shown:
    data = get_list(client, f"/experiments/{_experiment(args, client)}/members", args)
    columns = [("username", "USER"), ("role", "ROLE"), ("active", "ACTIVE")]
    return listing(columns, empty="(no members)")(data)


def set_member(args: argparse.Namespace, client: Client) -> Shown:
    experiment = _experiment(args, client)
    body = {"role": args.member_role, "active": not args.inactive}
    data = client.call(
        "PUT", f"/experiments/{experiment}/members/{args.username}", json_body=body
    ).json()
    return Shown(data, f"{args.username} is {args.member_role} in {experiment}")


def audit_log(args: argparse.Namespace, client: Client) -> Shown:
    filters = {
        "actor": args.actor,
        "entity": args.entity,
        "entity_id": args.entity_id,
        "action": args.action,
    }
    return listing(AUDIT_COLUMNS, empty="(nothing)")(get_list(client, "/audit", args, filters))


def list_held(args: argparse.Namespace, client: Client) -> Shown:
    data = get_list(client, "/held-launches", args, {"stage_id": args.stage})
    return listing(HELD_COLUMNS, empty="(no held launches)")(data)


def remove_held(args: argparse.Namespace, client: Client) -> Shown:
    confirm(args, f"drop held launch {args.id} without running it?")
    data = client.call("DELETE", f"/held-launches/{args.id}").json()
    return Shown(data, f"held launch {args.id} removed")


def hold_all(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("POST", f"/launches/{args.verb}").json()
    if args.verb == "hold":
        return Shown(data, "every launch is held until 'poms launches release'")
    replayed = data.get("replayed") or []
    return Shown(data, f"launches released; {len(replayed)} held launch(es) run")
