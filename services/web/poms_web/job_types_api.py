"""``/api/v1/job-types`` and ``/api/v1/recovery-types``: listing, creating, changing,
deleting and cloning job types with their ordered recovery lists (§12.7, §4).

(``POST /job-types/<id>/test`` lives with the stage launches in ``stages_api``.)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.models import JobType, RecoveryType
from poms_shared.domain.permissions import Act
from poms_web import auth, paging
from poms_web.adapters import templates
from poms_web.adapters.actions import BadRequest
from poms_web.context import actor, web_state
from poms_web.stages_api import body_json

bp = Blueprint("job_types_api", __name__, url_prefix="/api/v1")


def _get(session: Session, job_type_id: int) -> JobType:
    row: JobType = templates.get(session, templates.JOB, job_type_id)
    return row


def _info(session: Session, row: JobType) -> dict[str, Any]:
    return templates.info(row, templates.creator_name(session, row))


@bp.get("/job-types")
def list_job_types() -> Any:
    """The experiment's job types by name, a page at a time; filters as for login setups
    (``q``, ``mine``, ``active``, ``creator_role``, ``shared``)."""
    filters = templates.filters_from(request.args)
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        query = templates.listing(
            templates.JOB, templates.acting_experiment(acting), filters, actor()
        )
        return jsonify(
            paging.page_query(session, query, lambda r: templates.info(r[0], r[1], acting))
        )


@bp.post("/job-types")
def create_job_type() -> Any:
    """``{name, launch_script, definition_parameters?, output_file_patterns?,
    input_files_per_job?, output_files_per_job?, active?, recoveries?}``: 201."""
    body = body_json()
    with web_state().db.transaction() as session:
        row = templates.create(session, templates.JOB, body)
        return jsonify(_info(session, row)), 201


@bp.get("/job-types/<int:job_type_id>")
def get_job_type(job_type_id: int) -> Any:
    """The job type with its parameters and ordered recovery list."""
    with web_state().db.transaction() as session:
        row = _get(session, job_type_id)
        templates.may_view(session, row)
        return jsonify(_info(session, row))


@bp.patch("/job-types/<int:job_type_id>")
def edit_job_type(job_type_id: int) -> Any:
    """Change any field; ``recoveries`` replaces the whole list."""
    body = body_json()
    with web_state().db.transaction() as session:
        row = _get(session, job_type_id)
        changed = templates.edit(session, row, body)
        return jsonify({"changed": changed, "job_type": _info(session, row)})


@bp.delete("/job-types/<int:job_type_id>")
def delete_job_type(job_type_id: int) -> Any:
    """Delete it with its recovery list; 409 naming the stages while any stage uses it."""
    with web_state().db.transaction() as session:
        row = _get(session, job_type_id)
        name = row.name
        templates.delete(session, row)
    return jsonify({"deleted": job_type_id, "name": name})


@bp.post("/job-types/<int:job_type_id>/clone")
def clone_job_type(job_type_id: int) -> Any:
    """``{name}``: a copy (recoveries included) in the acting experiment; 201."""
    body = body_json()
    with web_state().db.transaction() as session:
        made = templates.clone(session, _get(session, job_type_id), body)
        return jsonify(_info(session, made)), 201


@bp.get("/job-types/<int:job_type_id>/recoveries")
def get_recoveries(job_type_id: int) -> Any:
    with web_state().db.transaction() as session:
        row = _get(session, job_type_id)
        templates.may_view(session, row)
        return jsonify({"job_type_id": job_type_id, "recoveries": templates.recovery_list(row)})


def _recoveries_body() -> Any:
    """A JSON list, or ``{"recoveries": list}``."""
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("recoveries: send a JSON list of {recovery_type, param_overrides}")
    if isinstance(body, dict):
        unknown = sorted(set(body) - {"recoveries"})
        if unknown or "recoveries" not in body:
            raise BadRequest("recoveries: send a list, or an object with only 'recoveries'")
        return body["recoveries"]
    return body


@bp.put("/job-types/<int:job_type_id>/recoveries")
def put_recoveries(job_type_id: int) -> Any:
    """Replace the ordered list with ``[{recovery_type, param_overrides}…]``."""
    value = _recoveries_body()
    with web_state().db.transaction() as session:
        row = _get(session, job_type_id)
        changed = templates.replace_recoveries(session, row, value)
        return jsonify(
            {
                "job_type_id": job_type_id,
                "changed": bool(changed),
                "recoveries": templates.recovery_list(row),
            }
        )


@bp.get("/recovery-types")
def list_recovery_types() -> Any:
    """The recovery types a job type's list may name (§4.2)."""
    with web_state().db.transaction() as session:
        rows = session.scalars(select(RecoveryType).order_by(RecoveryType.name))
        items = [
            {"recovery_type_id": r.recovery_type_id, "name": r.name, "description": r.description}
            for r in rows
        ]
    return jsonify(paging.page_of(items))
