"""Writes made on behalf of a person: launch requests, holds, schedules, split state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from croniter import CroniterBadDateError, croniter
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from poms_shared.contracts.messages import LaunchStage
from poms_shared.db.audit import record_audit
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignStage, Experimenter, JobType, LoginSetup
from poms_shared.db.tables import HeldLaunch, LaunchRequest, Schedule, SystemFlag
from poms_shared.domain.flags import GLOBAL_HOLD
from poms_web.adapters.queries import NotFound

MAX_INT = 2**31 - 1  # the largest value of an integer column


class BadRequest(ValueError):
    """The request is well-formed HTTP but asks for something impossible."""


def get_stage(session: Session, stage_id: int) -> CampaignStage:
    stage = session.get(CampaignStage, stage_id)
    if stage is None:
        raise NotFound(f"campaign stage {stage_id} does not exist")
    return stage


def get_job_type(session: Session, job_type_id: int) -> JobType:
    job_type = session.get(JobType, job_type_id)
    if job_type is None:
        raise NotFound(f"job type {job_type_id} does not exist")
    return job_type


def experimenter(session: Session, username: str) -> Experimenter:
    """The person's row, created on first use."""
    person = session.scalar(select(Experimenter).where(Experimenter.username == username))
    if person is None:
        person = Experimenter(username=username, first_name=username)
        session.add(person)
        session.flush()
    return person


def request_launch(uow: UnitOfWork, stage: CampaignStage, actor: str, body: dict[str, Any]) -> str:
    """Record a launch request and send it to the campaign manager; returns the request id."""
    request_id = str(uuid.uuid4())
    uow.session.add(
        LaunchRequest(request_id=request_id, campaign_stage_id=stage.campaign_stage_id, actor=actor)
    )
    launcher = str(body.get("as_user") or actor)
    uow.emit(
        LaunchStage(
            stage_id=stage.campaign_stage_id,
            launcher=launcher,
            dataset_override=body.get("dataset") or None,
            test=bool(body.get("test")),
            commands_only=bool(body.get("commands_only")),
            request_id=request_id,
            actor=actor,
            param_overrides=[tuple(p) for p in body.get("param_overrides") or []],
            parent_submission_id=_optional_id(body, "parent_submission_id"),
        )
    )
    record_audit(
        uow.session,
        actor=actor,
        action="launch",
        entity="stage",
        entity_id=stage.campaign_stage_id,
        after={**body, "request_id": request_id},
    )
    return request_id


def _optional_id(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not str(value).isdecimal() or int(str(value)) > MAX_INT:
        raise BadRequest(f"{field}: expected a submission id, not {value!r}")
    return int(str(value))


def set_stage_hold(session: Session, stage: CampaignStage, actor: str, hold: bool) -> None:
    """Queue future launches of a stage (and drop its schedule), or stop queuing."""
    before = {"held": stage.hold_experimenter_id is not None}
    if hold:
        stage.hold_experimenter_id = experimenter(session, actor).experimenter_id
        stage.role_held_with = "production"
        session.execute(
            delete(Schedule).where(Schedule.campaign_stage_id == stage.campaign_stage_id)
        )
    else:
        stage.hold_experimenter_id = None
        stage.role_held_with = None
    record_audit(
        session,
        actor=actor,
        action="hold" if hold else "release",
        entity="stage",
        entity_id=stage.campaign_stage_id,
        before=before,
        after={"held": hold},
    )


def set_global_hold(session: Session, actor: str, hold: bool) -> None:
    flag = session.get(SystemFlag, GLOBAL_HOLD)
    if flag is None:
        flag = SystemFlag(name=GLOBAL_HOLD, value="off", set_by=actor)
        session.add(flag)
    flag.value, flag.set_by, flag.set_at = ("on" if hold else "off"), actor, datetime.now(UTC)
    record_audit(
        session,
        actor=actor,
        action="global_hold",
        entity="system",
        entity_id="launches",
        after={"hold": hold},
    )


def replay_held(uow: UnitOfWork, stage_id: int | None = None) -> list[int]:
    """Relaunch held launches oldest first, as their original launchers, unless still held."""
    flag = uow.session.get(SystemFlag, GLOBAL_HOLD)
    if flag is not None and flag.value == "on":
        return []
    query = select(HeldLaunch).order_by(HeldLaunch.created, HeldLaunch.held_launch_id)
    if stage_id is not None:
        query = query.where(HeldLaunch.campaign_stage_id == stage_id)
    replayed = []
    for held in uow.session.scalars(query).all():
        stage = uow.session.get(CampaignStage, held.campaign_stage_id)
        if stage is None or stage.hold_experimenter_id is not None:
            continue
        uow.emit(
            LaunchStage(
                stage_id=held.campaign_stage_id,
                launcher=held.launcher,
                dataset_override=held.dataset,
                test=held.test,
                parent_submission_id=held.parent_submission_id,
                param_overrides=[tuple(p) for p in held.param_overrides or []],
                recovery_type=held.recovery_type,
            )
        )
        replayed.append(held.held_launch_id)
        uow.session.delete(held)
    return replayed


def set_schedule(session: Session, stage: CampaignStage, cron: str, actor: str) -> Schedule:
    """Store a cron schedule (replacing any) fired by the campaign manager as ``actor``."""
    cron = " ".join(cron.split())
    if not croniter.is_valid(cron) or len(cron.split()) != 5:
        raise BadRequest(
            f"cron expression {cron!r} does not parse (want 5 fields: "
            "minute hour day-of-month month day-of-week)"
        )
    try:
        first = next_runs(cron, 1)[0]
    except CroniterBadDateError:
        raise BadRequest(f"cron expression {cron!r} never fires") from None
    schedule = session.scalar(
        select(Schedule).where(Schedule.campaign_stage_id == stage.campaign_stage_id)
    )
    if schedule is None:
        schedule = Schedule(
            campaign_stage_id=stage.campaign_stage_id, cron=cron, scheduled_by=actor
        )
        session.add(schedule)
    schedule.cron, schedule.scheduled_by, schedule.enabled = cron, actor, True
    schedule.next_fire = first
    record_audit(
        session,
        actor=actor,
        action="schedule",
        entity="stage",
        entity_id=stage.campaign_stage_id,
        after={"cron": cron},
    )
    return schedule


def next_runs(cron: str, count: int, start: datetime | None = None) -> list[datetime]:
    it = croniter(cron, start or datetime.now(UTC))
    return [it.get_next(datetime) for _ in range(count)]


def set_split_position(
    session: Session,
    stage: CampaignStage,
    actor: str,
    body: dict[str, Any],
) -> None:
    """Reset the split iterator, or set its position by hand."""
    before = {"cs_last_split": stage.cs_last_split}
    if body.get("reset"):
        stage.cs_last_split = None
    elif "position" in body:
        position = body["position"]
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise BadRequest("position must be a non-negative integer")
        if position > MAX_INT:
            raise BadRequest(f"position: at most {MAX_INT}, not {position}")
        stage.cs_last_split = position
    else:
        raise BadRequest('send {"reset": true} or {"position": <integer>}')
    record_audit(
        session,
        actor=actor,
        action="split",
        entity="stage",
        entity_id=stage.campaign_stage_id,
        before=before,
        after={"cs_last_split": stage.cs_last_split},
    )


def job_type_test_stage(session: Session, job_type_id: int, actor: str) -> CampaignStage:
    """The stage ``_test_<job type>`` used to try a job type, created on first use."""
    job_type = get_job_type(session, job_type_id)
    name = f"_test_{job_type.name}"
    stage = session.scalar(
        select(CampaignStage).where(
            CampaignStage.experiment == job_type.experiment,
            CampaignStage.name == name,
            CampaignStage.campaign_id.is_(None),
        )
    )
    if stage is not None:
        return stage
    login = session.scalar(
        select(LoginSetup)
        .where(LoginSetup.experiment == job_type.experiment)
        .order_by(LoginSetup.login_setup_id)
    )
    if login is None:
        raise BadRequest(f"experiment {job_type.experiment!r} has no login setup to test with")
    stage = CampaignStage(
        experiment=job_type.experiment,
        name=name,
        job_type_id=job_type_id,
        login_setup_id=login.login_setup_id,
        vo_role="Production",
        dataset="",
        software_version="",
        campaign_stage_type="regular",
        creator_id=experimenter(session, actor).experimenter_id,
    )
    session.add(stage)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="create_test_stage",
        entity="stage",
        entity_id=stage.campaign_stage_id,
        after={"job_type": job_type.name},
    )
    return stage
