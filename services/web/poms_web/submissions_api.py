"""``/api/v1``: submissions listed, registered, reported on; their history and jobs.

``GET /submissions`` filters (all optional): ``campaign`` (name), ``stage`` (id),
``status`` (labels, repeated or comma-separated), ``tmin``/``tmax``/``tdays`` (created in
the window, see ``submission_lists``), ``mine`` (launched or registered by the requester);
newest first, paginated in the database.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from poms_shared.domain.permissions import Act
from poms_shared.domain.statuses import SubmissionStatus
from poms_web import auth, paging
from poms_web.adapters import actions, queries, registration
from poms_web.adapters import submission_lists as lists
from poms_web.adapters.actions import BadRequest
from poms_web.context import actor, web_state
from poms_web.stages_api import body_json

bp = Blueprint("submissions_api", __name__, url_prefix="/api/v1")
TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")
REGISTRATION_FIELDS = frozenset(
    {"stage_id", "command_executed", "input_dataset", "parent_submission_id"}
    | {"submission_id", "user", "test"}
)
REPORT_FIELDS = frozenset({"batch_id", "status", "project", "pct_complete"})


@bp.get("/submissions")
def list_submissions() -> Any:
    args = request.args
    window = lists.time_window(args.get("tmin"), args.get("tmax"), args.get("tdays"))
    statuses = lists.parse_statuses(args.getlist("status"))
    mine = _flag("mine", args.get("mine", ""))
    stage_id = _int_arg("stage")
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        # an administrator may act nowhere in particular: the deployment's experiment
        experiment = acting.experiment or web_state().settings.experiment
        campaign_id = None
        if args.get("campaign"):
            campaign = queries.find_campaign(session, experiment, args["campaign"])
            auth.may(session, Act.VIEW, campaign)
            campaign_id = campaign.campaign_id
        if stage_id is not None:
            auth.may(session, Act.VIEW, actions.get_stage(session, stage_id))
        filters = lists.Filters(
            experiment=experiment,
            campaign_id=campaign_id,
            stage_id=stage_id,
            statuses=statuses,
            window=window,
            mine=acting.username if mine else None,
        )
        query = lists.submissions_query(session, filters)
        return jsonify(paging.page_query(session, query, lists.submission_row))


@bp.get("/submissions/<int:submission_id>/history")
def submission_history(submission_id: int) -> Any:
    """Status changes, oldest first."""
    with web_state().db.transaction() as session:
        auth.may_submission(session, Act.VIEW, queries.get_submission(session, submission_id))
        items = [{**h, "at": h["at"].isoformat()} for h in lists.history(session, submission_id)]
    return jsonify(paging.page_of(items))


@bp.get("/submissions/<int:submission_id>/jobs")
def submission_jobs(submission_id: int) -> Any:
    """The submission's batch jobs: state, exit code, node, times."""
    with web_state().db.transaction() as session:
        auth.may_submission(session, Act.VIEW, queries.get_submission(session, submission_id))
        return jsonify(paging.page_query(session, lists.jobs_query(submission_id), lists.job_row))


@bp.post("/submissions")
def register_submission() -> Any:
    """Register a submission for a stage (``get_submission_id_for``): 201 when created,
    200 when ``submission_id`` named one POMS made (its command and project completed)."""
    body = body_json()
    _only(body, REGISTRATION_FIELDS)
    stage_id = _body_int(body, "stage_id", required=True)
    assert stage_id is not None
    with web_state().db.transaction() as session:
        stage = actions.get_stage(session, stage_id)
        auth.may(session, Act.DO, stage)
        sid = _body_int(body, "submission_id")
        if sid is not None:
            auth.may_submission(session, Act.DO, queries.get_submission(session, sid))
        reg = registration.Registration(
            stage=stage,
            command=_body_text(body, "command_executed"),
            dataset=_body_text(body, "input_dataset"),
            parent_id=_body_int(body, "parent_submission_id"),
            submission_id=sid,
            user=_body_text(body, "user"),
            test=_body_flag(body, "test"),
        )
        sub, created = registration.register(session, reg, actor())
        answer = {
            "submission_id": sub.submission_id,
            "stage_id": sub.campaign_stage_id,
            "status": SubmissionStatus(sub.status_id).label,
            "project": sub.project,
            "created": created,
        }
    return jsonify(answer), 201 if created else 200


@bp.patch("/submissions/<int:submission_id>")
def update_submission(submission_id: int) -> Any:
    """``{batch_id, status, project, pct_complete}`` (``update_submission``): batch id and
    project written now; a status is asked of the tracker (202), which guards it."""
    body = body_json()
    _only(body, REPORT_FIELDS)
    report = registration.Report(
        batch_id=_body_text(body, "batch_id"),
        status=_body_status(body),
        project=_body_text(body, "project"),
        pct_complete=registration.parse_pct(body.get("pct_complete")),
    )
    with web_state().db.transaction() as session:
        sub = queries.get_submission(session, submission_id)
        auth.may_submission(session, Act.DO, sub)
        answer = registration.update(session, sub, report, actor())
    web_state().wake()
    return jsonify(answer), 202 if "status_requested" in answer else 200


# ---- parsing --------------------------------------------------------------------------


def _flag(name: str, raw: str) -> bool:
    if raw.strip().lower() in TRUE:
        return True
    if raw.strip().lower() in FALSE:
        return False
    raise BadRequest(f"{name}: expected true or false, not {raw!r}")


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdecimal():
        raise BadRequest(f"{name}: expected a stage id (a whole number), not {raw!r}")
    return int(raw)


def _only(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(
            f"{unknown[0]}: unknown field; the fields are {', '.join(sorted(allowed))}"
        )


def _body_int(body: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{name}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRequest(f"{name}: expected a whole number, not {value!r}")
    if isinstance(value, str) and not value.strip().isdecimal():
        raise BadRequest(f"{name}: expected a whole number, not {value!r}")
    return int(value)


def _body_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name}: expected text, not {value!r}")
    return value.strip()


def _body_flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)):
        return _flag(name, str(value))
    raise BadRequest(f"{name}: expected true or false, not {value!r}")


def _body_status(body: dict[str, Any]) -> SubmissionStatus | None:
    raw = _body_text(body, "status")
    if not raw:
        return None
    found = lists.parse_statuses([raw])
    if len(found) != 1:
        raise BadRequest(f"status: expected one status, not {raw!r}")
    return found[0]
