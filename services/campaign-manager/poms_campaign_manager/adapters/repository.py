"""Loads campaign graphs and writes new submissions, held launches and split positions."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from poms_campaign_manager.domain.launching import LaunchOptions
from poms_campaign_manager.domain.splits import SplitContext, SplitError, realise
from poms_campaign_manager.domain.splits import decide_launch as decide_split
from poms_shared.catalog.port import Catalog, CatalogError
from poms_shared.db.models import Campaign, CampaignDependency, CampaignStage, Experimenter
from poms_shared.db.snapshots import row_to_dict, snapshot
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import (
    HeldLaunch,
    LaunchRequest,
    Schedule,
    Submission,
    SystemFlag,
)
from poms_shared.domain.dag import Edge
from poms_shared.domain.flags import GLOBAL_HOLD
from poms_shared.domain.statuses import SubmissionStatus


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    return campaign


def get_stage(session: Session, stage_id: int, *, lock: bool = False) -> CampaignStage:
    """The stage row; ``lock`` serialises decisions about one stage across replicas."""
    query = select(CampaignStage).where(CampaignStage.campaign_stage_id == stage_id)
    if lock:
        query = query.with_for_update(of=CampaignStage)
    stage = session.scalar(query)
    if stage is None:
        raise LookupError(f"campaign stage {stage_id} does not exist")
    return stage


def campaign_edges(session: Session, stage_ids: list[int]) -> list[Edge]:
    """Dependencies touching any of the stages."""
    rows = session.scalars(
        select(CampaignDependency).where(
            or_(
                CampaignDependency.upstream_stage_id.in_(stage_ids),
                CampaignDependency.downstream_stage_id.in_(stage_ids),
            )
        )
    )
    return [Edge(r.upstream_stage_id, r.downstream_stage_id, r.file_patterns) for r in rows]


def allocate_submission(session: Session, stage: CampaignStage, opts: LaunchOptions) -> Submission:
    """A new submission in status New with the configuration snapshots of this launch."""
    creator = session.scalar(select(Experimenter).where(Experimenter.username == opts.launcher))
    params: dict[str, object] = {
        "dataset": opts.dataset if opts.dataset is not None else stage.dataset
    }
    if opts.test:
        params["test"] = 1
    if opts.parent_submission_id is not None and opts.recovery_type is None:
        params["parent"] = opts.parent_submission_id
    if opts.recovery_type is not None:
        params["recovery_type"] = opts.recovery_type
    if opts.param_overrides:
        params["param_overrides"] = [list(p) for p in opts.param_overrides]
    if opts.commands_only:
        params["commands_only"] = True
    if opts.actor and opts.actor != opts.launcher:
        params["launched_by"] = opts.actor
    submission = Submission(
        campaign_stage_id=stage.campaign_stage_id,
        creator_id=creator.experimenter_id if creator else None,
        launcher=opts.launcher,
        status_id=int(SubmissionStatus.NEW),
        submission_params=params,
        stage_snapshot_id=snapshot(session, "stage", stage.campaign_stage_id, row_to_dict(stage)),
        job_type_snapshot_id=snapshot(
            session, "job_type", stage.job_type_id, row_to_dict(stage.job_type)
        ),
        login_setup_snapshot_id=snapshot(
            session, "login_setup", stage.login_setup_id, row_to_dict(stage.login_setup)
        ),
        recovery_parent_id=opts.parent_submission_id if opts.recovery_type else None,
    )
    session.add(submission)
    session.flush()
    record_status(session, submission, SubmissionStatus.NEW, reason=f"launched by {opts.launcher}")
    if stage.campaign is not None and not stage.campaign.active:
        stage.campaign.active = True  # launching any stage re-activates its campaign
    return submission


def hold_launch(session: Session, stage: CampaignStage, opts: LaunchOptions) -> HeldLaunch:
    """Keep a launch for later replay, as the same launcher with the same inputs."""
    held = HeldLaunch(
        campaign_stage_id=stage.campaign_stage_id,
        parent_submission_id=opts.parent_submission_id,
        dataset=opts.dataset,
        param_overrides=[list(p) for p in opts.param_overrides],
        launcher=opts.launcher,
        test=opts.test,
        recovery_type=opts.recovery_type,
    )
    session.add(held)
    session.flush()
    return held


def globally_held(session: Session) -> bool:
    flag = session.get(SystemFlag, GLOBAL_HOLD)
    return flag is not None and flag.value == "on"


def finish_request(
    session: Session,
    request_id: str | None,
    outcome: str,
    *,
    submission_id: int | None = None,
    held_launch_id: int | None = None,
    error: str | None = None,
) -> None:
    """Record what became of a launch request (no-op for launches nobody waits on)."""
    if request_id is None:
        return
    request = session.get(LaunchRequest, request_id)
    if request is None:
        return
    request.outcome = outcome
    request.submission_id = submission_id
    request.held_launch_id = held_launch_id
    request.error = error


def located_submissions(session: Session, stage_ids: list[int]) -> tuple[set[int], set[int]]:
    """(stages with a Located submission, stages with a submission still in flight)."""
    rows = session.execute(
        select(Submission.campaign_stage_id, Submission.status_id).where(
            Submission.campaign_stage_id.in_(stage_ids)
        )
    )
    located: set[int] = set()
    active: set[int] = set()
    for stage_id, status_id in rows:
        status = SubmissionStatus(status_id)
        if status == SubmissionStatus.LOCATED:
            located.add(stage_id)
        elif status.is_active:
            active.add(stage_id)
    return located, active


class LaunchRefused(ValueError):
    """A launch that cannot go ahead (no more splits, a bad split type)."""


def choose_dataset(
    session: Session, stage: CampaignStage, opts: LaunchOptions, catalog: Catalog
) -> str | None:
    """The dataset for this launch: the override, else the stage's split slice.

    The new split position is written on the stage in the caller's transaction, so it
    only advances together with the submission it was chosen for.
    """
    if opts.dataset is not None:
        return opts.dataset
    ctx = SplitContext(
        experiment=stage.experiment,
        dataset=stage.dataset or "",
        stage_id=stage.campaign_stage_id,
        last_split=stage.cs_last_split,
        clear_cronjob=stage.default_clear_cronjob,
        now=int(time.time()),
        token=uuid.uuid4().hex[:8],
    )
    try:
        decision = decide_split(
            stage.cs_split_type, stage.test_split_type, ctx, catalog, test=opts.test
        )
    except SplitError as exc:
        raise LaunchRefused(str(exc)) from exc
    except CatalogError as exc:  # the catalog service failed: refuse, nothing is launched
        raise LaunchRefused(f"data catalog: {exc}") from exc
    if decision.exhausted:
        if decision.clear_schedule:
            session.execute(
                delete(Schedule).where(Schedule.campaign_stage_id == stage.campaign_stage_id)
            )
        raise LaunchRefused(decision.message)
    stage.cs_last_split = realise(decision, catalog, stage.experiment)
    return decision.dataset
