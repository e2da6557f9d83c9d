"""Job control, approvals, forced location, launch logs and aborts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from poms_shared.contracts.messages import AbortLaunch, JobControl, SetSubmissionStatus
from poms_shared.db.audit import record_audit
from poms_shared.db.base import utcnow
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.tables import Submission
from poms_shared.domain.permissions import Act
from poms_shared.domain.statuses import SubmissionStatus
from poms_web import auth
from poms_web.adapters import actions, queries
from poms_web.context import actor, experiment_param, web_state

bp = Blueprint("control", __name__, url_prefix="/api/v1")
JOB_ACTIONS = "any(kill, cancel, hold, release)"
DECISIONS = {
    "approve": "Completed",
    "reject": "Removed",
    "force-locate": "Located",
    "complete": "Completed",
}


@dataclass(frozen=True)
class Scope:
    """The submissions a job-control action reaches, and the batch selector naming them."""

    entity: str  # submission, stage or campaign
    entity_id: int
    selector: str
    submissions: list[Submission]

    @property
    def batch_ids(self) -> list[str]:
        return [s.batch_id for s in self.submissions if s.batch_id]


def submission_scope(session: Session, submission_id: int, action: str) -> Scope:
    """One submission, if the requester may operate it; 400 once it is past Running."""
    auth.may_submission(session, Act.DO, queries.get_submission(session, submission_id))
    subs = queries.submissions_in_scope(session, submission_id=submission_id)
    if not subs:
        raise actions.BadRequest(
            f"submission_id: submission {submission_id} is past Running;"
            f" there are no jobs to {action}"
        )
    return Scope("submission", submission_id, f"POMS4_SUBMISSION_ID=={submission_id}", subs)


def stage_scope(session: Session, stage: CampaignStage) -> Scope:
    auth.may(session, Act.DO, stage)
    sid = stage.campaign_stage_id
    subs = queries.submissions_in_scope(session, stage_ids=[sid])
    return Scope("stage", sid, f"POMS4_CAMPAIGN_STAGE_ID=={sid}", subs)


def campaign_scope(session: Session, campaign: Campaign) -> Scope:
    """Every stage of the campaign (the reference reached only one, Appendix C 14)."""
    auth.may(session, Act.DO, campaign)
    stage_ids = [s.campaign_stage_id for s in campaign.stages]
    subs = queries.submissions_in_scope(session, stage_ids=stage_ids)
    cid = campaign.campaign_id
    return Scope("campaign", cid, f"POMS4_CAMPAIGN_ID=={cid}", subs)


def control(session: Session, scope: Scope, action: str) -> list[int]:
    """Send one JobControl for the submissions in scope and audit it."""
    ids = [s.submission_id for s in scope.submissions]
    if action in ("kill", "cancel"):
        # Whichever the tracker hears first, the jobs ending or the launcher's report of
        # the kill, the submission ends Removed (Cancelled), never Completed or Located.
        ended = {"action": action, "actor": actor(), "at": utcnow().isoformat()}
        for sub in scope.submissions:
            sub.submission_params = {**(sub.submission_params or {}), "ended_by": ended}
    if ids:
        UnitOfWork(session).emit(JobControl(submission_ids=ids, action=action, actor=actor()))
    record_audit(
        session,
        actor=actor(),
        action=f"jobs_{action}",
        entity=scope.entity,
        entity_id=scope.entity_id,
        after={"submission_ids": ids},
    )
    return ids


@bp.post(f"/submissions/<int:submission_id>/<{JOB_ACTIONS}:action>")
def control_submission(submission_id: int, action: str) -> Any:
    """kill → Removed, cancel → Cancelled, hold / release the jobs (only while ≤ Running)."""
    with web_state().db.transaction() as session:
        ids = control(session, submission_scope(session, submission_id, action), action)
    web_state().wake()
    return jsonify({"action": action, "submission_ids": ids}), 202


@bp.post(f"/stages/<int:stage_id>/jobs/<{JOB_ACTIONS}:action>")
def control_stage(stage_id: int, action: str) -> Any:
    with web_state().db.transaction() as session:
        scope = stage_scope(session, actions.get_stage(session, stage_id))
        ids = control(session, scope, action)
    web_state().wake()
    return jsonify({"action": action, "submission_ids": ids}), 202


@bp.post(f"/campaigns/<name>/jobs/<{JOB_ACTIONS}:action>")
def control_campaign(name: str, action: str) -> Any:
    with web_state().db.transaction() as session:
        campaign = queries.find_campaign(session, experiment_param(), name)
        ids = control(session, campaign_scope(session, campaign), action)
    web_state().wake()
    return jsonify({"action": action, "submission_ids": ids}), 202


@bp.post("/campaigns/<name>/<any(pause, resume):action>")
def pause_campaign(name: str, action: str) -> Any:
    """Pause: every stage queues its launches; resume: release them and replay."""
    with web_state().db.transaction() as session:
        campaign = queries.find_campaign(session, experiment_param(), name)
        auth.may(session, Act.DO, campaign)
        uow = UnitOfWork(session)
        replayed: list[int] = []
        for stage in campaign.stages:
            actions.set_stage_hold(session, stage, actor(), hold=action == "pause")
        if action == "resume":
            for stage in campaign.stages:
                replayed += actions.replay_held(uow, stage.campaign_stage_id)
    web_state().wake()
    return jsonify({"campaign": name, "paused": action == "pause", "replayed": replayed})


def request_decision(session: Session, submission_id: int, decision: str) -> str:
    """Ask the tracker for a person's status decision (after the DO check); the status."""
    sub = queries.get_submission(session, submission_id)
    auth.may_submission(session, Act.DO, sub)
    current = SubmissionStatus(sub.status_id)
    if decision in ("approve", "reject") and current != SubmissionStatus.AWAITING_APPROVAL:
        raise actions.BadRequest(
            f"submission {submission_id} is {current.label}, not Awaiting Approval"
        )
    UnitOfWork(session).emit(
        SetSubmissionStatus(
            submission_id=submission_id,
            status=DECISIONS[decision],
            actor=actor(),
            reason=decision,
        )
    )
    record_audit(
        session,
        actor=actor(),
        action=decision,
        entity="submission",
        entity_id=submission_id,
        before={"status": current.label},
        after={"status": DECISIONS[decision]},
    )
    return DECISIONS[decision]


@bp.post("/submissions/<int:submission_id>/<decision>")
def decide(submission_id: int, decision: str) -> Any:
    """Approve / reject an approval submission; kick to Completed; force Located."""
    if decision not in DECISIONS:
        raise queries.NotFound(f"no such action {decision!r} on a submission")
    with web_state().db.transaction() as session:
        requested = request_decision(session, submission_id, decision)
    web_state().wake()
    return jsonify({"submission_id": submission_id, "requested": requested}), 202


@bp.get("/submissions/<int:submission_id>/log")
def launch_log(submission_id: int) -> Any:
    """The launch output so far (``?tail=N`` for the last N lines)."""
    with web_state().db.transaction() as session:
        sub = queries.get_submission(session, submission_id)
        auth.may_submission(session, Act.VIEW, sub)
        path = sub.launch_log
    if not path or not Path(path).exists():
        raise queries.NotFound(f"submission {submission_id} has no launch log yet")
    lines = Path(path).read_text(errors="replace").splitlines(keepends=True)
    tail = request.args.get("tail", "")
    if tail.isdecimal():
        lines = lines[-int(tail) :]
    return Response("".join(lines), mimetype="text/plain")


def request_abort(session: Session, submission_id: int) -> None:
    """Ask the launcher to kill a launch still running (after the DO check)."""
    auth.may_submission(session, Act.DO, queries.get_submission(session, submission_id))
    UnitOfWork(session).emit(AbortLaunch(submission_id=submission_id, actor=actor()))
    record_audit(
        session, actor=actor(), action="abort", entity="submission", entity_id=submission_id
    )


@bp.post("/submissions/<int:submission_id>/abort")
def abort(submission_id: int) -> Any:
    with web_state().db.transaction() as session:
        request_abort(session, submission_id)
    web_state().wake()
    return jsonify({"submission_id": submission_id, "abort": "requested"}), 202
