"""The demo campaign's ``simulate`` stage run through SAM, for tests with POMS_CATALOG=samweb.

In the fake SAM (experiment ``demo``) project ``P`` ran on ``gen_def`` (gen_1..gen_5):

    gen_1 consumed   children sim_1.root, sim_1.log (v1_0, after the launch, located)
    gen_2 consumed   child sim_2.root (v1_0, after the launch, located)
    gen_3 consumed   child sim_3.root of another version (v0_9)
    gen_4 failed
    gen_5 never delivered

The ``simulate`` → ``reconstruct`` dependency takes ``sim_%.root``; the job type's outputs
are ``%.root``; the stage's version is ``v1_0``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from poms_shared.db.models import Campaign, CampaignStage, JobTypeRecovery, RecoveryType
from poms_shared.db.session import Database
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import Submission
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import Settings, load_settings
from poms_shared.testing.fake_samweb import FakeSamweb
from poms_shared.testing.sam_world import SamWorld

EXP = "demo"
PROJECT = "P"
LAUNCHED = datetime(2025, 3, 1, tzinfo=UTC)
AFTER = LAUNCHED + timedelta(hours=1)


def fill_world(sam: FakeSamweb) -> SamWorld:
    """Project ``P``'s inputs, deliveries and outputs as described above."""
    world = sam.world(EXP)
    for i in range(1, 6):
        world.add_file(f"gen_{i}")
    world.define("gen_def", "file_name gen_%")
    world.start_project(PROJECT, "gen_def")
    for name, state in [
        ("gen_1", "consumed"),
        ("gen_2", "consumed"),
        ("gen_3", "consumed"),
        ("gen_4", "failed"),
    ]:
        world.deliver(PROJECT, name, state)
    for name, parent, version in [
        ("sim_1.root", "gen_1", "v1_0"),
        ("sim_1.log", "gen_1", "v1_0"),
        ("sim_2.root", "gen_2", "v1_0"),
        ("sim_3.root", "gen_3", "v0_9"),
    ]:
        world.add_file(name, parents=[parent], version=version, created=AFTER)
    return world


def sam_settings(sam: FakeSamweb, **overrides: Any) -> Settings:
    """POMS_CATALOG=samweb against the fake server, failing fast."""
    return load_settings(catalog="samweb", sam_url=sam.url, sam_retries=0, **overrides)


def simulate_submission(
    db: Database,
    *,
    project: str | None = PROJECT,
    status: SubmissionStatus = SubmissionStatus.LOCATED,
    recoveries: tuple[str, ...] = (),
    **stage: Any,
) -> int:
    """A submission of the demo ``simulate`` stage on ``gen_def``, run as SAM project
    ``project``; the job type's recovery list and the stage are set as given."""
    with db.transaction() as session:
        load_samples(session)
        row = session.scalars(
            select(CampaignStage)
            .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
            .where(Campaign.name == DEMO_CAMPAIGN, CampaignStage.name == "simulate")
        ).one()
        for key, value in stage.items():
            setattr(row, key, value)
        types = {t.name: t.recovery_type_id for t in session.scalars(select(RecoveryType))}
        row.job_type.recoveries = [
            JobTypeRecovery(recovery_order=i, recovery_type_id=types[name], param_overrides=[])
            for i, name in enumerate(recoveries)
        ]
        sub = Submission(
            campaign_stage_id=row.campaign_stage_id,
            launcher="poms",
            status_id=int(status),
            submission_params={"dataset": "gen_def"},
            project=project,
            created=LAUNCHED,
        )
        session.add(sub)
        session.flush()
        record_status(session, sub, status, reason="test")
        return sub.submission_id


def stage_id_of(db: Database, name: str) -> int:
    with db.transaction() as session:
        return session.scalars(
            select(CampaignStage.campaign_stage_id)
            .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
            .where(Campaign.name == DEMO_CAMPAIGN, CampaignStage.name == name)
        ).one()
