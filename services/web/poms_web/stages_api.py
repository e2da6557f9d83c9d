"""``/api/v1/stages``: launch variants, holds, schedules, split position, job control."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from poms_shared.db.audit import record_audit
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignStage
from poms_shared.db.tables import HeldLaunch, Schedule
from poms_shared.domain.permissions import Act
from poms_web import auth
from poms_web.adapters import actions, launching, queries
from poms_web.adapters.stage_edit import edit_stage
from poms_web.context import actor, web_state
from poms_web.errors import error_body

bp = Blueprint("stages", __name__, url_prefix="/api/v1")


def body_json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise actions.BadRequest("the request body is not JSON")
    if body is not None and not isinstance(body, dict):
        raise actions.BadRequest("the request body must be a JSON object")
    return body or {}


@bp.get("/stages/<int:stage_id>")
def get_stage(stage_id: int) -> Any:
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.VIEW, stage)
        return jsonify(queries.stage_info(session, stage))


@bp.patch("/stages/<int:stage_id>")
def patch_stage(stage_id: int) -> Any:
    """Change stage settings; 400 naming every bad field, and then nothing is changed."""
    body = body_json()
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.MODIFY, stage)
        changed = edit_stage(session, stage, actor(), body)
        return jsonify({"changed": changed, "stage": queries.stage_info(session, stage)})


@bp.post("/stages/<int:stage_id>/launch")
def launch_stage(stage_id: int) -> Any:
    """202 with the submission id; 423 when the launch was held; 4xx when it cannot run."""
    body = body_json()
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.DO, stage)
        request_id = actions.request_launch(UnitOfWork(session), stage, actor(), body)
    web_state().wake()
    return launch_answer(request_id, bool(body.get("commands_only")))


@bp.post("/job-types/<int:job_type_id>/test")
def test_job_type(job_type_id: int) -> Any:
    """Test-launch a job type on its ``_test_<name>`` stage (created on first use)."""
    body = {**body_json(), "test": True}
    with web_state().db.transaction() as session:
        auth.may(session, Act.DO, actions.get_job_type(session, job_type_id))
        stage = actions.job_type_test_stage(session, job_type_id, actor())
        request_id = actions.request_launch(UnitOfWork(session), stage, actor(), body)
    web_state().wake()
    return launch_answer(request_id, bool(body.get("commands_only")))


def launch_answer(request_id: str, commands_only: bool) -> Any:
    outcome = launching.outcome(request_id)
    if outcome is None:
        return jsonify({"status": "pending", "request_id": request_id}), 202
    if outcome.outcome == "held":
        return jsonify(
            error_body(
                423,
                "held",
                "launches of this stage are held; the launch is queued and will run on release",
                held_launch_id=outcome.held_launch_id,
            )
        ), 423
    if outcome.outcome == "failed" or outcome.submission_id is None:
        return jsonify(error_body(400, "launch_refused", outcome.error or "launch refused")), 400
    answer: dict[str, Any] = {
        "status": "launched",
        "submission_id": outcome.submission_id,
        "request_id": request_id,
    }
    if commands_only:
        answer["commands"] = launching.commands(outcome.submission_id)
    return jsonify(answer), 202


@bp.post("/stages/<int:stage_id>/<any(hold, queue, release):action>")
def hold_stage(stage_id: int, action: str) -> Any:
    """hold/queue: future launches become held launches; release: replay them."""
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.DO, stage)
        actions.set_stage_hold(session, stage, actor(), hold=action != "release")
        replayed = actions.replay_held(UnitOfWork(session), stage_id) if action == "release" else []
    web_state().wake()
    return jsonify({"stage_id": stage_id, "held": action != "release", "replayed": replayed})


@bp.post("/launches/<any(hold, release):action>")
def global_hold(action: str) -> Any:
    with web_state().db.transaction() as session:
        auth.authorize(session, Act.ADMIN)
        actions.set_global_hold(session, actor(), hold=action == "hold")
        replayed = actions.replay_held(UnitOfWork(session)) if action == "release" else []
    web_state().wake()
    return jsonify({"held": action == "hold", "replayed": replayed})


@bp.get("/held-launches")
def list_held() -> Any:
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        query = select(HeldLaunch).order_by(HeldLaunch.created)
        if acting.experiment is not None:
            query = query.join(CampaignStage).where(CampaignStage.experiment == acting.experiment)
        if request.args.get("stage_id", "").isdigit():
            query = query.where(HeldLaunch.campaign_stage_id == int(request.args["stage_id"]))
        items = [queries.held_launch_info(h) for h in session.scalars(query)]
    return jsonify({"items": items, "total": len(items)})


@bp.delete("/held-launches/<int:held_id>")
def remove_held(held_id: int) -> Any:
    with web_state().db.transaction() as session:
        held = session.get(HeldLaunch, held_id)
        if held is None:
            raise queries.NotFound(f"held launch {held_id} does not exist")
        auth.may(session, Act.DO, actions.get_stage(session, held.campaign_stage_id))
        record_audit(
            session,
            actor=actor(),
            action="remove_held_launch",
            entity="stage",
            entity_id=held.campaign_stage_id,
            before=queries.held_launch_info(held),
        )
        session.delete(held)
    return jsonify({"removed": held_id})


@bp.route("/stages/<int:stage_id>/schedule", methods=["GET", "PUT", "DELETE"])
def schedule(stage_id: int) -> Any:
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.VIEW if request.method == "GET" else Act.MODIFY, stage)
        row = session.scalar(select(Schedule).where(Schedule.campaign_stage_id == stage_id))
        if request.method == "PUT":
            row = actions.set_schedule(session, stage, str(body_json().get("cron", "")), actor())
        elif request.method == "DELETE" and row is not None:
            session.delete(row)
            row = None
        return jsonify(queries.schedule_info(stage_id, row))


@bp.post("/stages/<int:stage_id>/split")
def split_position(stage_id: int) -> Any:
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.MODIFY, stage)
        actions.set_split_position(session, stage, actor(), body_json())
        return jsonify({"stage_id": stage_id, "cs_last_split": stage.cs_last_split})
