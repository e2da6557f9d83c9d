"""Stages and submissions for tests: a bare stage, submissions with input files, and a
submission's status, params and history reasons."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage, JobType, LoginSetup
from poms_shared.db.session import Database
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import File, Submission, SubmissionFile, SubmissionHistory
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus


def bare_stage(session: Session, experiment: str) -> CampaignStage:
    """A stage ``s`` of no campaign, with a login setup ``l`` and a job type ``j``."""
    login = LoginSetup(experiment=experiment, name="l", launch_host="h", launch_account="a")
    job_type = JobType(experiment=experiment, name="j", launch_script="run")
    session.add_all([login, job_type])
    session.flush()
    stage = CampaignStage(
        experiment=experiment,
        name="s",
        job_type_id=job_type.job_type_id,
        login_setup_id=login.login_setup_id,
    )
    session.add(stage)
    session.flush()
    return stage


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


def submission_state(db: Database, sid: int) -> tuple[SubmissionStatus, dict[str, Any], list[str]]:
    """Status, params and the history reasons."""
    with db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        reasons = session.scalars(
            select(SubmissionHistory.reason)
            .where(SubmissionHistory.submission_id == sid)
            .order_by(SubmissionHistory.history_id)
        ).all()
        return (
            SubmissionStatus(sub.status_id),
            dict(sub.submission_params),
            [r or "" for r in reasons],
        )
