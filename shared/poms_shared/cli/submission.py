"""``poms submission …``: submissions, their history, jobs, files and launch log, job
control, approvals and recoveries."""

from __future__ import annotations

import argparse
from typing import Any

from poms_shared.cli.base import UsageError, add_yes, confirm, get_list, noun, verb
from poms_shared.cli.client import Client
from poms_shared.cli.output import Shown, fields, listing, sections, table
from poms_shared.cli.stage import launch_text

LIST_COLUMNS = [
    ("submission_id", "SUBMISSION"),
    ("campaign", "CAMPAIGN"),
    ("stage", "STAGE"),
    ("stage_id", "STAGE ID"),
    ("status", "STATUS"),
    ("batch_id", "BATCH ID"),
    ("created", "CREATED"),
    ("launcher", "LAUNCHER"),
]
DETAIL_FIELDS = [
    ("submission_id", "submission"),
    ("status", "status"),
    ("why", "why"),
    ("campaign", "campaign"),
    ("stage", "stage"),
    ("dataset", "dataset"),
    ("batch_id", "batch id"),
    ("created", "created"),
    ("launcher", "launcher"),
    ("test", "test"),
    ("parent_submission_id", "parent"),
    ("recovery_parent_id", "recovery of"),
    ("recovery_type", "recovery type"),
    ("command", "command"),
]
HISTORY_COLUMNS = [("at", "AT"), ("status", "STATUS"), ("reason", "REASON")]
JOB_COLUMNS = [
    ("batch_id", "BATCH JOB"),
    ("state", "STATE"),
    ("exit_code", "EXIT"),
    ("node", "NODE"),
    ("started", "STARTED"),
    ("finished", "FINISHED"),
]
CONTROL = {
    "kill": "remove its batch jobs (it becomes Removed)",
    "cancel": "remove its batch jobs (it becomes Cancelled)",
    "hold": "hold its batch jobs",
    "release": "release its held batch jobs",
    "approve": "approve an approval submission (Completed)",
    "reject": "reject an approval submission (Removed)",
    "complete": "mark it Completed",
    "force-locate": "mark it Located now, without the catalog check",
    "abort": "kill its launch while it is still running",
}
CONFIRMED = {"kill", "cancel", "reject", "force-locate", "abort"}
EXAMPLES = """examples:
  poms submission list --campaign nu_flux --status Running
  poms submission show 4211 --json
  poms submission log 4211 --tail 30
  poms submission recover 4211 --preview
"""


def add_parser(nouns: Any) -> None:
    verbs = noun(nouns, "submission", "follow, control and recover submissions")
    p = verb(verbs, "list", list_submissions, "list submissions", paged=True, epilog=EXAMPLES)
    p.add_argument("--campaign", "-c", metavar="NAME")
    p.add_argument("--stage", "-s", type=int, metavar="ID")
    p.add_argument("--status", metavar="STATUS", help="e.g. Running or Located,Failed")
    p.add_argument("--days", type=int, metavar="N", help="created in the last N days")
    for name, handler, text, paged in (
        ("show", show, "status, why it is not done, jobs and outputs of a submission", False),
        ("history", history, "the status changes of a submission", True),
        ("jobs", jobs, "the batch jobs of a submission", True),
        ("files", files, "input and output files of a submission", False),
        ("lineage", lineage, "recoveries and dependent submissions", False),
    ):
        p = verb(verbs, name, handler, text, paged=paged)
        p.add_argument("id", type=int)
    p = verb(verbs, "log", log, "the launch output of a submission")
    p.add_argument("id", type=int)
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    for name, text in CONTROL.items():
        p = verb(verbs, name, control, text)
        p.add_argument("id", type=int)
        add_yes(p)  # accepted by every control verb, so scripts can pass it throughout
    p = verb(verbs, "recover", recover, "preview or launch a recovery", epilog=EXAMPLES)
    p.add_argument("id", type=int)
    p.add_argument("--type", dest="rtype", metavar="TYPE", help="recovery type (default: next)")
    p.add_argument("--preview", action="store_true", help="show what would be launched")


def list_submissions(args: argparse.Namespace, client: Client) -> Shown:
    filters = {
        "campaign": args.campaign,
        "stage": args.stage,
        "status": args.status,
        "tdays": args.days,
        "experiment": client.experiment,
    }
    data = get_list(client, "/submissions", args, filters)
    return listing(LIST_COLUMNS, empty="(no submissions)")(data)


def show(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("GET", f"/submissions/{args.id}").json()
    jobs = data.get("jobs") or {}
    counts = ", ".join(f"{k} {v}" for k, v in jobs.items() if k != "total" and v)
    outputs = data.get("output_files") or []
    text = sections(
        ("", fields(data, DETAIL_FIELDS)),
        ("", f"jobs:       {jobs.get('total', 0)}" + (f" ({counts})" if counts else "")),
        ("", f"outputs:    {len(outputs)}" if outputs else ""),
        ("history:", table(data.get("history") or [], HISTORY_COLUMNS)),
    )
    return Shown(data, text)


def history(args: argparse.Namespace, client: Client) -> Shown:
    data = get_list(client, f"/submissions/{args.id}/history", args)
    return listing(HISTORY_COLUMNS, empty="(no history)")(data)


def jobs(args: argparse.Namespace, client: Client) -> Shown:
    data = get_list(client, f"/submissions/{args.id}/jobs", args)
    return listing(JOB_COLUMNS, empty=f"(submission {args.id} has no jobs yet)")(data)


def files(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("GET", f"/submissions/{args.id}/files").json()
    inputs = table(
        data.get("inputs") or [], [("name", "INPUT"), ("status", "STATUS"), ("job", "JOB")]
    )
    outputs = table(
        data.get("outputs") or [],
        [("name", "OUTPUT"), ("located", "LOCATED"), ("location", "LOCATION"), ("parents", "FROM")],
    )
    counts = data.get("counts") or {}
    summary = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
    return Shown(data, sections(("inputs:", inputs), ("outputs:", outputs), ("counts:", summary)))


def log(args: argparse.Namespace, client: Client) -> Shown:
    text = client.call("GET", f"/submissions/{args.id}/log", params={"tail": args.tail}).text
    return Shown({"submission_id": args.id, "log": text}, text.rstrip("\n"))


def lineage(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("GET", f"/submissions/{args.id}/lineage").json()
    brief = [("submission_id", "SUBMISSION"), ("stage", "STAGE"), ("status", "STATUS")]
    brief += [("recovery_type", "RECOVERY"), ("dataset", "DATASET")]
    up = [x for x in (data.get("upstream"), data.get("recovery_parent")) if x]
    recoveries, dependents = data.get("recoveries") or [], data.get("dependents") or []
    text = sections(
        ("", fields(data, [("submission_id", "submission"), ("status", "status")])),
        ("comes from:", table(up, brief) if up else ""),
        ("recoveries:", table(recoveries, brief) if recoveries else ""),
        ("dependents:", table(dependents, brief) if dependents else ""),
    )
    return Shown(data, text)


def control(args: argparse.Namespace, client: Client) -> Shown:
    if args.verb in CONFIRMED:
        confirm(args, f"{args.verb} submission {args.id}?")
    data = client.call("POST", f"/submissions/{args.id}/{args.verb}").json()
    return Shown(data, f"submission {args.id}: {args.verb} requested")


def recover(args: argparse.Namespace, client: Client) -> Shown:
    where = f"/submissions/{args.id}"
    if args.preview:
        data = client.call("GET", f"{where}/recovery-preview", params={"type": args.rtype}).json()
        return Shown(data, preview_text(data))
    rtype = args.rtype
    if not rtype:
        steps = client.call("GET", f"{where}/recovery-preview").json().get("steps") or []
        if not steps:
            raise UsageError(
                f"submission {args.id} has no recovery step left; name one with --type"
            )
        rtype = steps[0]["recovery_type"]
    data = client.call("POST", f"{where}/recover", json_body={"recovery_type": rtype}).json()
    return Shown(data, launch_text(data, f"a {rtype} recovery of submission {args.id}"))


def preview_text(data: dict[str, Any]) -> str:
    columns = [
        ("position", "STEP"),
        ("recovery_type", "TYPE"),
        ("examines", "EXAMINES"),
        ("count", "FILES"),
        ("jobs", "JOBS"),
        ("would_hold", "HELD"),
        ("note", "NOTE"),
    ]
    head = f"recovery of submission {data.get('submission_id')}"
    head += f" (original {data.get('original')}, next step {data.get('next_position')})"
    return f"{head}\n{table(data.get('steps') or [], columns, empty='(no steps left)')}"
