"""What every REST command of ``poms`` shares: options, verbs, paging, ``key=value``
arguments and confirmation."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from poms_shared.cli.client import Client, Params
from poms_shared.cli.output import Shown

Handler = Callable[[argparse.Namespace, Client], Shown]
VALUE_HELP = (
    "a value is JSON when it parses as JSON (80, true, null, [...]), else text;"
    " quote text that looks like JSON: 'key=\"80\"'"
)
ALL_PAGES_LIMIT = 1000  # pages fetched by --all-pages at most (a runaway guard)


class UsageError(Exception):
    """The command line asks for something that cannot be done as written (exit 2)."""


class Refused(Exception):
    """A command was refused or failed (the message says why): exit status 1."""


class Cancelled(Exception):
    """The person answered no when asked to confirm (exit 1)."""


def common_options() -> argparse.ArgumentParser:
    """Options accepted before the noun and after the verb alike.

    Their defaults are SUPPRESS so that a verb's parser never hides a value given before
    the noun; read them with ``getattr(args, name, None)``."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--url", default=argparse.SUPPRESS, help="POMS server (or POMS_URL)")
    group.add_argument(
        "--experiment", "-e", default=argparse.SUPPRESS, help="act in this experiment"
    )
    group.add_argument("--role", "-r", default=argparse.SUPPRESS, help="act as this role")
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the server's JSON instead of a table",
    )
    return common


COMMON = common_options()


def noun(nouns: Any, name: str, help_text: str, description: str | None = None) -> Any:
    """A noun's parser and the sub-parsers for its verbs."""
    parser = nouns.add_parser(
        name,
        help=help_text,
        description=description or help_text[:1].upper() + help_text[1:] + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.add_subparsers(dest="verb", required=True, metavar="VERB")


def verb(
    verbs: Any,
    name: str,
    handler: Handler,
    help_text: str,
    *,
    paged: bool = False,
    epilog: str | None = None,
    aliases: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A verb calling ``handler(args, client)``; ``paged`` adds the paging options."""
    parser: argparse.ArgumentParser = verbs.add_parser(
        name,
        help=help_text,
        description=help_text[:1].upper() + help_text[1:] + ".",
        epilog=epilog,
        parents=[COMMON],
        aliases=list(aliases),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    if paged:
        paging = parser.add_argument_group("paging")
        paging.add_argument("--page", type=positive, help="page to show (from 1)")
        paging.add_argument("--per-page", type=positive, help="items per page (up to 1000)")
        paging.add_argument("--all-pages", action="store_true", help="fetch every page")
    return parser


def positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"a whole number from 1, not {raw!r}")
    return int(raw)


def get_list(
    client: Client, path: str, args: argparse.Namespace, params: Params | None = None
) -> Any:
    """A list endpoint's answer: the page asked for, or every page with ``--all-pages``."""
    query: dict[str, Any] = dict(params or {})
    query["page"] = getattr(args, "page", None)
    query["per_page"] = getattr(args, "per_page", None)
    first = client.call("GET", path, params=query).json()
    if not getattr(args, "all_pages", False) or not isinstance(first, dict):
        return first
    items = list(first.get("items", []))
    page, pages = int(first.get("page", 1)), int(first.get("pages", 1))
    while page < min(pages, ALL_PAGES_LIMIT):
        page += 1
        more = client.call("GET", path, params={**query, "page": page}).json()
        items.extend(more.get("items", []))
        pages = int(more.get("pages", pages))
    return {**first, "items": items, "page": 1, "pages": 1, "per_page": len(items)}


def value_of(raw: str) -> Any:
    """A ``key=value`` value: JSON when it parses (numbers, true, null, lists), else text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def key_values(pairs: Sequence[str]) -> dict[str, Any]:
    """``["a=1", "b=x y"]`` → ``{"a": 1, "b": "x y"}``; UsageError naming a bad pair."""
    return {key.strip(): value_of(raw) for key, raw in split_pairs(pairs)}


def split_pairs(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """Each ``key=value`` split at its first ``=``, the key kept as written."""
    found = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected key=value, not {pair!r}")
        found.append((key, raw))
    return found


def confirm(args: argparse.Namespace, question: str) -> None:
    """Ask ``question`` unless ``--yes``; Cancelled on anything but yes."""
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} — not asked without a terminal; add --yes to go ahead")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Cancelled("nothing done")


def add_yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def answer_json(client: Client, method: str, path: str, **kwargs: Any) -> Any:
    """The JSON (or text) answer of one call."""
    return client.call(method, path, **kwargs).data()
