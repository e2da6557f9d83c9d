"""Submissions with input files, for tests of what becomes of their inputs."""

from __future__ import annotations

from sqlalchemy import select

from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import File, Submission, SubmissionFile
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus


def make_submission(db: Database, inputs: list[str]) -> int:
    """A New submission of the demo 'simulate' stage with the given input files."""
    with db.transaction() as session:
        load_samples(session)
        stage = session.scalars(
            select(CampaignStage)
            .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
            .where(Campaign.name == DEMO_CAMPAIGN, CampaignStage.name == "simulate")
        ).one()
        sub = Submission(
            campaign_stage_id=stage.campaign_stage_id,
            launcher="poms",
            status_id=int(SubmissionStatus.NEW),
            submission_params={},
        )
        session.add(sub)
        session.flush()
        record_status(session, sub, SubmissionStatus.NEW, reason="test")
        files = [File(experiment=DEMO_EXPERIMENT, name=n, location=f"/in/{n}") for n in inputs]
        session.add_all(files)
        session.flush()
        session.add_all(
            SubmissionFile(submission_id=sub.submission_id, file_id=f.file_id) for f in files
        )
        return sub.submission_id
