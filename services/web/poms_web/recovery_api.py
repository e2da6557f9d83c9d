"""Recovery preview and launch, and a submission's lineage (reference §4.3–4.5).

The preview asks the configured catalog (``POMS_CATALOG``) what each step would process,
as the campaign manager will, without defining anything.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.catalog.factory import make_catalog
from poms_shared.catalog.facts import submission_facts
from poms_shared.catalog.port import CatalogError, SubmissionCatalog
from poms_shared.contracts.messages import RecoverSubmission
from poms_shared.db.audit import record_audit
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.tables import LaunchRequest, Submission
from poms_shared.domain.permissions import Act
from poms_shared.domain.recovery import (
    RECOVERY_TYPES,
    check_recovery_type,
    examined,
    recovery_kind,
)
from poms_shared.domain.statuses import SubmissionStatus
from poms_web import auth
from poms_web.adapters import actions, queries
from poms_web.context import actor, web_state
from poms_web.errors import error_body
from poms_web.stages_api import body_json, launch_answer

bp = Blueprint("recovery", __name__, url_prefix="/api/v1")
PREVIEW_FILES = 500  # names listed per step; the count is always complete


@bp.errorhandler(CatalogError)
def _catalog_down(exc: CatalogError) -> Any:
    """The catalog did not answer: a 503 with its reason, so the caller may ask again."""
    return jsonify(error_body(503, "catalog_unavailable", str(exc))), 503


def _step(
    catalog: SubmissionCatalog, examined: Submission, position: int, rtype: str, overrides: Any
) -> dict[str, Any]:
    found = catalog.recovery_set(submission_facts(examined), rtype)
    files = list(found.files)
    per_job = examined.stage.job_type.input_files_per_job
    cap = web_state().settings.recovery_max_files
    step = {
        "position": position,
        "recovery_type": recovery_kind(rtype),
        "param_overrides": overrides or [],
        "examines": examined.submission_id,
        "count": len(files),
        "files": files[:PREVIEW_FILES],
        "jobs": math.ceil(len(files) / per_job) if per_job and files else None,
        "would_hold": cap > 0 and len(files) > cap,
    }
    if found.note:  # why the catalog could select nothing
        step["note"] = found.note
    return step


@bp.get("/submissions/<int:submission_id>/recovery-preview")
def recovery_preview(submission_id: int) -> Any:
    """What each recovery step would launch now (``?type=`` for one type on this submission).

    ``jobs`` is the job count when the job type says how many inputs a job takes; 503
    when the catalog cannot be asked.
    """
    wanted = request.args.get("type", "").strip()
    if wanted:
        try:
            wanted = check_recovery_type(wanted)
        except ValueError as exc:
            raise actions.BadRequest(str(exc)) from None
    with web_state().db.transaction() as session:
        sub = queries.get_submission(session, submission_id)
        auth.may_submission(session, Act.VIEW, sub)
        original = sub
        if sub.recovery_parent_id is not None:
            original = queries.get_submission(session, sub.recovery_parent_id)
        position = original.recovery_position or 0
        catalog = make_catalog(web_state().settings, session, experiment=sub.stage.experiment)
        if wanted:
            steps = [_step(catalog, sub, position, wanted, [])]
        else:
            plan = original.stage.job_type.recoveries
            steps = [
                _step(
                    catalog,
                    examined(index, original, sub),
                    index,
                    item.recovery_type.name,
                    item.param_overrides,
                )
                for index, item in enumerate(plan)
                if index >= position
            ]
        return jsonify(
            {
                "submission_id": submission_id,
                "original": original.submission_id,
                "next_position": position,
                "cap": web_state().settings.recovery_max_files,
                "steps": steps,
            }
        )


@bp.post("/submissions/<int:submission_id>/recover")
def recover(submission_id: int) -> Any:
    """Launch a recovery of ``{"recovery_type": …}`` now; 202 with the new submission."""
    rtype = str(body_json().get("recovery_type") or "").strip()
    with web_state().db.transaction() as session:
        request_id = request_recovery(session, submission_id, rtype)
    web_state().wake()
    return launch_answer(request_id, False)


def request_recovery(session: Session, submission_id: int, recovery_type: str) -> str:
    """Ask the campaign manager for a recovery of the submission (DO on it); the launch
    request's id."""
    if not recovery_type:
        raise actions.BadRequest(f"recovery_type is required (one of {', '.join(RECOVERY_TYPES)})")
    sub = queries.get_submission(session, submission_id)
    auth.may_submission(session, Act.DO, sub)
    request_id = str(uuid.uuid4())
    session.add(
        LaunchRequest(request_id=request_id, campaign_stage_id=sub.campaign_stage_id, actor=actor())
    )
    UnitOfWork(session).emit(
        RecoverSubmission(
            submission_id=submission_id,
            recovery_type=recovery_type,
            actor=actor(),
            request_id=request_id,
        )
    )
    record_audit(
        session,
        actor=actor(),
        action="recover",
        entity="submission",
        entity_id=submission_id,
        after={"recovery_type": recovery_type, "request_id": request_id},
    )
    return request_id


def _brief(sub: Submission) -> dict[str, Any]:
    return {
        "submission_id": sub.submission_id,
        "stage": sub.stage.name,
        "status": SubmissionStatus(sub.status_id).label,
        "dataset": sub.submission_params.get("dataset"),
        "recovery_type": sub.submission_params.get("recovery_type"),
    }


def _briefs(session: Session, *conditions: Any) -> list[dict[str, Any]]:
    query = select(Submission).where(*conditions).order_by(Submission.submission_id)
    return [_brief(s) for s in session.scalars(query)]


def _brief_of(session: Session, submission_id: int | None) -> dict[str, Any] | None:
    return _brief(queries.get_submission(session, submission_id)) if submission_id else None


@bp.get("/submissions/<int:submission_id>/lineage")
def lineage(submission_id: int) -> Any:
    """Where a submission came from and what it led to: recoveries and dependents."""
    with web_state().db.transaction() as session:
        sub = queries.get_submission(session, submission_id)
        auth.may_submission(session, Act.VIEW, sub)
        upstream = Submission.submission_params["parent"].as_integer()
        return jsonify(
            {
                **_brief(sub),
                "recovery_parent": _brief_of(session, sub.recovery_parent_id),
                "recovery_position": sub.recovery_position,
                "recoveries": _briefs(session, Submission.recovery_parent_id == submission_id),
                "upstream": _brief_of(session, sub.submission_params.get("parent")),
                "dependents": _briefs(
                    session,
                    Submission.recovery_parent_id.is_(None),
                    upstream == submission_id,
                ),
                "workflow": sub.submission_params.get("workflow", {}),
            }
        )
