"""Migrations from an empty database, on SQLite and PostgreSQL, match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from poms_shared.db import models, tables  # noqa: F401  (register every table)
from poms_shared.db.base import Base
from poms_shared.db.migrate import downgrade, upgrade
from poms_shared.domain.statuses import SubmissionStatus


# SQLite cannot reflect the expression index on the ``parent`` launch parameter (0008);
# PostgreSQL compares it.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrated_schema_has_every_model_table_and_no_drift(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
    assert diff == [], f"models and migrations disagree: {diff}"


def test_status_vocabulary_is_seeded_with_the_ordered_ids(database):
    with database.engine.connect() as conn:
        rows = dict(conn.execute(text("select status_id, status from submission_statuses")).all())
        kinds = set(conn.execute(text("select name from recovery_types")).scalars())
    assert rows == {int(s): s.label for s in SubmissionStatus}
    assert kinds == {
        "added_files",
        "consumed_status",
        "delivered_not_consumed",
        "pending_files",
        "process_status",
    }


def test_downgrade_to_empty_and_upgrade_again(database):
    downgrade(database.engine, "base")
    with database.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(database.engine)
    with database.engine.connect() as conn:
        assert "submissions" in inspect(conn).get_table_names()
        count = conn.execute(text("select count(*) from submission_statuses")).scalar()
    assert count == len(SubmissionStatus)
