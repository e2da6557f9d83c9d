"""``poms login-setup …`` and ``poms job-type …``: where and as whom stages launch, and
what they launch."""

from __future__ import annotations

import argparse
import time
from typing import Any

from poms_shared.cli.base import (
    VALUE_HELP,
    Handler,
    add_yes,
    confirm,
    get_list,
    key_values,
    noun,
    verb,
)
from poms_shared.cli.client import ApiError, Client
from poms_shared.cli.output import Shown, fields, listing, sections, table
from poms_shared.cli.stage import launch_text

LOGIN_SETUP_COLUMNS = [
    ("login_setup_id", "ID"),
    ("name", "NAME"),
    ("launch_host", "HOST"),
    ("launch_account", "ACCOUNT"),
    ("creator", "CREATOR"),
    ("active", "ACTIVE"),
]
JOB_TYPE_COLUMNS = [
    ("job_type_id", "ID"),
    ("name", "NAME"),
    ("launch_script", "LAUNCH SCRIPT"),
    ("output_file_patterns", "OUTPUTS"),
    ("creator", "CREATOR"),
    ("active", "ACTIVE"),
]
RECOVERY_COLUMNS = [("position", "#"), ("recovery_type", "TYPE"), ("param_overrides", "OVERRIDES")]
TEST_POLL = 1.0  # seconds between looks at a running login setup test
TEST_WAIT = 300.0


def add_parser(nouns: Any) -> None:
    _crud(
        nouns,
        "login-setup",
        "/login-setups",
        "login setups: the host, account and setup commands of launches",
        LOGIN_SETUP_COLUMNS,
        "launch_host=gpvm01.fnal.gov launch_account=novapro 'launch_setup=source setup.sh'",
    )
    p = _crud(
        nouns,
        "job-type",
        "/job-types",
        "job types: launch script, parameters, outputs, recovery plan",
        JOB_TYPE_COLUMNS,
        'launch_script=fife_launch \'definition_parameters=[["-c ", "cfg.ini"]]\'',
    )
    r = verb(p, "recoveries", recoveries, "show or replace a job type's recovery plan")
    r.add_argument("id", type=int)
    r.add_argument(
        "plan",
        nargs="*",
        metavar="TYPE",
        help="recovery types in order (e.g. added_files consumed_status); none: show the plan",
    )


def _crud(
    nouns: Any, name: str, where: str, text: str, columns: list[tuple[str, str]], sample: str
) -> Any:
    verbs = noun(nouns, name, text)
    verb(verbs, "list", _lister(where, columns), f"list the experiment's {name}s", paged=True)
    p = verb(verbs, "show", _shower(where), f"one {name}")
    p.add_argument("id", type=int)
    examples = f"examples:\n  poms {name} create my_{name.replace('-', '_')} {sample}\n"
    p = verb(verbs, "create", _creator(where, name), f"create a {name}", epilog=examples)
    p.add_argument("name")
    p.add_argument("settings", nargs="*", metavar="KEY=VALUE", help=VALUE_HELP)
    p = verb(verbs, "edit", _editor(where, name), f"change a {name}")
    p.add_argument("id", type=int)
    p.add_argument("settings", nargs="+", metavar="KEY=VALUE", help=VALUE_HELP)
    p = verb(verbs, "delete", _deleter(where, name), f"delete a {name} no stage uses")
    p.add_argument("id", type=int)
    add_yes(p)
    tester = test_login_setup if name == "login-setup" else test_job_type
    p = verb(verbs, "test", tester, f"try a {name}")
    p.add_argument("id", type=int)
    if name == "login-setup":
        p.add_argument("--wait", action="store_true", help="wait for the test, print its log")
    else:
        p.add_argument("--dataset", help="dataset of the test launch")
    return verbs


def _lister(where: str, columns: list[tuple[str, str]]) -> Handler:
    def run(args: argparse.Namespace, client: Client) -> Shown:
        data = get_list(client, where, args, {"experiment": client.experiment})
        return listing(columns)(data)

    return run


def _shower(where: str) -> Handler:
    def run(args: argparse.Namespace, client: Client) -> Shown:
        data = client.call("GET", f"{where}/{args.id}").json()
        plan = data.get("recoveries") if isinstance(data, dict) else None
        text = sections(
            ("", fields(data)),
            ("recoveries:", table(plan, RECOVERY_COLUMNS) if plan else ""),
        )
        return Shown(data, text)

    return run


def _creator(where: str, name: str) -> Handler:
    def run(args: argparse.Namespace, client: Client) -> Shown:
        body = {**key_values(args.settings), "name": args.name}
        data = client.call("POST", where, json_body=body).json()
        ident = data.get(f"{name.replace('-', '_')}_id") if isinstance(data, dict) else None
        return Shown(data, f"{name} {args.name} created" + (f" (id {ident})" if ident else ""))

    return run


def _editor(where: str, name: str) -> Handler:
    def run(args: argparse.Namespace, client: Client) -> Shown:
        body = key_values(args.settings)
        data = client.call("PATCH", f"{where}/{args.id}", json_body=body).json()
        changed = data.get("changed") if isinstance(data, dict) else None
        names = ", ".join(changed) if isinstance(changed, list | dict) and changed else "nothing"
        return Shown(data, f"{name} {args.id}: changed {names}")

    return run


def _deleter(where: str, name: str) -> Handler:
    def run(args: argparse.Namespace, client: Client) -> Shown:
        confirm(args, f"delete {name} {args.id}?")
        data = client.call("DELETE", f"{where}/{args.id}").data()
        return Shown(data, f"{name} {args.id} deleted")

    return run


def test_login_setup(args: argparse.Namespace, client: Client) -> Shown:
    data = client.call("POST", f"/login-setups/{args.id}/test").json()
    if not args.wait:
        text = f"test of login setup {args.id} started; its log: {data.get('log_url')}"
        return Shown(data, text + "\n(--wait waits for it and prints the log)")
    log_path = str(data["log_url"]).removeprefix("/api/v1")
    deadline = time.monotonic() + TEST_WAIT
    text, outcome = "", "running"
    while outcome == "running" and time.monotonic() < deadline:
        time.sleep(TEST_POLL)
        try:
            answer = client.call("GET", log_path)
        except ApiError as exc:
            if exc.status != 404:  # 404: the launcher has not started the test yet
                raise
            continue
        text, outcome = answer.text, answer.header("X-POMS-Outcome", "running")
    result = {**data, "outcome": outcome, "log": text}
    return Shown(result, f"{text.rstrip()}\n== login setup test: {outcome} ==")


def test_job_type(args: argparse.Namespace, client: Client) -> Shown:
    body = {"dataset": args.dataset} if args.dataset else {}
    data = client.call("POST", f"/job-types/{args.id}/test", json_body=body).json()
    return Shown(data, launch_text(data, f"the test stage of job type {args.id}"))


def recoveries(args: argparse.Namespace, client: Client) -> Shown:
    where = f"/job-types/{args.id}/recoveries"
    if args.plan:
        body = {"recoveries": [{"recovery_type": t, "param_overrides": []} for t in args.plan]}
        data = client.call("PUT", where, json_body=body).json()
    else:
        data = client.call("GET", where).json()
    rows = data.get("recoveries", data.get("items")) if isinstance(data, dict) else data
    return Shown(data, table(rows or [], RECOVERY_COLUMNS, empty="(no recovery plan)"))
