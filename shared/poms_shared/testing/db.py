"""Throw-away migrated databases for tests: a SQLite file, or a private PostgreSQL schema.

PostgreSQL comes from ``POMS_TEST_DATABASE_URL`` or the local server (started with
``pg_ctlcluster`` if it is down); each use gets its own schema, dropped afterwards, so runs
never see each other's rows. ``DatabaseUnavailable`` says why no server could be reached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from poms_shared.db.migrate import upgrade
from poms_shared.db.session import Database

ENV_URL = "POMS_TEST_DATABASE_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT = 30.0


class DatabaseUnavailable(RuntimeError):
    """No database server could be reached; the message says which and why."""


@contextmanager
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database in a file under ``tmp_path``."""
    database = Database(f"sqlite:///{tmp_path / 'poms.sqlite'}")
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.dispose()


@contextmanager
def postgres_database(url: str | None = None) -> Iterator[Database]:
    """A migrated PostgreSQL database living in a fresh schema that is dropped on exit."""
    base = url or os.environ.get(ENV_URL) or DEFAULT_POSTGRES_URL
    admin = _reachable(base)
    schema = f"poms_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        database = Database(with_search_path(base, schema))
        try:
            upgrade(database.engine)
            yield database
        finally:
            database.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def checkpoint(url: str | None = None) -> str | None:
    """Have the server write back now what earlier work left in its buffers (``CHECKPOINT``),
    so that write-back does not land in the middle of the next timed run. None when done;
    otherwise why not (a role that may not checkpoint, no server): the caller goes on."""
    base = url or os.environ.get(ENV_URL) or DEFAULT_POSTGRES_URL
    engine = create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
    except (OperationalError, ProgrammingError) as exc:
        return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    finally:
        engine.dispose()
    return None


def with_search_path(url: str, schema: str) -> str:
    """``url`` with a libpq option making ``schema`` the only schema on the search path."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def _reachable(url: str) -> Engine:
    """An engine for ``url`` that has answered once, starting a local cluster if needed."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        _ping(engine)
        return engine
    except OperationalError as exc:
        first_error = exc
    if _start_local_cluster(url):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                _ping(engine)
                return engine
            except OperationalError:
                time.sleep(0.5)
    engine.dispose()
    where = make_url(url).render_as_string(hide_password=True)
    reason = str(first_error.orig).strip().splitlines()[0] if first_error.orig else "no answer"
    raise DatabaseUnavailable(f"cannot connect to {where}: {reason}")


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("select 1"))


def _start_local_cluster(url: str) -> bool:
    """Try ``pg_ctlcluster <version> main start`` for a local server; True if tried."""
    if make_url(url).host not in ("127.0.0.1", "localhost", None):
        return False
    clusters = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") is None or not clusters.is_dir():
        return False
    for version in sorted(p.name for p in clusters.iterdir()):
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"]
        subprocess.run(command, capture_output=True, timeout=60, check=False)
    return True
