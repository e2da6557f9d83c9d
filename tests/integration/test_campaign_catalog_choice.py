"""``POMS_CATALOG=samweb``: split decisions of the campaign manager ask SAM, and a SAM
failure refuses the launch with the reason instead of launching half of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from poms_campaign_manager import handlers
from poms_shared.contracts.messages import LaunchStage, LaunchSubmission
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import LaunchRequest, Submission
from poms_shared.demo.load import load_samples
from poms_shared.settings import load_settings
from poms_shared.testing.fake_samweb import FakeSamweb


@pytest.fixture
def sam() -> Iterator[FakeSamweb]:
    with FakeSamweb() as fake:
        world = fake.world("demo")
        for i in range(5):
            world.add_file(f"raw_{i}.root")
        world.define("raw", "file_name raw_%.root")
        yield fake


def stage_on_sam(database: Database, split: str) -> int:
    with database.transaction() as session:
        load_samples(session)
        stage = session.scalars(select(CampaignStage).where(CampaignStage.name == "simulate")).one()
        stage.cs_split_type = split
        stage.dataset = "raw"
        return stage.campaign_stage_id


def launch(database: Database, stage_id: int, settings) -> tuple[list, LaunchRequest]:
    with database.transaction() as session:
        session.add(LaunchRequest(request_id="r1", campaign_stage_id=stage_id, actor="poms"))
        session.flush()
        uow = UnitOfWork(session)
        cmd = LaunchStage(stage_id=stage_id, launcher="poms", request_id="r1")
        handlers.launch_stage(cmd, uow=uow, settings=settings)
        request = session.get(LaunchRequest, "r1")
        assert request is not None
        session.expunge(request)
        return [e for e in uow.emitted if isinstance(e.payload, LaunchSubmission)], request


def test_split_slices_come_from_sam_when_the_catalog_is_samweb(database, sam):
    stage_id = stage_on_sam(database, "nfiles(2)")
    settings = load_settings(catalog="samweb", sam_url=sam.url, sam_retries=0)
    launched, request = launch(database, stage_id, settings)
    assert request.outcome == "launched", request.error
    assert len(launched) == 1
    with database.transaction() as session:
        sub = session.get(Submission, request.submission_id)
        assert sub is not None
        slice_name = sub.submission_params["dataset"]
    # the slice was defined in SAM, not in the local catalog
    definition = sam.world("demo").definitions[slice_name]
    assert "raw_0.root" in definition.dims and "raw_1.root" in definition.dims
    assert "raw_2.root" not in definition.dims


def test_a_sam_outage_refuses_the_launch_with_the_reason(database, sam):
    stage_id = stage_on_sam(database, "nfiles(2)")
    sam.fail_next(count=50)
    settings = load_settings(catalog="samweb", sam_url=sam.url, sam_retries=0)
    launched, request = launch(database, stage_id, settings)
    assert launched == []
    assert request.outcome == "failed"
    assert request.error and request.error.startswith("data catalog:")
    with database.transaction() as session:
        assert session.scalars(select(Submission)).all() == []
        stage = session.get(CampaignStage, stage_id)
        assert stage is not None and stage.cs_last_split is None  # nothing moved
