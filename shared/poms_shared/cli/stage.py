"""``poms stage …``: one stage's settings, launches, holds, schedule and split position."""

from __future__ import annotations

import argparse
import json
from typing import Any

from poms_shared.cli.base import (
    VALUE_HELP,
    UsageError,
    get_list,
    key_values,
    noun,
    split_pairs,
    verb,
)
from poms_shared.cli.client import ApiError, Client
from poms_shared.cli.output import Shown, fields, listing, sections, table

STAGE_FIELDS = [
    ("stage_id", "stage"),
    ("name", "name"),
    ("campaign", "campaign"),
    ("experiment", "experiment"),
    ("stage_type", "type"),
    ("job_type", "job type"),
    ("login_setup", "login setup"),
    ("software_version", "version"),
    ("dataset", "dataset"),
    ("split_type", "split type"),
    ("cs_last_split", "split position"),
    ("completion_type", "completion"),
    ("completion_pct", "completion %"),
    ("held", "held"),
    ("schedule.cron", "schedule"),
    ("param_overrides", "param overrides"),
]
SUBMISSION_COLUMNS = [
    ("submission_id", "SUBMISSION"),
    ("status", "STATUS"),
    ("dataset", "DATASET"),
    ("batch_id", "BATCH ID"),
    ("created", "CREATED"),
    ("launcher", "LAUNCHER"),
]
EXAMPLES = """examples:
  poms stage launch 12 --test
  poms stage edit 12 completion_pct=80 software_version=v2_1
  poms stage schedule 12 "0 3 * * *"
  poms stage split 12 --position 4
"""


def add_parser(nouns: Any) -> None:
    verbs = noun(nouns, "stage", "show, edit, launch and schedule campaign stages")
    p = verb(verbs, "show", show, "a stage's settings, hold, schedule and submissions")
    p.add_argument("id", type=int)
    p = verb(verbs, "list", list_stages, "the stages of a campaign", paged=True)
    p.add_argument("--campaign", "-c", required=True, metavar="NAME")
    p = verb(verbs, "edit", edit, "change stage settings", epilog=EXAMPLES)
    p.add_argument("id", type=int)
    p.add_argument("settings", nargs="+", metavar="KEY=VALUE", help=VALUE_HELP)
    p = verb(verbs, "launch", launch, "launch a submission of the stage", epilog=EXAMPLES)
    p.add_argument("id", type=int)
    p.add_argument("--test", action="store_true", help="a test launch")
    p.add_argument("--dataset", help="launch on this dataset instead of the stage's")
    p.add_argument(
        "--commands-only", action="store_true", help="reserve a submission, print its commands"
    )
    for name, text in (
        ("hold", "hold the stage: new launches are kept until release"),
        ("queue", "queue the stage's launches (as hold)"),
        ("release", "release the stage and run its held launches"),
    ):
        p = verb(verbs, name, hold, text)
        p.add_argument("id", type=int)
    p = verb(verbs, "schedule", schedule, "show, set or remove the cron launch schedule")
    p.add_argument("id", type=int)
    p.add_argument("cron", nargs="?", help='five cron fields, e.g. "0 3 * * *"')
    p.add_argument("--remove", action="store_true", help="stop scheduled launches")
    p = verb(verbs, "split", split, "reset or set the position of the stage's split")
    p.add_argument("id", type=int)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--reset", action="store_true", help="start the split over")
    where.add_argument("--position", type=int, metavar="N", help="the next slice to launch")
    p = verb(verbs, "overrides", overrides, "add, change or remove parameter overrides")
    p.add_argument("id", type=int)
    p.add_argument(
        "pairs",
        nargs="+",
        metavar="KEY=VALUE",
        help="split at the first '=', the key kept exactly: \"--stage =gen\" gives"
        " ['--stage ', 'gen']; an empty value removes the key; or one JSON list of pairs",
    )
    p.add_argument("--test", action="store_true", help="the overrides of test launches")


def show(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("GET", f"/stages/{args.id}").json()
    return Shown(data, describe(data))


def describe(data: dict[str, Any]) -> str:
    subs = data.get("submissions") or []
    return sections(
        ("", fields(data, STAGE_FIELDS)),
        ("submissions:", table(subs[-20:], SUBMISSION_COLUMNS) if subs else ""),
    )


def list_stages(args: argparse.Namespace, client: Client) -> Shown:
    data = get_list(
        client, "/stages", args, {"campaign": args.campaign, "experiment": client.experiment}
    )
    columns = [
        ("stage_id", "ID"),
        ("name", "STAGE"),
        ("stage_type", "TYPE"),
        ("job_type", "JOB TYPE"),
        ("login_setup", "LOGIN SETUP"),
        ("status.state", "STATE"),
        ("status.submissions", "SUBMISSIONS"),
    ]
    return listing(columns, empty=f"(campaign {args.campaign} has no stages)")(data)


def edit(args: argparse.Namespace, client: Client) -> Shown:
    body = key_values(args.settings)
    data = client.call("PATCH", f"/stages/{args.id}", json_body=body).json()
    changed = data.get("changed")
    names = ", ".join(changed) if isinstance(changed, list | dict) and changed else "nothing"
    return Shown(data, f"stage {args.id}: changed {names}")


def launch(args: argparse.Namespace, client: Client) -> Shown:
    body = {"test": args.test, "dataset": args.dataset, "commands_only": args.commands_only}
    body = {k: v for k, v in body.items() if v}
    try:
        data = client.call("POST", f"/stages/{args.id}/launch", json_body=body).json()
    except ApiError as exc:
        if exc.status == 423:
            raise held_explained(exc, args.id) from None
        raise
    return Shown(data, launch_text(data, f"stage {args.id}"))


def held_explained(exc: ApiError, stage_id: int) -> ApiError:
    """A 423 answer with what to do about it."""
    error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
    held_id = error.get("held_launch_id")
    message = (
        f"{exc.message}\n  held launch {held_id if held_id else ''}: "
        f"see 'poms held list'; 'poms stage release {stage_id}' runs it "
        "('poms launches release' if every launch is held)"
    )
    return ApiError(exc.status, exc.code, message, exc.body)


def launch_text(data: dict[str, Any], what: str) -> str:
    """A launch answer for people: the submission, its commands, or that it is pending."""
    if data.get("status") == "pending":
        return (
            f"launch of {what} requested (request {data.get('request_id')}); it has not"
            " started yet: 'poms submission list' shows it once it does"
        )
    if "commands" not in data:
        return f"submission {data.get('submission_id')} launched from {what}"
    commands = data.get("commands")
    if isinstance(commands, dict):
        if commands.get("error"):
            return f"the launch of {what} could not be composed: {commands['error']}"
        commands = commands.get("script") or commands.get("command_line")
    head = f"submission {data.get('submission_id')} reserved for {what} (nothing runs);"
    return f"{head} its commands:\n{commands or '(not composed yet)'}"


def hold(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("POST", f"/stages/{args.id}/{args.verb}").json()
    if args.verb == "release":
        replayed = data.get("replayed") or []
        return Shown(data, f"stage {args.id} released; {len(replayed)} held launch(es) run")
    return Shown(data, f"stage {args.id} held: new launches wait until release")


def schedule(args: argparse.Namespace, client: Client) -> Shown:
    where = f"/stages/{args.id}/schedule"
    if args.remove and args.cron:
        raise UsageError("give a cron schedule or --remove, not both")
    if args.remove:
        data = client.call("DELETE", where).json()
    elif args.cron:
        data = client.call("PUT", where, json_body={"cron": args.cron}).json()
    else:
        data = client.call("GET", where).json()
    if not data.get("cron"):
        return Shown(data, f"stage {args.id} has no launch schedule")
    runs = "\n".join(f"  {r}" for r in data.get("next_runs", []))
    return Shown(data, f"stage {args.id} launches at: {data['cron']}\nnext runs:\n{runs}")


def split(args: argparse.Namespace, client: Client) -> Shown:
    body: dict[str, Any] = {"reset": True} if args.reset else {"position": args.position}
    data = client.call("POST", f"/stages/{args.id}/split", json_body=body).json()
    position = data.get("cs_last_split")
    where = "reset" if position is None else position
    return Shown(data, f"stage {args.id}: split position {where}")


def overrides(args: argparse.Namespace, client: Client) -> Shown:
    pairs = overrides_of(args.pairs)
    field = "test_param_overrides" if args.test else "param_overrides"
    where = f"/stages/{args.id}/param-overrides"
    data = client.call("POST", where, json_body={field: pairs}).json()
    now = data.get(field) if isinstance(data, dict) else None
    shown = ", ".join(f"{k!r}={v!r}" for k, v in now or []) or "(none)"
    return Shown(data, f"stage {args.id} {field.replace('_', ' ')} now: {shown}")


def overrides_of(raw: list[str]) -> list[list[str]]:
    """``KEY=VALUE`` arguments, or one JSON list of pairs, as override pairs."""
    if len(raw) == 1 and raw[0].lstrip().startswith("["):
        try:
            pairs = json.loads(raw[0])
        except ValueError as exc:
            raise UsageError(f"overrides: not a JSON list of pairs: {exc}") from None
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 for p in pairs
        ):
            raise UsageError('overrides: a JSON list of [key, value] pairs, e.g. [["-N ", "5"]]')
        return [[str(k), str(v)] for k, v in pairs]
    return [[k, v] for k, v in split_pairs(raw)]
