"""``GET /api/v1/submissions/<id>/lineage`` on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import load_settings
from poms_web.app import create_app


def test_lineage_names_recoveries_upstream_and_dependents(database: Database, tmp_path: Path):
    with database.transaction() as session:
        load_samples(session)
        stages = {s.name: s.campaign_stage_id for s in session.scalars(select(CampaignStage))}

        def add(stage: str, **kw) -> int:
            sub = Submission(
                campaign_stage_id=stages[stage],
                launcher="poms",
                status_id=int(SubmissionStatus.LOCATED),
                **kw,
            )
            session.add(sub)
            session.flush()
            return sub.submission_id

        original = add("simulate", submission_params={"dataset": "d"})
        recovery = add(
            "simulate",
            recovery_parent_id=original,
            submission_params={"recovery_type": "consumed_status"},
        )
        dependent = add("reconstruct", submission_params={"parent": original})
        add("reconstruct", submission_params={"parent": recovery + 100})  # someone else's
    client = create_app(load_settings(var_dir=tmp_path), database).test_client()
    body = client.get(f"/api/v1/submissions/{original}/lineage").get_json()
    assert [r["submission_id"] for r in body["recoveries"]] == [recovery]
    assert body["recoveries"][0]["recovery_type"] == "consumed_status"
    assert [d["submission_id"] for d in body["dependents"]] == [dependent]
    assert body["recovery_parent"] is None and body["upstream"] is None
    child = client.get(f"/api/v1/submissions/{recovery}/lineage").get_json()
    assert child["recovery_parent"]["submission_id"] == original
    down = client.get(f"/api/v1/submissions/{dependent}/lineage").get_json()
    assert down["upstream"]["submission_id"] == original
    assert client.get("/api/v1/submissions/999999/lineage").status_code == 404
