"""A submission's status: its jobs rolled up, the located check, guarded transitions.

The located check asks the configured catalog (``POMS_CATALOG``) only when the decision
needs counts; a catalog that cannot be asked leaves the submission Completed with the
reason, for the Completed sweep to ask again.
"""

from __future__ import annotations

import logging

from poms_shared.catalog.port import CatalogError
from poms_shared.contracts.messages import (
    SubmissionCompleted,
    SubmissionLocated,
    SubmissionStatusChanged,
)
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import Settings
from poms_tracker.adapters import repository as repo
from poms_tracker.domain.completion import (
    LocatedDecision,
    catalog_unavailable,
    decide_located,
    needs_counts,
)
from poms_tracker.domain.rules import JobCounts, ended_by_person, next_status, rollup_status

log = logging.getLogger(__name__)


def refresh(
    uow: UnitOfWork,
    submission: Submission,
    counts: JobCounts | None = None,
    settings: Settings | None = None,
    *,
    ask_catalog: bool = True,
) -> bool:
    """Roll job counts up into the status, then check whether it is Located.

    False when the located check could not ask the data catalog (or was told not to,
    ``ask_catalog``, after a failure earlier in the same pass): the submission stays
    Completed with the reason, and the Completed sweep asks again. Job and file events
    are never held back or dead-lettered because the catalog is down.
    """
    if counts is None:
        counts = repo.job_counts(uow.session, submission.submission_id)
    ended = (submission.submission_params or {}).get("ended_by") or {}
    by_counts = rollup_status(counts, submission.stage.failed_ratio)
    proposed = ended_by_person(by_counts, counts, ended.get("action"))
    if proposed is not None:
        reason = f"jobs: {counts}"
        if proposed != by_counts:
            reason = f"jobs {ended['action']}ed by {ended.get('actor') or 'someone'}: {counts}"
        transition(uow, submission, proposed, reason=reason)
    if SubmissionStatus(submission.status_id) != SubmissionStatus.COMPLETED:
        return True
    decision, answered = _located_decision(uow, submission, counts.total, settings, ask_catalog)
    submission.submission_params = {**submission.submission_params, "completion_why": decision.why}
    if decision.located:
        transition(uow, submission, SubmissionStatus.LOCATED, reason=decision.why)
    return answered


def _located_decision(
    uow: UnitOfWork, submission: Submission, jobs: int, settings: Settings | None, ask: bool
) -> tuple[LocatedDecision, bool]:
    """The decision, and whether the catalog answered (True when it was not needed)."""
    evidence = repo.located_evidence(uow.session, submission, jobs)
    if not needs_counts(evidence):
        return decide_located(evidence), True
    if not ask:
        return catalog_unavailable(evidence, "it failed earlier in this pass"), False
    try:
        evidence = repo.with_located_counts(
            uow.session, submission, evidence, settings or Settings()
        )
    except CatalogError as exc:
        log.warning("submission %s: located check: %s", submission.submission_id, exc)
        return catalog_unavailable(evidence, str(exc)), False
    return decide_located(evidence), True


def transition(
    uow: UnitOfWork,
    submission: Submission,
    proposed: SubmissionStatus,
    *,
    reason: str,
    automatic: bool = True,
) -> bool:
    """Apply the guards, write history, emit the status events."""
    current = SubmissionStatus(submission.status_id)
    new = next_status(
        current,
        proposed,
        is_recovery=submission.recovery_parent_id is not None,
        automatic=automatic,
    )
    if new is None:
        return False
    record_status(uow.session, submission, new, reason=reason)
    stage = submission.stage
    ids = {
        "submission_id": submission.submission_id,
        "stage_id": stage.campaign_stage_id,
        "campaign_id": stage.campaign_id,
    }
    uow.emit(SubmissionStatusChanged(**ids, old_status=current.label, new_status=new.label))
    if new == SubmissionStatus.COMPLETED:
        uow.emit(SubmissionCompleted(**ids))
    elif new == SubmissionStatus.LOCATED:
        uow.emit(SubmissionLocated(**ids))
    log.info("submission %s: %s -> %s", submission.submission_id, current.label, new.label)
    return True
