"""Recovery preview and launch, and a submission's lineage (reference §4.3–4.5)."""

from __future__ import annotations

import math
import uuid
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.catalog.local_recovery import (
    RECOVERY_TYPES,
    query_for,
    recovery_files,
    recovery_kind,
)
from poms_shared.contracts.messages import RecoverSubmission
from poms_shared.db.audit import record_audit
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.tables import LaunchRequest, Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_web.adapters import actions, queries
from poms_web.context import actor, web_state
from poms_web.stages_api import body_json, launch_answer

bp = Blueprint("recovery", __name__, url_prefix="/api/v1")
PREVIEW_FILES = 500  # names listed per step; the count is always complete


def _submission(session: Session, submission_id: int) -> Submission:
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise queries.NotFound(f"submission {submission_id} does not exist")
    return sub


def _step(
    session: Session, examined: Submission, position: int, rtype: str, overrides: Any
) -> dict[str, Any]:
    files = recovery_files(session, query_for(examined, rtype))
    per_job = examined.stage.job_type.input_files_per_job
    cap = web_state().settings.recovery_max_files
    return {
        "position": position,
        "recovery_type": recovery_kind(rtype),
        "param_overrides": overrides or [],
        "examines": examined.submission_id,
        "count": len(files),
        "files": files[:PREVIEW_FILES],
        "jobs": math.ceil(len(files) / per_job) if per_job and files else None,
        "would_hold": cap > 0 and len(files) > cap,
    }


@bp.get("/submissions/<int:submission_id>/recovery-preview")
def recovery_preview(submission_id: int) -> Any:
    """What each recovery step would launch now (``?type=`` for one type on this submission).

    ``jobs`` is the job count when the job type says how many inputs a job takes.
    """
    wanted = request.args.get("type", "").strip()
    if wanted and wanted not in (*RECOVERY_TYPES, "proj_status"):
        raise actions.BadRequest(
            f"unknown recovery type {wanted!r} (known: {', '.join(RECOVERY_TYPES)})"
        )
    with web_state().db.transaction() as session:
        sub = _submission(session, submission_id)
        original = sub
        if sub.recovery_parent_id is not None:
            original = _submission(session, sub.recovery_parent_id)
        position = original.recovery_position or 0
        if wanted:
            steps = [_step(session, sub, position, wanted, [])]
        else:
            plan = original.stage.job_type.recoveries
            steps = [
                _step(
                    session,
                    original if index == 0 else sub,
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
    body = body_json()
    rtype = str(body.get("recovery_type") or "").strip()
    if not rtype:
        raise actions.BadRequest(f"recovery_type is required (one of {', '.join(RECOVERY_TYPES)})")
    request_id = str(uuid.uuid4())
    with web_state().db.transaction() as session:
        sub = _submission(session, submission_id)
        session.add(
            LaunchRequest(
                request_id=request_id, campaign_stage_id=sub.campaign_stage_id, actor=actor()
            )
        )
        UnitOfWork(session).emit(
            RecoverSubmission(
                submission_id=submission_id,
                recovery_type=rtype,
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
            after={"recovery_type": rtype, "request_id": request_id},
        )
    web_state().wake()
    return launch_answer(request_id, False)


def _brief(sub: Submission) -> dict[str, Any]:
    return {
        "submission_id": sub.submission_id,
        "stage": sub.stage.name,
        "status": SubmissionStatus(sub.status_id).label,
        "dataset": sub.submission_params.get("dataset"),
        "recovery_type": sub.submission_params.get("recovery_type"),
    }


@bp.get("/submissions/<int:submission_id>/lineage")
def lineage(submission_id: int) -> Any:
    """Where a submission came from and what it led to: recoveries and dependents."""
    with web_state().db.transaction() as session:
        sub = _submission(session, submission_id)
        recoveries = session.scalars(
            select(Submission)
            .where(Submission.recovery_parent_id == submission_id)
            .order_by(Submission.submission_id)
        ).all()
        upstream = sub.submission_params.get("parent")
        candidates = session.scalars(
            select(Submission)
            .where(Submission.submission_id > submission_id)
            .where(Submission.recovery_parent_id.is_(None))
            .order_by(Submission.submission_id)
        )
        dependents = [s for s in candidates if s.submission_params.get("parent") == submission_id]
        parent = sub.recovery_parent_id
        return jsonify(
            {
                **_brief(sub),
                "recovery_parent": _brief(_submission(session, parent)) if parent else None,
                "recovery_position": sub.recovery_position,
                "recoveries": [_brief(r) for r in recoveries],
                "upstream": _brief(_submission(session, upstream)) if upstream else None,
                "dependents": [_brief(d) for d in dependents],
                "workflow": sub.submission_params.get("workflow", {}),
            }
        )
