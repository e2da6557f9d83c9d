"""``/api/v1``: a campaign's detail, launch and `.ini` in and out; a submission's detail.

The campaign list and the rest of campaign management are in ``campaigns_api``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from poms_shared.contracts.messages import LaunchCampaign
from poms_shared.db.audit import record_audit
from poms_shared.db.campaigns import load_campaign_spec
from poms_shared.db.messaging import UnitOfWork
from poms_shared.domain.dag import choose_leading_stage
from poms_shared.domain.permissions import Act
from poms_shared.ini.parser import parse_ini
from poms_shared.ini.writer import write_ini
from poms_web import auth
from poms_web.adapters import campaign_admin, queries
from poms_web.context import actor, experiment_param, web_state

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/campaigns/<name>")
def get_campaign(name: str) -> Any:
    with web_state().db.transaction() as session:
        campaign = campaign_admin.find(session, experiment_param(), name)
        auth.may(session, Act.VIEW, campaign)
        return jsonify(queries.campaign_detail(session, campaign))


@bp.post("/campaigns/<name>/launch")
def launch_campaign(name: str) -> Any:
    """Validate, then hand the launch to the campaign manager through the outbox."""
    body = request.get_json(silent=True) or {}
    with web_state().db.transaction() as session:
        campaign = campaign_admin.find(session, experiment_param(), name)
        auth.may(session, Act.DO, campaign)
        stages, edges = queries.campaign_graph(session, campaign)
        leader = choose_leading_stage(campaign.name, stages, edges)
        uow = UnitOfWork(session)
        envelope = uow.emit(
            LaunchCampaign(
                campaign_id=campaign.campaign_id,
                launcher=actor(),
                test=bool(body.get("test")),
            )
        )
        record_audit(
            session,
            actor=actor(),
            action="launch",
            entity="campaign",
            entity_id=campaign.campaign_id,
            after={"leading_stage": stages[leader], "message_id": envelope.message_id},
        )
    web_state().wake()
    return jsonify(
        {
            "status": "accepted",
            "campaign": name,
            "leading_stage": stages[leader],
            "correlation_id": envelope.correlation_id,
        }
    ), 202


@bp.get("/campaigns/<name>/ini")
def export_ini(name: str) -> Any:
    with web_state().db.transaction() as session:
        auth.may(session, Act.VIEW, campaign_admin.find(session, experiment_param(), name))
        spec = load_campaign_spec(session, experiment=experiment_param(), name=name)
    text = write_ini(spec, full=request.args.get("full", "1") != "0")
    return Response(
        text,
        mimetype="text/plain",
        headers={"Content-Disposition": f'inline; filename="{name}.ini"'},
    )


@bp.post("/campaigns/ini")
def upload_ini() -> Any:
    """Create or update a campaign from an `.ini` file (multipart ``file`` or raw body)."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file") or request.files.get("upload")
        raw = upload.read() if upload else b""
    else:
        # Any other body is the file itself, even if labelled as a form (curl --data-binary).
        raw = request.get_data()
    if not raw:
        return jsonify(
            {
                "error": {
                    "status": 400,
                    "code": "missing_file",
                    "message": "send the .ini as multipart field 'file' or as the request body",
                }
            }
        ), 400
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return jsonify(
            {"error": {"status": 400, "code": "bad_ini", "message": "the file is not UTF-8 text"}}
        ), 400
    spec = parse_ini(text)
    experiment = request.args.get("experiment") or spec.experiment or experiment_param()
    with web_state().db.transaction() as session:
        # the campaign, and any stored login setup or job type the file describes differently
        result = campaign_admin.save_spec(session, spec, text, experiment=experiment)
    current_app.logger.info("campaign %s saved from .ini by %s", spec.name, actor())
    return jsonify(
        {
            "status": "created",
            "campaign": spec.name,
            "campaign_id": result.campaign_id,
            "stage_ids": result.stage_ids,
            "warnings": result.warnings,
        }
    ), 201


@bp.get("/submissions/<int:submission_id>")
def get_submission(submission_id: int) -> Any:
    with web_state().db.transaction() as session:
        auth.may_submission(session, Act.VIEW, queries.get_submission(session, submission_id))
        return jsonify(queries.submission_detail(session, submission_id))
