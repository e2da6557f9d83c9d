"""HTCondor job-log lines as a job-event source (``POST …/condor-log``).

A terminated event's JobEvent carries what the job's last run used (CPU and wall seconds,
peak and requested memory) as the log tells it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request

from poms_shared.batch.condor_log import CondorLogError, parse_condor_log
from poms_shared.batch.local_events import usage_fields
from poms_shared.contracts.messages import JobEvent, JobEventsReported
from poms_shared.db.messaging import UnitOfWork
from poms_shared.domain.permissions import Act
from poms_web import auth
from poms_web.adapters import actions, queries
from poms_web.context import web_state

bp = Blueprint("condor_log", __name__, url_prefix="/api/v1")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@bp.post("/submissions/<int:submission_id>/condor-log")
def condor_log(submission_id: int) -> Any:
    """Job events from a job log (text body); ``?schedd=`` names the jobs' schedd and
    ``?backend=`` (default jobsub) the backend, so the ids match the poller's."""
    backend = request.args.get("backend", "jobsub").strip()
    schedd = request.args.get("schedd", "").strip()
    for name, value in (("backend", backend), ("schedd", schedd)):
        if value and not _NAME.match(value):
            raise actions.BadRequest(f"{name} {value!r} is not a plain name")
    try:
        text = request.get_data().decode()
    except UnicodeDecodeError:
        raise actions.BadRequest("the job log is not UTF-8 text") from None
    try:
        parsed = parse_condor_log(text)
    except CondorLogError as exc:
        raise actions.BadRequest(str(exc)) from None
    if not parsed:
        raise actions.BadRequest("the job log has no job events POMS uses (000-013)")
    suffix = f"@{schedd}" if schedd else ""
    events = [
        JobEvent(
            source="condor-log",
            backend=backend or "jobsub",
            batch_job_id=f"{e.cluster}.{e.proc}{suffix}",
            submission_id=submission_id,
            state=e.state,
            seq=e.seq,
            at=e.at,
            exit_code=e.exit_code,
            node=e.node,
            **usage_fields(e.usage),
        )
        for e in parsed
    ]
    with web_state().db.transaction() as session:
        auth.may_submission(session, Act.DO, queries.get_submission(session, submission_id))
        UnitOfWork(session).emit(JobEventsReported(events=events))
    web_state().wake()
    jobs = len({e.batch_job_id for e in events})
    received = datetime.now(UTC).isoformat()
    return jsonify({"accepted": len(events), "jobs": jobs, "received": received}), 202
