"""``poms-db``: migrate the configured database."""

from __future__ import annotations

import argparse
import sys

from poms_shared.db.migrate import upgrade
from poms_shared.db.session import make_engine
from poms_shared.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="poms-db", description="POMS database tools")
    parser.add_argument("action", choices=["upgrade"], help="apply every pending migration")
    parser.parse_args(argv)
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    except Exception as exc:  # report, never a traceback, for an operator command
        print(f"poms-db: migration failed: {exc}", file=sys.stderr)
        return 1
    print(f"poms-db: schema at head on {engine.url.render_as_string(hide_password=True)}")
    return 0
