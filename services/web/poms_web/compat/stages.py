"""Compatibility methods: campaign stages (reference §8.2 "Campaign stages", §5.13, §6).

Each method parses the original client's fields and calls what ``/api/v1/stages`` calls,
with the same permission checks and audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import Campaign, CampaignStage, Experimenter
from poms_shared.db.tables import Schedule
from poms_shared.domain.permissions import ANALYSIS, PRODUCTION, SUPERUSER, Act, Actor
from poms_web import auth, recovery_api
from poms_web.adapters import actions, queries, stage_admin, stage_edit
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.stage_edit import COLUMN_FIELDS, TEXT_FIELDS, edit_stage
from poms_web.compat.framework import (
    FALSE,
    Json,
    Page,
    Params,
    Redirect,
    Reply,
    Text,
    experiment_of,
    launch_reply,
    method,
    parse_int,
    parse_literal,
)
from poms_web.context import actor, web_state


def _base() -> str:
    """The path prefix the request came in on (clients are configured with ``/poms``)."""
    return "/poms" if request.path.startswith("/poms/") else ""


def _stage_page(stage_id: int) -> Redirect:
    return Redirect(f"/api/v1/stages/{stage_id}")


def _stage(session: Session, p: Params, field: str) -> CampaignStage:
    """The stage named by ``field``: an id, ``[campaign, stage]`` or a unique stage name."""
    raw = p.required(field)
    ref: Any = raw
    if raw.startswith(("[", "(")):
        ref = parse_literal(field, raw)
    return stage_admin.stage_ref(session, experiment_of(session), field, ref)


# ---- lists and look-ups -------------------------------------------------------------------


def _views(p: Params, acting: Actor) -> dict[str, bool]:
    """The list filters (reference §12.7): explicit with ``update_view``, else defaults."""
    defaults = {
        "view_active": True,
        "view_inactive": False,
        "view_mine": True,
        "view_others": True,
        "view_analysis": acting.role in (ANALYSIS, SUPERUSER),
        "view_production": acting.role != ANALYSIS,  # production, shifter, superuser
    }
    explicit = p.has("update_view")
    return {name: p.flag(name, default=not explicit and value) for name, value in defaults.items()}


def _shown(stage: CampaignStage, views: dict[str, bool], mine: int | None) -> bool:
    active = stage.campaign.active if stage.campaign else True
    own = mine is not None and stage.creator_id == mine
    return (
        views["view_active" if active else "view_inactive"]
        and views["view_mine" if own else "view_others"]
        and views["view_production" if stage.creator_role == PRODUCTION else "view_analysis"]
    )


@method("show_campaign_stages")
def show_campaign_stages(p: Params) -> Reply:
    """The stages of the experiment (or of ``campaign_name`` / ``campaign_ids``) with a
    status summary each, filtered by the view flags."""
    ids = p.int_list("campaign_ids", required=False)
    name = p.get("campaign_name")
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        query = stage_admin.stages_query(acting.experiment)
        if name:
            query = query.join(Campaign).where(Campaign.name == name)
        if ids:
            query = query.where(CampaignStage.campaign_id.in_(ids))
        views = _views(p, acting)
        me = session.scalar(
            select(Experimenter.experimenter_id).where(Experimenter.username == acting.username)
        )
        stages = [s for s in session.scalars(query) if _shown(s, views, me)]
        items = stage_admin.summaries(session, stages)
    authorized = [acting.role != ANALYSIS or item["creator"] == acting.username for item in items]
    return Page({"campaign_stages": items, "authorized": authorized, **views})


@method("get_campaign_stage_id")
def get_campaign_stage_id(p: Params) -> Reply:
    campaign, name = p.required("campaign_name"), p.required("campaign_stage_name")
    with web_state().db.transaction() as session:
        stage = stage_admin.stage_named(session, experiment_of(session), campaign, name)
        if stage is None:
            auth.authorize(session, Act.VIEW)
            return Json(None)
        auth.may(session, Act.VIEW, stage)
        return Json(stage.campaign_stage_id)


@method("get_campaign_stage_name")
def get_campaign_stage_name(p: Params) -> Reply:
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, p.need_int("campaign_stage_id"))
        auth.may(session, Act.VIEW, stage)
        return Json([stage.campaign.name if stage.campaign else None, stage.name])


# ---- settings -----------------------------------------------------------------------------

NOT_FIELDS = frozenset({"campaign_stage", "experiment", "role", "user", "pcl_call", "fmt"})


def _stage_fields(p: Params) -> dict[str, Any]:
    """The stage fields of the request, by their names here; text fields as sent, the
    others parsed as literals (numbers, true/false, lists of pairs)."""
    body: dict[str, Any] = {}
    for name in request.values:
        if name in NOT_FIELDS or name == "redirect":
            continue
        if any(part in name for part in ("creat", "update", "_id")):
            raise BadRequest(f"{name}: this field may not be changed here")
        field = COLUMN_FIELDS.get(name, name)
        raw = p.get(name) or ""
        body[field] = raw if field in TEXT_FIELDS else parse_literal(name, raw)
    return body


@method("update_campaign_stage")
def update_campaign_stage(p: Params) -> Reply:
    """Set stage fields (checked as ``PATCH /stages/<id>`` checks them); ``Success``."""
    body = _stage_fields(p)
    with web_state().db.transaction() as session:
        stage = _stage(session, p, "campaign_stage")
        auth.may(session, Act.MODIFY, stage)
        edit_stage(session, stage, actor(), body)
    return Text("Success")


@method("update_stage_param_overrides")
def update_stage_param_overrides(p: Params) -> Reply:
    """Merge override edits (an empty value removes the key); the new lists."""
    changes = {f: p.literal(f) for f in stage_edit.OVERRIDES if p.get(f)}
    with web_state().db.transaction() as session:
        stage = _stage(session, p, "campaign_stage")
        auth.may(session, Act.MODIFY, stage)
        return Json(stage_edit.merge_overrides(session, stage, actor(), changes))


# ---- launches -----------------------------------------------------------------------------


def _launcher(session: Session, raw: str) -> str:
    """The user name of ``launcher`` (a user name or an experimenter id)."""
    column = Experimenter.experimenter_id if raw.isdecimal() else Experimenter.username
    found = session.scalar(select(Experimenter.username).where(column == raw))
    if found is None:
        raise BadRequest(f"launcher: no experimenter {raw!r}")
    return found


def _launch(p: Params, commands_only: bool) -> Reply:
    body: dict[str, Any] = {"test": p.flag("test_launch"), "commands_only": commands_only}
    if p.get("dataset_override"):
        body["dataset"] = p.get("dataset_override")
    with web_state().db.transaction() as session:
        stage = _stage(session, p, "campaign_stage_id")
        auth.may(session, Act.DO, stage)
        if p.get("launcher"):
            body["as_user"] = _launcher(session, p.required("launcher"))
        parent = p.integer("parent_submission_id", required=False)
        if parent is not None:
            body["parent_submission_id"] = queries.get_submission(session, parent).submission_id
        request_id = actions.request_launch(UnitOfWork(session), stage, actor(), body)
    web_state().wake()
    return launch_reply(request_id, commands_only)


@method("launch_jobs")
def launch_jobs(p: Params) -> Reply:
    """Launch a stage: 303 to the launch log (its last ``_`` token is the submission id),
    423 when held, 400 when refused, 202 ``pending <request>`` without an answer."""
    return _launch(p, commands_only=False)


@method("launch_recovery_for")
def launch_recovery_for(p: Params) -> Reply:
    """Launch a recovery of ``submission_id`` (of ``campaign_stage_id``) of
    ``recovery_type``: answered like ``launch_jobs``."""
    submission_id = p.need_int("submission_id")
    rtype = p.required("recovery_type")
    with web_state().db.transaction() as session:
        stage = _stage(session, p, "campaign_stage_id")
        sub = queries.get_submission(session, submission_id)
        if sub.campaign_stage_id != stage.campaign_stage_id:
            raise BadRequest(
                f"submission_id: submission {submission_id} is not of stage "
                f"{stage.campaign_stage_id}"
            )
        request_id = recovery_api.request_recovery(session, submission_id, rtype)
    web_state().wake()
    return launch_reply(request_id, False)


@method("launch_jobs_commands")
def launch_jobs_commands(p: Params) -> Reply:
    """Reserve a submission and answer the commands a launch would run, as text."""
    return _launch(p, commands_only=True)


# ---- holds, held launches -----------------------------------------------------------------

HOLD_MODES = {"hold": True, "queue": True, "release": False}


@method("mark_campaign_hold")
def mark_campaign_hold(p: Params) -> Reply:
    """Hold/Queue (future launches are held; the schedule is dropped unless
    ``clear_cron`` is false) or Release (held launches replay) each stage of ``ids2HR``."""
    ids = p.int_list("ids2HR")
    mode = p.required("is_hold")
    if mode.lower() not in HOLD_MODES:
        raise BadRequest(f"is_hold: Hold, Queue or Release, not {mode!r}")
    hold, clear_cron = HOLD_MODES[mode.lower()], p.flag("clear_cron", default=True)
    with web_state().db.transaction() as session:
        stages = [actions.get_stage(session, i) for i in ids]
        for stage in stages:
            auth.may(session, Act.DO, stage)
        uow = UnitOfWork(session)
        for stage in stages:
            kept = None if clear_cron else _schedule_of(session, stage.campaign_stage_id)
            actions.set_stage_hold(session, stage, actor(), hold=hold)
            if kept is not None:
                session.add(Schedule(**kept))
            if not hold:
                actions.replay_held(uow, stage.campaign_stage_id)
    web_state().wake()
    return Redirect(f"{_base()}/show_campaign_stages")


def _schedule_of(session: Session, stage_id: int) -> dict[str, Any] | None:
    row = session.scalar(select(Schedule).where(Schedule.campaign_stage_id == stage_id))
    if row is None:
        return None
    keep = ("campaign_stage_id", "cron", "scheduled_by", "enabled", "next_fire", "last_fired")
    return {k: getattr(row, k) for k in keep}


@method("held_launches")
def held_launches(p: Params) -> Reply:
    """The held launches the requester may see (optionally of ``campaign_stage_id``)."""
    stage_id = p.integer("campaign_stage_id", required=False)
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        held = stage_admin.visible_held(session, acting, stage_id)
        return Json([queries.held_launch_info(h) for h in held])


def _stamp(value: str) -> str:
    return value.strip().replace(" ", "T")[:19]


def _created(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


@method("held_launches_remove")
def held_launches_remove(p: Params) -> Reply:
    """Remove held launches: by ``held_launch_id``, or the requester's own by their
    ``createds`` times; ``campaign_stage_id`` limits to one stage."""
    ids = set(p.int_list("held_launch_id", required=False))
    createds = {_stamp(v) for v in request.values.getlist("createds") if v.strip()}
    if not ids and not createds:
        raise BadRequest("createds: give the held launches' createds or held_launch_id")
    stage_id = p.integer("campaign_stage_id", required=False)
    with web_state().db.transaction() as session:
        if stage_id is not None:
            auth.may(session, Act.DO, actions.get_stage(session, stage_id))
        acting = auth.authorize(session, Act.VIEW)
        chosen = [
            h
            for h in stage_admin.visible_held(session, acting, stage_id)
            if h.held_launch_id in ids
            or (h.launcher == acting.username and _created(h.created) in createds)
        ]
        for held in chosen:
            auth.may(session, Act.DO, actions.get_stage(session, held.campaign_stage_id))
            stage_admin.remove_held(session, held, actor())
        return Json({"removed": [h.held_launch_id for h in chosen]})


# ---- split position and schedule ----------------------------------------------------------


@method("reset_campaign_split")
def reset_campaign_split(p: Params) -> Reply:
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, p.need_int("campaign_stage_id"))
        auth.may(session, Act.MODIFY, stage)
        actions.set_split_position(session, stage, actor(), {"reset": True})
    return _stage_page(stage.campaign_stage_id)


@method("update_campaign_split")
def update_campaign_split(p: Params) -> Reply:
    """Restore the split position recorded in a stage snapshot (0: start over)."""
    custom = p.get("last_split_custom_val") or ""
    try:
        snapshot_id = int(custom)
    except ValueError:  # a custom value that is not a number: the chosen snapshot
        snapshot_id = p.need_int("campaign_stage_snapshot_id")
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, p.need_int("campaign_stage_id"))
        auth.may(session, Act.MODIFY, stage)
        position = stage_admin.position_from_snapshot(session, stage, snapshot_id)
        change = {"reset": True} if position is None else {"position": position}
        actions.set_split_position(session, stage, actor(), change)
    return _stage_page(stage.campaign_stage_id)


CRON_FIELDS = (("minlist", 0, 59), ("hourlist", 0, 23), ("domlist", 1, 31))
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_field(name: str, low: int, high: int, default: str | None) -> str:
    """One crontab field: ``*``, ``*/n`` or a comma list (repeated fields are joined)."""
    raw = ",".join(v.strip() for v in request.values.getlist(name) if v.strip()) or default
    if raw is None:
        raise BadRequest(f"Missing form field: {name}")
    raw = raw.replace(" ", "")
    if raw.lower() in ("*", "all") or "*" in raw.split(","):
        return "*"
    if raw.startswith("*/") and raw[2:].isdecimal() and int(raw[2:]) >= 1:
        return raw
    values = []
    for part in raw.split(","):
        if name == "dowlist" and part.lower()[:3] in DAYS:
            values.append(part.lower()[:3])
            continue
        number = parse_int(name, part)
        if not low <= number <= high:
            raise BadRequest(f"{name}: {number} is outside {low}–{high}")
        values.append(str(number))
    return ",".join(values)


@method("update_launch_schedule")
def update_launch_schedule(p: Params) -> Reply:
    """Replace the stage's launch schedule by one built from the lists, or with
    ``delete`` remove it."""
    delete = (p.get("delete") or "").lower() not in FALSE
    cron = ""
    if not delete:
        minute, hour, dom = (
            _cron_field(n, lo, hi, "*" if n == "domlist" else None) for n, lo, hi in CRON_FIELDS
        )
        dow = _cron_field("dowlist", 0, 7, "*")
        cron = f"{minute} {hour} {dom} * {dow}"
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, p.need_int("campaign_stage_id"))
        auth.may(session, Act.MODIFY, stage)
        if delete:
            stage_admin.remove_schedule(session, stage, actor())
        else:
            actions.set_schedule(session, stage, cron, actor())
    return _stage_page(stage.campaign_stage_id)
