"""``/api/v1/stages``: the stage list, adding, cloning and deleting stages, settings and
parameter overrides, launch variants, holds, schedules, split position."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.tables import HeldLaunch, Schedule
from poms_shared.domain.permissions import Act
from poms_web import auth, paging
from poms_web.adapters import actions, launching, queries, stage_admin, stage_edit
from poms_web.adapters.stage_edit import edit_stage
from poms_web.context import actor, experiment_param, web_state
from poms_web.errors import error_body

bp = Blueprint("stages", __name__, url_prefix="/api/v1")


def body_json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise actions.BadRequest("the request body is not JSON")
    if body is not None and not isinstance(body, dict):
        raise actions.BadRequest("the request body must be a JSON object")
    return body or {}


@bp.get("/stages")
def list_stages() -> Any:
    """The stages of ``?campaign=<name>`` (else of the acting experiment), each with a
    summary of its submissions' statuses; paginated."""
    name = request.args.get("campaign", "").strip()
    with web_state().db.transaction() as session:
        if name:
            campaign = queries.find_campaign(session, experiment_param(), name)
            auth.may(session, Act.VIEW, campaign)
            query = stage_admin.stages_query(None, campaign)
        else:
            acting = auth.authorize(session, Act.VIEW)
            query = stage_admin.stages_query(acting.experiment)
        page = paging.page_query(session, query, lambda row: row[0])
        page["items"] = stage_admin.summaries(session, page["items"])
        return jsonify(page)


@bp.post("/campaigns/<name>/stages")
def create_stage(name: str) -> Any:
    """Add a stage: campaign defaults, then the body's fields; 409 if the name is taken."""
    body = body_json()
    with web_state().db.transaction() as session:
        campaign = queries.find_campaign(session, experiment_param(), name)
        auth.may(session, Act.MODIFY, campaign)
        stage = stage_admin.create_stage(session, campaign, actor(), body)
        return jsonify(queries.stage_info(session, stage)), 201


@bp.post("/stages/<int:stage_id>/clone")
def clone_stage(stage_id: int) -> Any:
    """Copy a stage's settings under ``{"name": …}`` in the same campaign."""
    body = body_json()
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.MODIFY, stage.campaign or stage)
        copy = stage_admin.clone_stage(session, stage, actor(), body.get("name"))
        return jsonify(queries.stage_info(session, copy)), 201


@bp.delete("/stages/<int:stage_id>")
def delete_stage(stage_id: int) -> Any:
    """Delete a stage never launched; 409 once it has submissions (reference §12.4)."""
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.MODIFY, stage)
        stage_admin.delete_stage(session, stage, actor())
    return jsonify({"deleted": stage_id})


@bp.post("/stages/<int:stage_id>/param-overrides")
def merge_param_overrides(stage_id: int) -> Any:
    """Merge ``[[key, value], …]`` edits: a value replaces or adds, an empty one removes."""
    body = body_json()
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.MODIFY, stage)
        return jsonify(stage_edit.merge_overrides(session, stage, actor(), body))


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
    """Held launches the requester may see (``?stage_id=`` for one stage); paginated."""
    raw = request.args.get("stage_id", "").strip()
    if raw and not raw.isdecimal():
        raise actions.BadRequest(f"stage_id: a whole number, not {raw!r}")
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        held = stage_admin.visible_held(session, acting, int(raw) if raw else None)
        return jsonify(paging.page_of([queries.held_launch_info(h) for h in held]))


@bp.delete("/held-launches/<int:held_id>")
def remove_held(held_id: int) -> Any:
    with web_state().db.transaction() as session:
        held = session.get(HeldLaunch, held_id)
        if held is None:
            raise queries.NotFound(f"held launch {held_id} does not exist")
        auth.may(session, Act.DO, actions.get_stage(session, held.campaign_stage_id))
        stage_admin.remove_held(session, held, actor())
    return jsonify({"removed": held_id})


@bp.route("/stages/<int:stage_id>/schedule", methods=["GET", "PUT", "DELETE"])
def schedule(stage_id: int) -> Any:
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.VIEW if request.method == "GET" else Act.MODIFY, stage)
        row = session.scalar(select(Schedule).where(Schedule.campaign_stage_id == stage_id))
        if request.method == "PUT":
            row = actions.set_schedule(session, stage, str(body_json().get("cron", "")), actor())
        elif request.method == "DELETE":
            stage_admin.remove_schedule(session, stage, actor())
            row = None
        return jsonify(queries.schedule_info(stage_id, row))


@bp.post("/stages/<int:stage_id>/split")
def split_position(stage_id: int) -> Any:
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.MODIFY, stage)
        actions.set_split_position(session, stage, actor(), body_json())
        return jsonify({"stage_id": stage_id, "cs_last_split": stage.cs_last_split})
