"""``poms campaign …`` and ``poms sample …``: campaigns, their .ini files, launches and
job control, and the sample campaigns to start from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from poms_shared.cli.base import (
    UsageError,
    add_yes,
    answer_json,
    confirm,
    get_list,
    noun,
    verb,
)
from poms_shared.cli.client import Client
from poms_shared.cli.output import Shown, fields, listing, sections, table

CAMPAIGN_COLUMNS = [
    ("name", "NAME"),
    ("experiment", "EXPERIMENT"),
    ("active", "ACTIVE"),
    ("stages", "STAGES"),
    ("state", "STATE"),
    ("tags", "TAGS"),
]
STAGE_COLUMNS = [
    ("stage_id", "ID"),
    ("name", "STAGE"),
    ("stage_type", "TYPE"),
    ("job_type", "JOB TYPE"),
    ("login_setup", "LOGIN SETUP"),
    ("latest.submission_id", "LAST SUBMISSION"),
    ("latest.status", "STATUS"),
]
EXAMPLES = """examples:
  poms campaign list --mine
  poms campaign upload nu_flux.ini
  poms campaign launch nu_flux --test
  poms campaign export nu_flux -o nu_flux.ini
"""


def path(name: str, *rest: str) -> str:
    return "/".join(["/campaigns", quote(name, safe=""), *(quote(r, safe="") for r in rest)])


def where(client: Client) -> dict[str, str | None]:
    """Campaign names are looked up in the experiment named in the query."""
    return {"experiment": client.experiment}


def add_parser(nouns: Any) -> None:
    verbs = noun(nouns, "campaign", "list, upload, launch and control campaigns")
    p = verb(verbs, "list", list_campaigns, "list campaigns", paged=True, epilog=EXAMPLES)
    p.add_argument("--all", action="store_true", help="inactive campaigns too")
    p.add_argument("--mine", action="store_true", help="only campaigns I created")
    p.add_argument("--tag", help="only campaigns with this tag")
    p.add_argument("--search", metavar="TEXT", help="names containing TEXT")
    p = verb(verbs, "show", show, "stages, dependencies and latest submissions of a campaign")
    p.add_argument("name")
    p = verb(verbs, "upload", upload, "create or update a campaign from an .ini file")
    p.add_argument("file", type=Path, help="the .ini file ('-' reads standard input)")
    p = verb(verbs, "export", export, "write a campaign as an .ini file")
    p.add_argument("name")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    p = verb(verbs, "launch", launch, "launch the campaign's leading stage")
    p.add_argument("name")
    p.add_argument("--test", action="store_true", help="a test launch")
    p = verb(verbs, "create", create, "create an empty campaign")
    p.add_argument("name")
    for name, handler, text in (
        ("clone", clone, "copy a campaign (stages and dependencies) under a new name"),
        ("rename", rename, "give a campaign a new name"),
    ):
        p = verb(verbs, name, handler, text)
        p.add_argument("name")
        p.add_argument("to", metavar="NEW_NAME")
    p = verb(verbs, "delete", delete, "delete a campaign")
    p.add_argument("name")
    add_yes(p)
    for name, text in (("activate", "make campaigns active"), ("deactivate", "retire campaigns")):
        p = verb(verbs, name, activate, text)
        p.add_argument("names", nargs="+", metavar="NAME")
    for name, handler, text in (
        ("tag", tag, "add a tag to a campaign"),
        ("untag", untag, "remove a tag from a campaign"),
    ):
        p = verb(verbs, name, handler, text)
        p.add_argument("name")
        p.add_argument("tag")
    for name, text in (
        ("pause", "hold every stage: launches queue up until resume"),
        ("resume", "release every stage and run the queued launches"),
    ):
        p = verb(verbs, name, pause, text)
        p.add_argument("name")
    p = verb(verbs, "kill", kill, "remove the batch jobs of every running submission")
    p.add_argument("name")
    add_yes(p)
    _sample_parser(nouns)


def _sample_parser(nouns: Any) -> None:
    verbs = noun(nouns, "sample", "sample campaigns to start a new one from")
    verb(verbs, "list", list_samples, "list the sample campaigns", paged=True)
    p = verb(verbs, "show", show_sample, "a sample campaign's stages and settings")
    p.add_argument("name")
    p = verb(verbs, "clone", clone_sample, "make a campaign of your own from a sample")
    p.add_argument("name")
    p.add_argument("to", metavar="NEW_NAME")


def list_campaigns(args: argparse.Namespace, client: Client) -> Shown:
    filters = {
        "active": "all" if args.all else None,
        "mine": args.mine,
        "tag": args.tag,
        "q": args.search,
        "experiment": client.experiment,
    }
    data = get_list(client, "/campaigns", args, filters)
    return listing(CAMPAIGN_COLUMNS, empty="(no campaigns)")(data)


def show(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("GET", path(args.name), params=where(client)).json()
    return Shown(data, describe(data))


def describe(data: dict[str, Any]) -> str:
    """A campaign for people: its fields, stage table and dependency lines."""
    stages = [
        {**s, "latest": (s.get("submissions") or [None])[-1]} for s in data.get("stages_detail", [])
    ]
    deps = "\n".join(
        f"  {d['upstream']} -> {d['downstream']}  ({cell_patterns(d.get('file_patterns'))})"
        for d in data.get("dependencies", [])
    )
    top = fields(
        data,
        [
            ("name", "campaign"),
            ("campaign_id", "id"),
            ("experiment", "experiment"),
            ("active", "active"),
            ("state", "state"),
            ("leading_stages", "leading stages"),
            ("tags", "tags"),
            ("keywords", "keywords"),
        ],
    )
    return sections(("", top), ("stages:", table(stages, STAGE_COLUMNS)), ("dependencies:", deps))


def cell_patterns(patterns: Any) -> str:
    if isinstance(patterns, list):
        return ", ".join(str(p) for p in patterns)
    return str(patterns or "%")


def upload(args: argparse.Namespace, client: Client) -> Shown:
    if str(args.file) == "-":
        raw = sys.stdin.buffer.read()
    else:
        try:
            raw = args.file.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    data = client.call(
        "POST", "/campaigns/ini", body=raw, content_type="text/plain; charset=utf-8"
    ).json()
    stages = data.get("stage_ids") or {}
    names = ", ".join(stages) if isinstance(stages, dict) else cell_patterns(stages)
    text = f"campaign {data.get('campaign')} saved (id {data.get('campaign_id')})"
    text += f"; stages: {names}" if names else ""
    for warning in data.get("warnings") or []:
        text += f"\nwarning: {warning}"
    return Shown(data, text)


def export(args: argparse.Namespace, client: Client) -> Shown:
    text = client.call("GET", path(args.name, "ini"), params=where(client)).text
    if args.output is None:
        return Shown({"campaign": args.name, "ini": text}, text.rstrip("\n"))
    args.output.write_text(text)
    return Shown({"campaign": args.name, "file": str(args.output)}, f"wrote {args.output}")


def launch(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call(
        "POST", path(args.name, "launch"), params=where(client), json_body={"test": args.test}
    ).json()
    kind = "test launch" if args.test else "launch"
    text = f"{kind} of campaign {args.name} accepted: leading stage {data.get('leading_stage')}"
    text += "\nfollow it with: poms submission list --campaign " + args.name
    return Shown(data, text)


def create(args: argparse.Namespace, client: Client) -> Shown:
    data = answer_json(client, "POST", "/campaigns", json_body={"name": args.name})
    return Shown(data, f"campaign {args.name} created (with a first stage, stage0)")


def clone(args: argparse.Namespace, client: Client) -> Shown:
    data = answer_json(
        client, "POST", path(args.name, "clone"), params=where(client), json_body={"to": args.to}
    )
    return Shown(data, f"campaign {args.name} copied to {args.to}")


def rename(args: argparse.Namespace, client: Client) -> Shown:
    data = answer_json(
        client, "POST", path(args.name, "rename"), params=where(client), json_body={"to": args.to}
    )
    return Shown(data, f"campaign {args.name} is now {args.to}")


def delete(args: argparse.Namespace, client: Client) -> Shown:
    confirm(args, f"delete campaign {args.name}?")
    data = answer_json(client, "DELETE", path(args.name), params=where(client))
    return Shown(data, data.get("message") or f"campaign {args.name} deleted")


def activate(args: argparse.Namespace, client: Client) -> Shown:
    active = args.verb == "activate"
    data = answer_json(
        client,
        "POST",
        "/campaigns/active",
        params=where(client),
        json_body={"campaigns": args.names, "active": active},
    )
    return Shown(data, active_text(data, active))


def active_text(data: dict[str, Any], active: bool) -> str:
    """What changed, what already was so, and what the caller may not change."""
    state = "active" if active else "inactive"
    lines = []
    for key, label in (("changed", f"now {state}"), ("unchanged", f"already {state}")):
        if data.get(key):
            lines.append(f"{label}: {', '.join(map(str, data[key]))}")
    refused = data.get("refused") or {}
    for name, why in refused.items() if isinstance(refused, dict) else ():
        lines.append(f"refused: {name}: {why}")
    return "\n".join(lines) or state


def tag(args: argparse.Namespace, client: Client) -> Shown:
    data = answer_json(client, "PUT", path(args.name, "tags", args.tag), params=where(client))
    return Shown(data, f"campaign {args.name} tagged {args.tag}")


def untag(args: argparse.Namespace, client: Client) -> Shown:
    data = answer_json(client, "DELETE", path(args.name, "tags", args.tag), params=where(client))
    return Shown(data, f"tag {args.tag} removed from campaign {args.name}")


def pause(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("POST", path(args.name, args.verb), params=where(client)).json()
    if args.verb == "pause":
        return Shown(data, f"campaign {args.name} paused: new launches wait until resume")
    replayed = data.get("replayed") or []
    return Shown(data, f"campaign {args.name} resumed; {len(replayed)} queued launch(es) run")


def kill(args: argparse.Namespace, client: Client) -> Shown:
    confirm(args, f"remove the batch jobs of every running submission of {args.name}?")
    data = client.call("POST", path(args.name, "jobs", "kill"), params=where(client)).json()
    ids = data.get("submission_ids") or []
    text = f"kill requested for {len(ids)} submission(s)"
    return Shown(data, text + (f": {', '.join(map(str, ids))}" if ids else ""))


def list_samples(args: argparse.Namespace, client: Client) -> Shown:
    data = get_list(client, "/sample-campaigns", args)
    columns = [("name", "NAME"), ("stages", "STAGES"), ("description", "DESCRIPTION")]
    return listing(columns, empty="(no sample campaigns)")(data)


def show_sample(args: argparse.Namespace, client: Client) -> Shown:
    """A sample is shown as its .ini text."""
    text = client.call("GET", f"/sample-campaigns/{quote(args.name, safe='')}").text
    return Shown({"sample": args.name, "ini": text}, text.rstrip("\n"))


def clone_sample(args: argparse.Namespace, client: Client) -> Shown:
    data = answer_json(
        client,
        "POST",
        f"/sample-campaigns/{quote(args.name, safe='')}/clone",
        json_body={"to": args.to, "rename": args.name},  # the whole name replaced
    )
    return Shown(data, f"campaign {data.get('campaign', args.to)} made from sample {args.name}")
