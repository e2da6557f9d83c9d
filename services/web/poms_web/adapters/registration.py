"""Submissions registered and reported on from outside: the submit wrappers, scripts, agents.

``register`` is the registration contract of the original ``get_submission_id_for``
(reference §8.4): create a New submission for a stage, or complete one POMS created, with
the command that was run and the SAM project it names. ``update`` is ``update_submission``
(§2.6): the batch id and project are written here; a status is handed to the tracker,
which owns submission statuses and applies the transition guards (§2.3), as it does for
the approve/reject/complete decisions.

A report from the service account (``SERVICE_ACCOUNT``, the agents' and wrappers' user in
the reference) never moves a submission out of a final state (Located, Removed, Failed);
a person's report may (e.g. back to Completed after a kill).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.contracts.messages import SetSubmissionStatus
from poms_shared.db.audit import record_audit
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import CampaignStage
from poms_shared.db.snapshots import row_to_dict, snapshot
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import ConfigSnapshot, Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_web.adapters import actions, queries
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.submission_lists import DEFAULT_PROJECT_PATTERNS, project_from_command

SERVICE_ACCOUNT = "poms"
TEXT_LIMIT = 255


def find_stage(session: Session, experiment: str, raw: str, field: str) -> CampaignStage:
    """A stage by id, or by a fragment of its name matching exactly one stage of the
    experiment; BadRequest naming ``field`` otherwise."""
    value = raw.strip()
    if value.isdecimal():
        return actions.get_stage(session, int(value))
    if not value:
        raise BadRequest(f"{field}: a stage id or name is required")
    found = session.scalars(
        select(CampaignStage)
        .where(
            CampaignStage.experiment == experiment,
            CampaignStage.name.contains(value, autoescape=True),
        )
        .order_by(CampaignStage.campaign_stage_id)
        .limit(6)
    ).all()
    if len(found) == 1:
        return found[0]
    if not found:
        raise BadRequest(f"{field}: no stage of experiment {experiment} has {value!r} in its name")
    names = ", ".join(f"{s.name} ({s.campaign_stage_id})" for s in found[:5])
    raise BadRequest(f"{field}: {value!r} matches more than one stage of {experiment}: {names}")


@dataclass(frozen=True)
class Registration:
    """What a wrapper says about a submission it is about to submit."""

    stage: CampaignStage
    command: str | None = None
    dataset: str | None = None
    parent_id: int | None = None
    submission_id: int | None = None
    user: str | None = None
    test: bool = False


def register(
    session: Session,
    reg: Registration,
    caller: str,
    patterns: Sequence[str] = DEFAULT_PROJECT_PATTERNS,
) -> tuple[Submission, bool]:
    """The submission registered (created, or the one named completed); True if created.

    The caller's permission on the stage (and named submission) is checked before."""
    _check_text("command_executed", reg.command, limit=None)
    _check_text("input_dataset", reg.dataset, limit=None)
    _check_text("user", reg.user, limit=128)
    if reg.parent_id is not None and session.get(Submission, reg.parent_id) is None:
        raise BadRequest(f"parent_submission_id: submission {reg.parent_id} does not exist")
    project = project_from_command(reg.command, patterns)
    if reg.submission_id is not None:
        sub = _existing(session, reg)
        before = _registered(sub)
        if reg.command and sub.command_executed != reg.command:
            sub.command_executed = reg.command
        if caller != SERVICE_ACCOUNT:
            sub.creator_id = actions.experimenter(session, caller).experimenter_id
        if not sub.project and project:
            sub.project = project
        if reg.parent_id is not None and not _parent_of(sub):
            sub.submission_params = {**sub.submission_params, "parent": reg.parent_id}
        created = False
    else:
        sub = _create(session, reg, caller, project)
        before, created = None, True
    _snapshot(session, sub)
    session.flush()
    record_audit(
        session,
        actor=caller,
        action="register_submission",
        entity="submission",
        entity_id=sub.submission_id,
        before=before,
        after=_registered(sub),
    )
    return sub, created


def _existing(session: Session, reg: Registration) -> Submission:
    assert reg.submission_id is not None
    sub = session.scalar(
        select(Submission)
        .where(Submission.submission_id == reg.submission_id)
        .with_for_update(of=Submission)
    )
    if sub is None:
        raise queries.NotFound(f"submission_id: submission {reg.submission_id} does not exist")
    if sub.campaign_stage_id != reg.stage.campaign_stage_id:
        raise BadRequest(
            f"submission_id: submission {sub.submission_id} belongs to stage "
            f"{sub.campaign_stage_id}, not {reg.stage.campaign_stage_id}"
        )
    return sub


def _create(session: Session, reg: Registration, caller: str, project: str | None) -> Submission:
    params: dict[str, Any] = {}
    if reg.dataset:
        params["dataset"] = reg.dataset
    if reg.test:
        params["test"] = 1
    if reg.parent_id is not None:
        params["parent"] = reg.parent_id
    launcher = reg.user or caller
    if launcher != caller:
        params["launched_by"] = caller
    sub = Submission(
        campaign_stage_id=reg.stage.campaign_stage_id,
        creator_id=actions.experimenter(session, caller).experimenter_id,
        launcher=launcher,
        status_id=int(SubmissionStatus.NEW),
        submission_params=params,
        command_executed=reg.command or None,
        project=project,
    )
    session.add(sub)
    session.flush()
    record_status(session, sub, SubmissionStatus.NEW, reason=f"registered by {caller}")
    return sub


def _snapshot(session: Session, sub: Submission) -> None:
    """Point the submission at the configuration in force now (§1.13)."""
    stage = sub.stage
    sub.stage_snapshot_id = snapshot(session, "stage", stage.campaign_stage_id, row_to_dict(stage))
    sub.job_type_snapshot_id = snapshot(
        session, "job_type", stage.job_type_id, row_to_dict(stage.job_type)
    )
    sub.login_setup_snapshot_id = snapshot(
        session, "login_setup", stage.login_setup_id, row_to_dict(stage.login_setup)
    )


def _parent_of(sub: Submission) -> int | None:
    parent = sub.recovery_parent_id or sub.submission_params.get("parent")
    return int(parent) if parent else None


def _registered(sub: Submission) -> dict[str, Any]:
    return {
        "stage_id": sub.campaign_stage_id,
        "command_executed": sub.command_executed,
        "project": sub.project,
        "parent": _parent_of(sub),
        "creator_id": sub.creator_id,
    }


def _check_text(field: str, value: str | None, *, limit: int | None) -> None:
    if value is None:
        return
    if "\x00" in value:
        raise BadRequest(f"{field}: contains a NUL character")
    if limit is not None and len(value) > limit:
        raise BadRequest(f"{field}: at most {limit} characters, not {len(value)}")


# ---- update_submission --------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Fields of an update; None leaves a field as it is."""

    batch_id: str | None = None
    status: SubmissionStatus | None = None
    project: str | None = None
    pct_complete: float | None = None


def parse_pct(raw: Any) -> float | None:
    """``pct_complete`` as a number from 0 to 100 (None/empty: not given)."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(raw, bool):
        raise BadRequest(f"pct_complete: expected a number from 0 to 100, not {raw!r}")
    try:
        pct = float(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"pct_complete: expected a number from 0 to 100, not {raw!r}") from None
    if not 0 <= pct <= 100:
        raise BadRequest(f"pct_complete: expected a number from 0 to 100, not {raw!r}")
    return pct


def check_report(report: Report, batch_field: str = "batch_id") -> None:
    """BadRequest naming (as ``batch_field`` for the batch id) what cannot be stored."""
    for field, value in ((batch_field, report.batch_id), ("project", report.project)):
        if value is not None:
            _check_text(field, value, limit=TEXT_LIMIT if field == batch_field else None)
            if not value.strip():
                raise BadRequest(f"{field}: must not be empty")


def update(
    session: Session, sub: Submission, report: Report, caller: str, batch_field: str = "batch_id"
) -> dict[str, Any]:
    """Write the batch id and project, ask the tracker for the status; what happened.

    The caller's permission on the submission is checked before; errors name the batch id
    ``batch_field``, as the caller called it."""
    check_report(report, batch_field)
    changed: dict[str, Any] = {}
    before = {"batch_id": sub.batch_id, "project": sub.project}
    if report.batch_id is not None and report.batch_id.strip() != sub.batch_id:
        sub.batch_id = report.batch_id.strip()
        changed["batch_id"] = sub.batch_id
    if report.project is not None and report.project.strip() != sub.project:
        sub.project = report.project.strip()
        changed["project"] = sub.project
    wanted, ignored = _status_request(session, sub, report, caller)
    if wanted is not None:
        UnitOfWork(session).emit(
            SetSubmissionStatus(
                submission_id=sub.submission_id,
                status=wanted.label,
                actor=caller,
                reason="reported",
            )
        )
        changed["status"] = wanted.label
    if changed:
        before["status"] = SubmissionStatus(sub.status_id).label
        record_audit(
            session,
            actor=caller,
            action="update_submission",
            entity="submission",
            entity_id=sub.submission_id,
            before={k: before[k] for k in changed},
            after=changed,
        )
    answer: dict[str, Any] = {
        "submission_id": sub.submission_id,
        "batch_id": sub.batch_id,
        "project": sub.project,
        "status": SubmissionStatus(sub.status_id).label,
        "changed": sorted(changed),
    }
    if wanted is not None:
        answer["status_requested"] = wanted.label
    if ignored:
        answer["status_ignored"] = ignored
    return answer


def _status_request(
    session: Session, sub: Submission, report: Report, caller: str
) -> tuple[SubmissionStatus | None, str | None]:
    """The status to ask the tracker for, or why the report changes nothing."""
    wanted = report.status
    if wanted is None:
        return None, None
    if (
        wanted == SubmissionStatus.RUNNING
        and report.pct_complete is not None
        and report.pct_complete >= completion_pct(session, sub)
    ):
        wanted = SubmissionStatus.COMPLETED  # enough of the jobs are done (§2.6)
    current = SubmissionStatus(sub.status_id)
    if caller == SERVICE_ACCOUNT and current.is_final:
        return None, f"submission is {current.label}, a final state"
    if wanted == current:
        return None, f"submission is already {current.label}"
    return wanted, None


def completion_pct(session: Session, sub: Submission) -> float:
    """The stage's completion threshold as it was at the launch (its snapshot)."""
    if sub.stage_snapshot_id is not None:
        snap = session.get(ConfigSnapshot, sub.stage_snapshot_id)
        value = (snap.data if snap else {}).get("completion_pct")
        if isinstance(value, (int, float)):
            return float(value)
    return float(sub.stage.completion_pct)
