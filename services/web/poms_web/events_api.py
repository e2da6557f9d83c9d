"""``/api/v1``: job events and declared files reported by jobs and wrappers, file statistics.

Reports are checked here and handed to the tracker through the outbox, so they go through
the same idempotent pipeline as the batch pollers' (duplicates and reordering are harmless).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, TypeVar

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.contracts.messages import FilesDeclared, JobEventsReported
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import Experiment
from poms_shared.db.tables import Job, Submission
from poms_shared.domain.permissions import Act
from poms_web import auth
from poms_web.adapters import actions, queries
from poms_web.context import web_state
from poms_web.errors import error_body

bp = Blueprint("events", __name__, url_prefix="/api/v1")
MAX_EVENTS = 5000  # job events per request
MAX_FILES = 5000  # declared outputs, and input reports, per request
INPUT_STATES = ("delivered", "consumed", "failed", "skipped")
M = TypeVar("M", bound=BaseModel)


class BadField(actions.BadRequest):
    """A request body with a field that is missing, malformed or refers to nothing."""

    def __init__(self, field: str, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.errors = errors or [{"field": field, "message": message}]


@bp.errorhandler(BadField)
def _bad_field(exc: BadField) -> Any:
    body = error_body(400, "bad_request", str(exc), field=exc.field, errors=exc.errors)
    return jsonify(body), 400


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        raise BadField("", "the request body must be JSON (Content-Type: application/json)")
    if not isinstance(body, dict):
        raise BadField("", "the request body must be a JSON object")
    return body


def _validate(model: type[M], body: dict[str, Any]) -> M:
    """The body as ``model``; a 400 naming every bad field (pydantic's locations) if not."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()[:20]
        ]
        raise BadField(errors[0]["field"], errors[0]["message"], errors) from None


def _too_many(field: str, items: Any, limit: int) -> None:
    if isinstance(items, list) and len(items) > limit:
        raise BadField(field, f"at most {limit} per request, got {len(items)}; send them in parts")


@bp.post("/job-events")
def report_job_events() -> Any:
    """``{"events": [JobEvent, ...]}`` → 202 ``{"accepted": n}``; the tracker applies them."""
    body = _json_object()
    _too_many("events", body.get("events"), MAX_EVENTS)
    report = _validate(JobEventsReported, body)
    if report.events:
        with web_state().db.transaction() as session:
            wanted = [e.submission_id for e in report.events]
            _check_submissions(session, wanted, "events.{}.submission_id")
            UnitOfWork(session).emit(report)
        web_state().wake()
    return jsonify({"accepted": len(report.events)}), 202


@bp.post("/files")
def declare_files() -> Any:
    """A ``FilesDeclared`` payload: outputs with parents, and what became of the inputs."""
    body = _json_object()
    _too_many("files", body.get("files"), MAX_FILES)
    _too_many("inputs", body.get("inputs"), MAX_FILES)
    declared = _validate(FilesDeclared, body)
    with web_state().db.transaction() as session:
        declared = _resolve_submission(session, declared)
        UnitOfWork(session).emit(declared)
    web_state().wake()
    answer = {
        "accepted": len(declared.files),
        "inputs": len(declared.inputs),
        "submission_id": declared.submission_id,
    }
    return jsonify(answer), 202


def _check_submissions(session: Session, wanted: list[int], field: str) -> None:
    """Reports for a submission that does not exist would be dropped: refuse them here."""
    known = set(
        session.scalars(
            select(Submission.submission_id).where(Submission.submission_id.in_(set(wanted)))
        )
    )
    for index, sid in enumerate(wanted):
        if sid not in known:
            raise BadField(field.format(index), f"submission {sid} does not exist")
    for sid in sorted(known):  # reporting on a submission is operating it
        submission = session.get(Submission, sid)
        assert submission is not None
        auth.may_submission(session, Act.DO, submission)


def _resolve_submission(session: Session, evt: FilesDeclared) -> FilesDeclared:
    """Name the submission (from the job when only its batch id is given) and check it."""
    if session.get(Experiment, evt.experiment) is None:
        raise BadField("experiment", f"experiment {evt.experiment!r} does not exist")
    sid = evt.submission_id
    if sid is None:
        if not evt.batch_job_id:
            raise BadField("submission_id", "give submission_id or batch_job_id")
        sid = session.scalar(select(Job.submission_id).where(Job.batch_job_id == evt.batch_job_id))
        if sid is None:
            raise BadField(
                "batch_job_id", f"batch job {evt.batch_job_id!r} is not known; give submission_id"
            )
    submission = session.get(Submission, sid)
    if submission is None:
        raise BadField("submission_id", f"submission {sid} does not exist")
    if submission.stage.experiment != evt.experiment:
        raise BadField(
            "experiment", f"submission {sid} belongs to experiment {submission.stage.experiment!r}"
        )
    auth.may_submission(session, Act.DO, submission)
    return evt.model_copy(update={"submission_id": sid})


@bp.get("/submissions/<int:submission_id>/files")
def submission_files(submission_id: int) -> Any:
    """Inputs with their status, outputs with location and parents, and the counts (§10.4)."""
    with web_state().db.transaction() as session:
        auth.may_submission(session, Act.VIEW, queries.get_submission(session, submission_id))
        files = queries.submission_files(session, submission_id)
    return jsonify({"submission_id": submission_id, **files, "counts": file_counts(**files)})


def file_counts(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, int]:
    """Inputs by status, inputs with declared / located outputs, pending, and outputs."""
    names = {i["name"] for i in inputs}
    by_status = Counter(i["status"] for i in inputs)
    declared_for = {p for o in outputs for p in o["parents"]} & names
    located_for = {p for o in outputs if o["located"] for p in o["parents"]} & names
    return {
        "inputs": len(inputs),
        **{status: by_status[status] for status in INPUT_STATES},
        "inputs_with_outputs_declared": len(declared_for),
        "inputs_with_outputs_located": len(located_for),
        "pending": len(names - located_for),
        "outputs_declared": len(outputs),
        "outputs_located": sum(1 for o in outputs if o["located"]),
    }
