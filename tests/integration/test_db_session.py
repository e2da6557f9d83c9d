"""How the PostgreSQL engine talks to the server."""

from __future__ import annotations

from typing import Any

import psycopg2.extensions
from sqlalchemy import select

from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.demo.load import load_samples
from poms_shared.testing.submissions import add_submissions


class Trips(psycopg2.extensions.cursor):
    """A cursor counting the statements it sends: an executemany sends one per row."""

    sent = 0

    def execute(self, query: Any, vars: Any = None) -> Any:
        Trips.sent += 1
        return super().execute(query, vars)

    def executemany(self, query: Any, vars_list: Any) -> Any:
        vars_list = list(vars_list)
        Trips.sent += len(vars_list)
        return super().executemany(query, vars_list)


def test_a_flush_that_updates_many_rows_sends_them_in_pages(pg_database: Database) -> None:
    """A micro-batch moves hundreds of submissions at once: their UPDATEs go to the
    server a page at a time, not one round trip each."""
    with pg_database.transaction() as session:
        load_samples(session)
        stage = session.scalars(select(CampaignStage)).first()
        assert stage is not None
        sids = add_submissions(session, stage.campaign_stage_id, 250)
    counted = Database(pg_database.url, connect_args={"cursor_factory": Trips})
    try:
        with counted.transaction() as session:
            rows = session.scalars(select(Submission).where(Submission.submission_id.in_(sids)))
            for row in rows:
                row.submission_params = {**row.submission_params, "paged": row.submission_id}
            Trips.sent = 0
            session.flush()
            assert Trips.sent < 10
    finally:
        counted.dispose()
    with pg_database.transaction() as session:
        params = session.scalars(
            select(Submission.submission_params).order_by(Submission.submission_id)
        )
        assert [p.get("paged") for p in params] == sids
