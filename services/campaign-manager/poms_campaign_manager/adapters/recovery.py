"""Recovery sets from the configured catalog, and the dataset each recovery launches on."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.catalog.facts import submission_facts
from poms_shared.catalog.port import RecoverySet, SubmissionCatalog
from poms_shared.db.models import JobType
from poms_shared.db.tables import Submission
from poms_shared.domain.recovery import RecoveryStep, recovery_dataset_name

log = logging.getLogger(__name__)


def recovery_steps(job_type: JobType) -> list[RecoveryStep]:
    """The job type's recovery list in order, each with its parameter overrides."""
    return [
        RecoveryStep(
            item.recovery_type.name,
            tuple((str(k), str(v)) for k, v in (item.param_overrides or [])),
        )
        for item in job_type.recoveries
    ]


def recovery_set(
    catalog: SubmissionCatalog, submission: Submission, recovery_type: str
) -> RecoverySet:
    """What a recovery of ``submission`` would process now; catalog failures raise."""
    found = catalog.recovery_set(submission_facts(submission), recovery_type)
    if found.note:
        log.warning(
            "submission %s: no %s recovery: %s", submission.submission_id, recovery_type, found.note
        )
    return found


def lock_submission(session: Session, submission_id: int) -> Submission | None:
    return session.scalar(
        select(Submission)
        .where(Submission.submission_id == submission_id)
        .with_for_update(of=Submission)
    )


def define_recovery_dataset(
    catalog: SubmissionCatalog,
    original: Submission,
    position: int,
    found: RecoverySet,
    recovery_type: str,
    note: str = "",
) -> str:
    """Name the set as a new dataset in the catalog and keep a record on the recovered
    submission (with the catalog's selection, when it made one)."""
    experiment = original.stage.experiment
    name = recovery_dataset_name(uuid.uuid4().hex[:8], original.submission_id, position)
    description = f"{recovery_type} recovery of submission {original.submission_id}"
    catalog.define_recovery(experiment, name, found, description)
    params = dict(original.submission_params)
    workflow = dict(params.get("workflow") or {})
    record = {
        "name": name,
        "recovery_type": recovery_type,
        "position": position,
        "count": len(found.files),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    if found.query:
        record["dims"] = found.query
    if note:
        record["note"] = note
    workflow["recoveries"] = [*workflow.get("recoveries", []), record]
    params["workflow"] = workflow
    original.submission_params = params
    return name
