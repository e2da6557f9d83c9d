"""Campaign-manager handlers: load → decide (domain) → save → emit."""

from __future__ import annotations

import logging
from dataclasses import replace

from poms_campaign_manager.adapters import recovery
from poms_campaign_manager.adapters import repository as repo
from poms_campaign_manager.domain.dependents import plan_dependent_launches
from poms_campaign_manager.domain.launching import LaunchKind, LaunchOptions, decide_launch
from poms_shared.catalog.factory import make_catalog
from poms_shared.catalog.facts import submission_facts
from poms_shared.catalog.port import CatalogError, RecoverySet
from poms_shared.contracts.messages import (
    CampaignCompleted,
    LaunchCampaign,
    LaunchStage,
    LaunchSubmission,
    RecoverSubmission,
    SubmissionLocated,
)
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignStage
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import Submission
from poms_shared.domain.dag import campaign_done, choose_leading_stage
from poms_shared.domain.recovery import RecoveryStep, check_recovery_type, examined, walk_recoveries
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.runtime.service import HandlerRegistry
from poms_shared.settings import Settings

log = logging.getLogger(__name__)


def launch_campaign(
    cmd: LaunchCampaign, *, uow: UnitOfWork, settings: Settings | None = None
) -> None:
    """Launch the campaign's unique leading stage."""
    campaign = repo.get_campaign(uow.session, cmd.campaign_id)
    stages = {s.campaign_stage_id: s.name for s in campaign.stages}
    edges = repo.campaign_edges(uow.session, [*stages])
    leader = choose_leading_stage(campaign.name, stages, edges)
    stage = repo.get_stage(uow.session, leader, lock=True)
    opts = LaunchOptions(launcher=cmd.launcher, test=cmd.test)
    launch_with_options(uow, stage, opts, settings=settings)


def launch_stage(cmd: LaunchStage, *, uow: UnitOfWork, settings: Settings | None = None) -> None:
    """Launch one stage; a waiting caller learns the outcome through its launch request."""
    try:
        stage = repo.get_stage(uow.session, cmd.stage_id, lock=True)
    except LookupError as exc:
        repo.finish_request(uow.session, cmd.request_id, "failed", error=str(exc))
        return
    opts = LaunchOptions(
        launcher=cmd.launcher,
        dataset=cmd.dataset_override,
        test=cmd.test,
        parent_submission_id=cmd.parent_submission_id,
        param_overrides=tuple(cmd.param_overrides),
        commands_only=cmd.commands_only,
        actor=cmd.actor,
        recovery_type=cmd.recovery_type,
    )
    launch_with_options(uow, stage, opts, request_id=cmd.request_id, settings=settings)


def launch_with_options(
    uow: UnitOfWork,
    stage: CampaignStage,
    opts: LaunchOptions,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> None:
    """Hold, park for approval, or allocate and hand to the launcher."""
    kind = decide_launch(
        stage_type=stage.campaign_stage_type,
        stage_held=stage.hold_experimenter_id is not None,
        globally_held=repo.globally_held(uow.session),
        commands_only=opts.commands_only,
    )
    if kind is LaunchKind.HOLD:
        held = repo.hold_launch(uow.session, stage, opts)
        repo.finish_request(uow.session, request_id, "held", held_launch_id=held.held_launch_id)
        log.info("stage %s: launch held (%s)", stage.name, held.held_launch_id)
        return
    try:
        catalog = make_catalog(settings or Settings(), uow.session, experiment=stage.experiment)
        dataset = repo.choose_dataset(uow.session, stage, opts, catalog)
    except repo.LaunchRefused as exc:
        repo.finish_request(uow.session, request_id, "failed", error=str(exc))
        log.warning("stage %s: launch refused: %s", stage.name, exc)
        return
    submission = repo.allocate_submission(uow.session, stage, replace(opts, dataset=dataset))
    repo.finish_request(uow.session, request_id, "launched", submission_id=submission.submission_id)
    if kind is LaunchKind.APPROVAL:
        record_status(
            uow.session,
            submission,
            SubmissionStatus.AWAITING_APPROVAL,
            reason="approval stage: waiting for a person",
        )
        return
    uow.emit(
        LaunchSubmission(submission_id=submission.submission_id, commands_only=opts.commands_only)
    )
    log.info("stage %s: submission %s allocated", stage.name, submission.submission_id)


def on_submission_located(
    evt: SubmissionLocated, *, uow: UnitOfWork, settings: Settings | None = None
) -> None:
    """Launch the next recovery if one has files; otherwise the dependent stages.

    Dependents always build on the original submission, never on a recovery child, and
    are launched once per original submission.
    """
    settings = settings or Settings()
    submission = uow.session.get(Submission, evt.submission_id)
    if submission is None:
        raise LookupError(f"submission {evt.submission_id} does not exist")
    original = recovery.lock_submission(
        uow.session, submission.recovery_parent_id or submission.submission_id
    )
    if original is None:
        raise LookupError(f"submission {submission.recovery_parent_id} does not exist")
    if settings.launch_recoveries and _recover_next(uow, original, submission, settings):
        return
    stage = repo.get_stage(uow.session, original.campaign_stage_id, lock=True)
    if original.submission_params.get("dependents_launched"):
        log.info("submission %s: dependents already launched", original.submission_id)
    else:
        original.submission_params = {**original.submission_params, "dependents_launched": True}
        if _launch_dependents(uow, original, stage, settings):
            return
    if stage.campaign_id is not None:
        _maybe_campaign_done(uow, stage.campaign_id)


def _recover_next(
    uow: UnitOfWork, original: Submission, current: Submission, settings: Settings
) -> bool:
    """Walk the job type's recovery list on from the original's position (§4.3); a
    catalog failure raises, so the Located event is retried, never the recovery skipped."""
    stage = repo.get_stage(uow.session, original.campaign_stage_id, lock=True)
    steps = recovery.recovery_steps(stage.job_type)
    start = original.recovery_position or 0
    if start >= len(steps):  # nothing left to ask the catalog about
        original.recovery_position = start
        return False
    catalog = make_catalog(settings, uow.session, experiment=stage.experiment)
    found: dict[int, RecoverySet] = {}

    def files_for(index: int, step: RecoveryStep) -> tuple[str, ...]:
        looked_at = examined(index, original, current)
        found[index] = recovery.recovery_set(catalog, looked_at, step.recovery_type)
        return found[index].files

    result = walk_recoveries(steps, start, files_for)
    original.recovery_position = result.position
    if result.launch is None:
        return False
    step = steps[result.launch]
    cap = settings.recovery_max_files
    too_many = cap > 0 and len(result.files) > cap
    note = f"{len(result.files)} files exceed the recovery cap of {cap}: held" if too_many else ""
    name = recovery.define_recovery_dataset(
        catalog, original, result.launch, found[result.launch], step.recovery_type, note
    )
    opts = _recovery_options(original, name, step.recovery_type, step.param_overrides)
    if too_many:
        held = repo.hold_launch(uow.session, stage, opts)
        log.warning("submission %s: %s (held launch %s)", original.submission_id, note, held)
        return True
    log.info(
        "submission %s: %s recovery of %d files",
        original.submission_id,
        step.recovery_type,
        len(result.files),
    )
    launch_with_options(uow, stage, opts, settings=settings)
    return True


def recover_submission(
    cmd: RecoverSubmission, *, uow: UnitOfWork, settings: Settings | None = None
) -> None:
    """A person's recovery of one type; refused with a reason when there is nothing to do
    or the catalog cannot be asked (the person sees why and may ask again)."""
    settings = settings or Settings()

    def refuse(reason: str) -> None:
        repo.finish_request(uow.session, cmd.request_id, "failed", error=reason)

    if not settings.launch_recoveries:
        return refuse("Recovery submissions are currently disabled.")
    try:
        kind = check_recovery_type(cmd.recovery_type)
    except ValueError as exc:
        return refuse(str(exc))
    submission = recovery.lock_submission(uow.session, cmd.submission_id)
    if submission is None:
        return refuse(f"submission {cmd.submission_id} does not exist")
    status = SubmissionStatus(submission.status_id)
    if status not in (SubmissionStatus.COMPLETED, SubmissionStatus.LOCATED):
        return refuse(
            f"submission {cmd.submission_id} is {status.label}; "
            "only Completed or Located submissions can be recovered"
        )
    original = submission
    if submission.recovery_parent_id is not None:
        original = uow.session.get(Submission, submission.recovery_parent_id) or submission
    try:
        catalog = make_catalog(settings, uow.session, experiment=original.stage.experiment)
        found = recovery.recovery_set(catalog, submission, kind)
        if not found.files:
            return refuse(found.note or "No recovery needed, launch skipped.")
        position = original.recovery_position or 0
        note = f"by {cmd.actor}"
        name = recovery.define_recovery_dataset(catalog, original, position, found, kind, note)
    except CatalogError as exc:
        return refuse(f"data catalog: {exc}")
    stage = repo.get_stage(uow.session, original.campaign_stage_id, lock=True)
    opts = _recovery_options(original, name, kind, actor=cmd.actor)
    launch_with_options(uow, stage, opts, request_id=cmd.request_id, settings=settings)
    return None


def _recovery_options(
    original: Submission,
    dataset: str,
    recovery_type: str,
    overrides: tuple[tuple[str, str], ...] = (),
    actor: str | None = None,
) -> LaunchOptions:
    """A recovery child of ``original``: its launcher and test flag, on ``dataset``."""
    return LaunchOptions(
        launcher=original.launcher,
        dataset=dataset,
        test=bool(original.submission_params.get("test")),
        parent_submission_id=original.submission_id,
        param_overrides=overrides,
        actor=actor,
        recovery_type=recovery_type,
    )


def _launch_dependents(
    uow: UnitOfWork, original: Submission, stage: CampaignStage, settings: Settings
) -> bool:
    """Launch every downstream stage on the matching outputs; False when there are none.
    The datasets are defined in the configured catalog; its failures raise (retried)."""
    edges = repo.campaign_edges(uow.session, [stage.campaign_stage_id])
    plans = plan_dependent_launches(
        original.submission_id,
        stage.campaign_stage_id,
        edges,
        stage.creator_role,
        original.launcher,
    )
    test = bool(original.submission_params.get("test"))
    catalog = None
    for plan in plans:
        if plan.dataset_name is not None:
            catalog = catalog or make_catalog(settings, uow.session, experiment=stage.experiment)
            count = catalog.define_dependency(
                submission_facts(original), plan.dataset_name, plan.file_patterns, original.launcher
            )
            if count is None:
                log.info("dataset %s is left to the jobs to declare", plan.dataset_name)
            else:
                log.info("dataset %s defined with %d files", plan.dataset_name, count)
        target = repo.get_stage(uow.session, plan.stage_id, lock=True)
        opts = LaunchOptions(
            launcher=original.launcher,
            dataset=plan.dataset_name,
            test=test,
            parent_submission_id=original.submission_id,
        )
        launch_with_options(uow, target, opts, settings=settings)
    return bool(plans)


def _maybe_campaign_done(uow: UnitOfWork, campaign_id: int) -> None:
    campaign = repo.get_campaign(uow.session, campaign_id)
    stage_ids = [s.campaign_stage_id for s in campaign.stages]
    located, active = repo.located_submissions(uow.session, stage_ids)
    if campaign_done(stage_ids, located, active):
        uow.emit(CampaignCompleted(campaign_id=campaign_id))
        log.info("campaign %s is done", campaign.name)


def build_registry(settings: Settings | None = None) -> HandlerRegistry:
    registry = HandlerRegistry(deps={"settings": settings or Settings()})
    registry.register(LaunchCampaign, launch_campaign)
    registry.register(LaunchStage, launch_stage)
    registry.register(RecoverSubmission, recover_submission)
    registry.register(SubmissionLocated, on_submission_located)
    return registry
