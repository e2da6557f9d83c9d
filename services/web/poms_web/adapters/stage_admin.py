"""Adding, copying and removing campaign stages; their schedule, split position and held
launches; the stage lists (a status summary each) shared by the API and the compatibility
methods. Permission checks stay with the callers; every change here is audited."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from copy import deepcopy
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.exceptions import Conflict

from poms_shared.db.audit import record_audit
from poms_shared.db.campaign_base import STAGE_COLUMNS
from poms_shared.db.campaigns import SHARED_EXPERIMENT
from poms_shared.db.models import (
    Campaign,
    CampaignDependency,
    CampaignStage,
    Experimenter,
    JobType,
    LoginSetup,
)
from poms_shared.db.tables import (
    ConfigSnapshot,
    HeldLaunch,
    LaunchRequest,
    Schedule,
    Submission,
)
from poms_shared.domain.permissions import ANALYSIS, PRODUCTION, SUPERUSER, Actor
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.ini.model import FALLBACKS, StageFields, thaw_pairs
from poms_web.adapters import actions, queries
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.stage_edit import check_fields, template_id

# copied by a clone; what a stage is doing (position, hold) starts afresh
SETTINGS = (
    *(column for column, _ in STAGE_COLUMNS),
    "test_split_type",
    "failed_ratio",
    "located_after_hours",
    "job_type_id",
    "login_setup_id",
)
DRAINING = ("", "none", "draining")


# ---- lists --------------------------------------------------------------------------------


def stages_query(experiment: str | None, campaign: Campaign | None = None) -> Select[Any]:
    """The stages of a campaign, or of an experiment (all if None), oldest first."""
    query = select(CampaignStage).order_by(CampaignStage.campaign_stage_id)
    if campaign is not None:
        return query.where(CampaignStage.campaign_id == campaign.campaign_id)
    if experiment is not None:
        query = query.where(CampaignStage.experiment == experiment)
    return query


def summaries(session: Session, stages: list[CampaignStage]) -> list[dict[str, Any]]:
    """Each stage's settings in brief and a summary of its submissions' statuses."""
    ids = [s.campaign_stage_id for s in stages]
    counts: dict[int, Counter[SubmissionStatus]] = {i: Counter() for i in ids}
    rows = session.execute(
        select(Submission.campaign_stage_id, Submission.status_id, func.count())
        .where(Submission.campaign_stage_id.in_(ids))
        .group_by(Submission.campaign_stage_id, Submission.status_id)
    )
    for stage_id, status_id, count in rows:
        counts[stage_id][SubmissionStatus(status_id)] += count
    creator_ids = {s.creator_id for s in stages if s.creator_id}
    names = session.execute(
        select(Experimenter.experimenter_id, Experimenter.username).where(
            Experimenter.experimenter_id.in_(creator_ids)
        )
    )
    creators: dict[int, str] = {row[0]: row[1] for row in names}
    return [_summary(s, counts[s.campaign_stage_id], creators) for s in stages]


def _summary(
    stage: CampaignStage, counts: Counter[SubmissionStatus], creators: dict[int, str]
) -> dict[str, Any]:
    active = sum(n for status, n in counts.items() if status.is_active)
    held = stage.hold_experimenter_id is not None
    total = sum(counts.values())
    state = "held" if held else "running" if active else "idle" if not total else "stopped"
    return {
        "stage_id": stage.campaign_stage_id,
        "name": stage.name,
        "campaign": stage.campaign.name if stage.campaign else None,
        "campaign_id": stage.campaign_id,
        "experiment": stage.experiment,
        "stage_type": stage.campaign_stage_type,
        "job_type": stage.job_type.name,
        "login_setup": stage.login_setup.name,
        "split_type": stage.cs_split_type,
        "dataset": stage.dataset,
        "software_version": stage.software_version,
        "creator": creators.get(stage.creator_id or 0),
        "creator_role": stage.creator_role,
        "held": held,
        "status": {
            "state": state,
            "submissions": total,
            "active": active,
            "by_status": {s.label: counts[s] for s in sorted(counts)},
        },
    }


# ---- finding a stage ----------------------------------------------------------------------


def stage_named(
    session: Session, experiment: str, campaign: str, stage: str
) -> CampaignStage | None:
    return session.scalar(
        select(CampaignStage)
        .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
        .where(Campaign.experiment == experiment, Campaign.name == campaign)
        .where(CampaignStage.name == stage)
    )


def stage_ref(session: Session, experiment: str, field: str, ref: Any) -> CampaignStage:
    """A stage given as its id, as ``[campaign, stage]`` or as a stage name of the
    experiment (the name must then be unique); BadRequest/NotFound naming ``field``."""
    if isinstance(ref, bool):
        raise BadRequest(f"{field}: a stage id or [campaign, stage], not {ref!r}")
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdecimal()):
        return actions.get_stage(session, int(ref))
    if isinstance(ref, list | tuple):
        if len(ref) != 2 or not all(isinstance(part, str) for part in ref):
            raise BadRequest(f"{field}: want [campaign name, stage name], not {ref!r}")
        found = stage_named(session, experiment, ref[0], ref[1])
        if found is None:
            raise queries.NotFound(f"{field}: no stage {ref[1]!r} in campaign {ref[0]!r}")
        return found
    if isinstance(ref, str) and ref.strip():
        named = session.scalars(
            select(CampaignStage).where(
                CampaignStage.experiment == experiment, CampaignStage.name == ref.strip()
            )
        ).all()
        if len(named) == 1:
            return named[0]
        if named:
            raise BadRequest(f"{field}: {len(named)} stages are named {ref!r}; give the id")
        raise queries.NotFound(f"{field}: no stage named {ref!r} in experiment {experiment}")
    raise BadRequest(f"{field}: a stage id or [campaign, stage], not {ref!r}")


# ---- create, clone, delete ----------------------------------------------------------------


def _new_name(session: Session, campaign: Campaign, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name: a stage needs a non-empty name")
    name = name.strip()
    if stage_named(session, campaign.experiment, campaign.name, name) is not None:
        raise Conflict(f"name: campaign {campaign.name!r} already has a stage named {name!r}")
    return name


def _defaults(session: Session, campaign: Campaign) -> dict[str, Any]:
    """Stage attributes from the campaign defaults, else the fallbacks (reference §12.11)."""
    fields = StageFields.from_json(campaign.defaults or {}).over(FALLBACKS)
    values = dict(fields.items())
    found: dict[str, Any] = {}
    for column, key in STAGE_COLUMNS:
        value = values.get(key)
        found[column] = thaw_pairs(value) if isinstance(value, tuple) else value
    found["dataset"] = found["dataset"] or ""
    found["software_version"] = found["software_version"] or ""
    for field in ("login_setup", "job_type"):
        if values.get(field):
            # a default naming a template that is gone: the body must name one
            with suppress(ValueError):
                found[f"{field}_id"] = template_id(
                    session, field, campaign.experiment, values[field]
                )
    return found


def _template_ids(session: Session, experiment: str, body: dict[str, Any]) -> dict[str, int]:
    """``login_setup_id`` / ``job_type_id`` given by id (of the experiment, or shared)."""
    found: dict[str, int] = {}
    for field, model in (("login_setup_id", LoginSetup), ("job_type_id", JobType)):
        if field not in body:
            continue
        value = body[field]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"{field}: a whole number, not {value!r}")
        row = session.get(model, value)
        if row is None or row.experiment not in (experiment, SHARED_EXPERIMENT):
            what = field.removesuffix("_id").replace("_", " ")
            raise BadRequest(f"{field}: no {what} {value} in experiment {experiment}")
        found[field] = value
    return found


def _dependencies(
    session: Session, campaign: Campaign, name: str, split: str | None, value: Any
) -> list[tuple[int | None, str]]:
    """``depends_on`` as (upstream stage id or None for the new stage itself, patterns)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest("depends_on: a list of {stage, file_patterns} objects")
    found: list[tuple[int | None, str]] = []
    for item in value:
        upstream = item.get("stage") if isinstance(item, dict) else None
        patterns = item.get("file_patterns", "%") if isinstance(item, dict) else None
        if not isinstance(upstream, str) or not isinstance(patterns, str) or not patterns.strip():
            raise BadRequest(f"depends_on: {item!r} is not {{stage, file_patterns}}")
        if upstream.strip() == name:
            if (split or "").strip().lower() in DRAINING:
                raise BadRequest(
                    "depends_on: a stage that depends on itself needs a split type that "
                    "runs out (not None or draining), or it would launch forever"
                )
            found.append((None, patterns.strip()))
            continue
        row = stage_named(session, campaign.experiment, campaign.name, upstream.strip())
        if row is None:
            raise BadRequest(f"depends_on: campaign {campaign.name!r} has no stage {upstream!r}")
        found.append((row.campaign_stage_id, patterns.strip()))
    return found


CREATE_ONLY = ("name", "login_setup_id", "job_type_id", "depends_on")


def create_stage(
    session: Session, campaign: Campaign, actor: str, body: dict[str, Any]
) -> CampaignStage:
    """A new stage of ``campaign``: the campaign defaults, then the fields of ``body``.

    It belongs to the campaign's creator and role, so whoever may change the campaign may
    change the stage."""
    name = _new_name(session, campaign, body.get("name"))
    for field in ("login_setup", "job_type"):
        if field in body and f"{field}_id" in body:
            raise BadRequest(f"{field}: give {field} (a name) or {field}_id, not both")
    fields = {k: v for k, v in body.items() if k not in CREATE_ONLY}
    values = {
        **_defaults(session, campaign),
        **_template_ids(session, campaign.experiment, body),
        **check_fields(session, campaign.experiment, fields),
    }
    for field in ("login_setup", "job_type"):
        if values.get(f"{field}_id") is None:
            raise BadRequest(f"{field}: required (the campaign has no default {field})")
    edges = _dependencies(
        session, campaign, name, values.get("cs_split_type"), body.get("depends_on")
    )
    stage = CampaignStage(
        name=name,
        campaign_id=campaign.campaign_id,
        experiment=campaign.experiment,
        creator_id=campaign.creator_id,
        creator_role=campaign.creator_role,
        updater_id=actions.experimenter(session, actor).experimenter_id,
        **values,
    )
    session.add(stage)
    session.flush()
    for upstream, patterns in edges:
        session.add(
            CampaignDependency(
                upstream_stage_id=upstream or stage.campaign_stage_id,
                downstream_stage_id=stage.campaign_stage_id,
                file_patterns=patterns,
            )
        )
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="create_stage",
        entity="campaign_stage",
        entity_id=stage.campaign_stage_id,
        after={"campaign": campaign.name, **body},
    )
    return stage


def clone_stage(session: Session, stage: CampaignStage, actor: str, name: Any) -> CampaignStage:
    """A copy of every setting of ``stage`` under a new name in the same campaign, with no
    dependencies, submissions, hold, schedule or split position (reference §12.13)."""
    campaign = stage.campaign
    if campaign is None:
        raise BadRequest(f"stage {stage.campaign_stage_id} belongs to no campaign to clone into")
    new_name = _new_name(session, campaign, name)
    copy = CampaignStage(
        name=new_name,
        campaign_id=campaign.campaign_id,
        experiment=stage.experiment,
        creator_id=campaign.creator_id,
        creator_role=campaign.creator_role,
        updater_id=actions.experimenter(session, actor).experimenter_id,
        **{k: deepcopy(getattr(stage, k)) for k in SETTINGS},
    )
    session.add(copy)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="clone_stage",
        entity="campaign_stage",
        entity_id=copy.campaign_stage_id,
        after={"from": stage.campaign_stage_id, "name": new_name},
    )
    return copy


def delete_stage(session: Session, stage: CampaignStage, actor: str) -> None:
    """Delete a stage never launched, with its dependencies and schedule.

    One with submissions (or queued launches) has been used: Conflict. Saving its
    campaign without it detaches it instead, keeping its history (reference §12.4)."""
    stage_id = stage.campaign_stage_id
    used = session.scalar(
        select(func.count()).select_from(Submission).where(Submission.campaign_stage_id == stage_id)
    )
    if used:
        raise Conflict(
            f"stage {stage.name!r} has {used} submission(s): it has been used and may not be "
            "deleted (save its campaign without it to detach it instead)"
        )
    held = session.scalar(
        select(func.count()).select_from(HeldLaunch).where(HeldLaunch.campaign_stage_id == stage_id)
    )
    if held:
        raise Conflict(f"stage {stage.name!r} has {held} held launch(es): remove them first")
    before = queries.stage_info(session, stage)
    dep = CampaignDependency
    session.execute(
        delete(dep).where(
            or_(dep.upstream_stage_id == stage_id, dep.downstream_stage_id == stage_id)
        )
    )
    session.execute(delete(Schedule).where(Schedule.campaign_stage_id == stage_id))
    session.execute(
        update(LaunchRequest)
        .where(LaunchRequest.campaign_stage_id == stage_id)
        .values(campaign_stage_id=None)
    )
    session.delete(stage)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="delete_stage",
        entity="campaign_stage",
        entity_id=stage_id,
        before=before,
    )


# ---- schedule, split, held launches -------------------------------------------------------


def remove_schedule(session: Session, stage: CampaignStage, actor: str) -> None:
    row = session.scalar(
        select(Schedule).where(Schedule.campaign_stage_id == stage.campaign_stage_id)
    )
    if row is None:
        return
    record_audit(
        session,
        actor=actor,
        action="unschedule",
        entity="stage",
        entity_id=stage.campaign_stage_id,
        before={"cron": row.cron, "scheduled_by": row.scheduled_by},
    )
    session.delete(row)


def position_from_snapshot(session: Session, stage: CampaignStage, snapshot_id: int) -> int | None:
    """The split position recorded in a snapshot of a stage of the same campaign with the
    same split type (0: start over). The reference stored the snapshot id itself; the
    snapshot's own position is what the iterator understands."""
    if snapshot_id == 0:
        return None
    field = "campaign_stage_snapshot_id"
    snap = session.get(ConfigSnapshot, snapshot_id)
    if snap is None or snap.kind != "stage":
        raise BadRequest(f"{field}: campaign stage snapshot {snapshot_id} not found")
    owner = session.get(CampaignStage, snap.live_id)
    if owner is None or owner.campaign_id is None or owner.campaign_id != stage.campaign_id:
        raise BadRequest(f"{field}: snapshot {snapshot_id} does not belong to this campaign")
    if snap.data.get("cs_split_type") != stage.cs_split_type:
        raise BadRequest(
            f"{field}: snapshot {snapshot_id} does not match the split type "
            f"{stage.cs_split_type!r} of stage {stage.name!r}"
        )
    position = snap.data.get("cs_last_split")
    return position if isinstance(position, int) else None


def visible_held(session: Session, acting: Actor, stage_id: int | None = None) -> list[HeldLaunch]:
    """Held launches the acting person may see (reference §6.12): their own when acting as
    analysis, those of production's stages when acting as production or shifter, all of
    the experiment as superuser."""
    query = (
        select(HeldLaunch)
        .join(CampaignStage, CampaignStage.campaign_stage_id == HeldLaunch.campaign_stage_id)
        .order_by(HeldLaunch.created, HeldLaunch.held_launch_id)
    )
    if acting.experiment is not None:
        query = query.where(CampaignStage.experiment == acting.experiment)
    if stage_id is not None:
        query = query.where(HeldLaunch.campaign_stage_id == stage_id)
    if acting.role == ANALYSIS:
        query = query.where(HeldLaunch.launcher == acting.username)
    elif acting.role != SUPERUSER:
        query = query.where(CampaignStage.creator_role == PRODUCTION)
    return list(session.scalars(query))


def remove_held(session: Session, held: HeldLaunch, actor: str) -> None:
    record_audit(
        session,
        actor=actor,
        action="remove_held_launch",
        entity="stage",
        entity_id=held.campaign_stage_id,
        before=queries.held_launch_info(held),
    )
    session.delete(held)
