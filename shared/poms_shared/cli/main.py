# PYTHON_ARGCOMPLETE_OK
"""``poms``: the POMS command line.

  poms admin …   bootstrap experiments, users, memberships and API tokens (database)

Exit status: 0 done, 1 refused or failed (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import argcomplete
from sqlalchemy.exc import SQLAlchemyError

from poms_shared.cli import admin
from poms_shared.db.identity import IdentityError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="poms",
        description="Drive POMS — campaigns, stages, submissions — from the shell.",
        epilog="Run 'poms NOUN --help' for what a noun can do.",
    )
    nouns = top.add_subparsers(dest="noun", required=True, metavar="NOUN")
    admin.add_parser(nouns)
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    _completion(top)
    args = top.parse_args(argv)
    try:
        out: Any = args.run(args)
    except IdentityError as exc:
        print(f"poms: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"poms: the database refused: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    if out:
        print(out)
    return 0


def _completion(top: argparse.ArgumentParser) -> None:
    """Shell completion: ``eval "$(register-python-argcomplete poms)"`` in the shell's rc."""
    argcomplete.autocomplete(top)
