"""``checkpoint``: the benchmarks flush the server's buffers before each timed run."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from poms_shared.db.session import Database
from poms_shared.testing.db import checkpoint
from poms_shared.testing.stack import free_port

pytestmark = pytest.mark.integration


def checkpoints(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            done: int = conn.execute(
                text("select checkpoints_timed + checkpoints_req from pg_stat_bgwriter")
            ).scalar_one()
            return done
    finally:
        engine.dispose()


def test_a_checkpoint_is_run_and_a_refused_one_says_why(pg_database: Database) -> None:
    base = make_url(pg_database.url).set(query={})
    url = base.render_as_string(hide_password=False)
    before = checkpoints(url)
    assert checkpoint(url) is None
    assert checkpoints(url) > before

    role = f"poms_plain_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{role}'"))
    try:
        plain = base.set(username=role, password=role).render_as_string(hide_password=False)
        assert "CHECKPOINT" in (checkpoint(plain) or "").upper()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()

    nobody = base.set(host="127.0.0.1", port=free_port()).render_as_string(hide_password=False)
    assert checkpoint(nobody)  # no server there: the reason, not an exception
