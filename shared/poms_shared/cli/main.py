# PYTHON_ARGCOMPLETE_OK
"""``poms``: the POMS command line.

  poms <noun> <verb> …   campaigns, stages, submissions and the rest, over the REST API
  poms admin …           bootstrap experiments, users, memberships and API tokens (database)

Exit status: 0 done, 1 refused or failed (the message says why), 2 bad usage,
3 the server cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import argcomplete

from poms_shared.cli import admin, campaign, people, stage, submission, templates
from poms_shared.cli.base import COMMON, Cancelled, Refused, UsageError
from poms_shared.cli.client import ApiError, Client, Unreachable
from poms_shared.cli.config import ConfigError, config_path, load_config
from poms_shared.cli.output import as_json

OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3

DESCRIPTION = """\
Drive POMS — campaigns, stages, submissions — from the shell.

The server, your API token and where you act come from ~/.config/poms/config.toml
(or $POMS_CONFIG: url = "...", token = "...", experiment = "...", role = "..."),
then POMS_URL, POMS_TOKEN (or POMS_TOKEN_FILE), POMS_EXPERIMENT, POMS_ROLE, then the
--url, --experiment and --role options."""

EPILOG = """\
examples:
  poms me                                   who am I, where may I act as what
  poms campaign list                        campaigns of my experiment
  poms campaign upload nu_flux.ini          create or update a campaign
  poms campaign launch nu_flux --test
  poms stage launch 12 --dataset my_files
  poms submission list --campaign nu_flux --status Running
  poms submission show 4211 --json | jq .why
  poms submission kill 4211

Run 'poms NOUN --help' for what a noun can do. Exit status: 0 done, 1 refused or
failed, 2 bad usage, 3 the server cannot be reached.
Shell completion: eval "$(register-python-argcomplete poms)\""""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="poms",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[COMMON],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nouns = top.add_subparsers(dest="noun", required=True, metavar="NOUN", title="nouns")
    campaign.add_parser(nouns)
    stage.add_parser(nouns)
    submission.add_parser(nouns)
    templates.add_parser(nouns)
    people.add_parser(nouns)
    admin.add_parser(nouns)
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    _completion(top)
    args = top.parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return run_api(args)
    try:
        out: Any = args.run(args)
    except Refused as exc:
        print(f"poms: {exc}", file=sys.stderr)
        return 1
    if out:
        print(out)
    return 0


def client_for(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Client:
    """The client the options, environment and config file describe."""
    options = {name: getattr(args, name, None) for name in ("url", "experiment", "role")}
    config = load_config(env, options)
    return Client(config.url, config.token, experiment=config.experiment, role=config.role)


def run_api(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one REST command: print its result, map failures to the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    env = os.environ if env is None else env
    try:
        client = client_for(args, env)
        shown = args.handler(args, client)
    except ConfigError as exc:
        print(f"poms: {exc}", file=err)
        return USAGE
    except UsageError as exc:
        print(f"poms: {exc}", file=err)
        return USAGE
    except Cancelled as exc:
        print(f"poms: {exc}", file=err)
        return FAILED
    except Unreachable as exc:
        print(unreachable_message(exc, env), file=err)
        return UNREACHABLE
    except ApiError as exc:
        print(f"poms: {exc.message}{hint(exc, client)}", file=err)
        return FAILED
    except KeyboardInterrupt:
        print("poms: interrupted", file=err)
        return 130
    with contextlib.suppress(BrokenPipeError):  # `poms … | head`
        print(as_json(shown.data) if getattr(args, "json", False) else shown.text, file=out)
    return OK


def unreachable_message(exc: Unreachable, env: Mapping[str, str]) -> str:
    return (
        f"poms: cannot reach the POMS server at {exc.url} ({exc.reason}).\n"
        f"Is it running there? Check POMS_URL, --url or 'url' in {config_path(env)}."
    )


def hint(exc: ApiError, client: Client) -> str:
    """What to do about a refusal, when the status says it plainly."""
    if exc.status == 401 and not client.token:
        return (
            "\n(no API token was sent: set POMS_TOKEN, POMS_TOKEN_FILE or 'token' in the"
            " config file; 'poms admin token USER --name …' makes one)"
        )
    return ""


def _completion(top: argparse.ArgumentParser) -> None:
    """Shell completion: ``eval "$(register-python-argcomplete poms)"`` in the shell's rc."""
    argcomplete.autocomplete(top)
