"""Campaign-manager handlers: load → decide (domain) → save → emit."""

from __future__ import annotations

import logging

from poms_campaign_manager.adapters import repository as repo
from poms_campaign_manager.domain.dependents import plan_dependent_launches
from poms_shared.contracts.messages import (
    CampaignCompleted,
    LaunchCampaign,
    LaunchStage,
    LaunchSubmission,
    SubmissionLocated,
)
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignStage
from poms_shared.db.tables import Submission
from poms_shared.domain.dag import campaign_done, choose_leading_stage
from poms_shared.runtime.service import HandlerRegistry

log = logging.getLogger(__name__)


def launch_campaign(cmd: LaunchCampaign, *, uow: UnitOfWork) -> None:
    """Launch the campaign's unique leading stage."""
    campaign = repo.get_campaign(uow.session, cmd.campaign_id)
    stages = {s.campaign_stage_id: s.name for s in campaign.stages}
    leader = choose_leading_stage(
        campaign.name, stages, repo.campaign_edges(uow.session, [*stages])
    )
    stage = repo.get_stage(uow.session, leader, lock=True)
    _launch(uow, stage, launcher=cmd.launcher, dataset=None, test=cmd.test)


def launch_stage(cmd: LaunchStage, *, uow: UnitOfWork) -> None:
    """Launch one stage, on a dataset override when given."""
    stage = repo.get_stage(uow.session, cmd.stage_id, lock=True)
    _launch(
        uow,
        stage,
        launcher=cmd.launcher,
        dataset=cmd.dataset_override,
        test=cmd.test,
        parent=cmd.parent_submission_id,
    )


def _launch(
    uow: UnitOfWork,
    stage: CampaignStage,
    *,
    launcher: str,
    dataset: str | None,
    test: bool,
    parent: int | None = None,
) -> Submission:
    submission = repo.allocate_submission(
        uow.session,
        stage,
        launcher=launcher,
        dataset=dataset,
        test=test,
        parent_submission_id=parent,
    )
    uow.emit(LaunchSubmission(submission_id=submission.submission_id))
    log.info("stage %s: submission %s allocated", stage.name, submission.submission_id)
    return submission


def on_submission_located(evt: SubmissionLocated, *, uow: UnitOfWork) -> None:
    """Launch every dependent stage on the matching outputs; note when the campaign is done."""
    submission = uow.session.get(Submission, evt.submission_id)
    if submission is None:
        raise LookupError(f"submission {evt.submission_id} does not exist")
    # Dependents always build on the original submission, never on a recovery child.
    original = submission
    if submission.recovery_parent_id is not None:
        original = uow.session.get(Submission, submission.recovery_parent_id) or submission
    stage = repo.get_stage(uow.session, original.campaign_stage_id, lock=True)
    edges = repo.campaign_edges(uow.session, [stage.campaign_stage_id])
    plans = plan_dependent_launches(
        original.submission_id,
        stage.campaign_stage_id,
        edges,
        stage.creator_role,
        original.launcher,
    )
    test = bool(original.submission_params.get("test"))
    for plan in plans:
        if plan.dataset_name is not None:
            count = repo.define_dependency_dataset(
                uow.session, original, plan.dataset_name, plan.file_patterns, original.launcher
            )
            log.info("dataset %s defined with %d files", plan.dataset_name, count)
        target = repo.get_stage(uow.session, plan.stage_id, lock=True)
        _launch(
            uow,
            target,
            launcher=original.launcher,
            dataset=plan.dataset_name,
            test=test,
            parent=original.submission_id,
        )
    if not plans and stage.campaign_id is not None:
        _maybe_campaign_done(uow, stage.campaign_id)


def _maybe_campaign_done(uow: UnitOfWork, campaign_id: int) -> None:
    campaign = repo.get_campaign(uow.session, campaign_id)
    stage_ids = [s.campaign_stage_id for s in campaign.stages]
    located, active = repo.located_submissions(uow.session, stage_ids)
    if campaign_done(stage_ids, located, active):
        uow.emit(CampaignCompleted(campaign_id=campaign_id))
        log.info("campaign %s is done", campaign.name)


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(LaunchCampaign, launch_campaign)
    registry.register(LaunchStage, launch_stage)
    registry.register(SubmissionLocated, on_submission_located)
    return registry
