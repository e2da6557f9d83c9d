"""Recovery inputs from the catalog, and the dataset each recovery launches on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.catalog.local import LocalCatalog
from poms_shared.catalog.local_recovery import query_for, recovery_files
from poms_shared.db.models import JobType
from poms_shared.db.tables import Submission
from poms_shared.domain.recovery import RecoveryStep, recovery_dataset_name


def recovery_steps(job_type: JobType) -> list[RecoveryStep]:
    """The job type's recovery list in order, each with its parameter overrides."""
    return [
        RecoveryStep(
            item.recovery_type.name,
            tuple((str(k), str(v)) for k, v in (item.param_overrides or [])),
        )
        for item in job_type.recoveries
    ]


def files_to_recover(session: Session, submission: Submission, recovery_type: str) -> list[str]:
    return recovery_files(session, query_for(submission, recovery_type))


def lock_submission(session: Session, submission_id: int) -> Submission | None:
    return session.scalar(
        select(Submission)
        .where(Submission.submission_id == submission_id)
        .with_for_update(of=Submission)
    )


def define_recovery_dataset(
    session: Session,
    original: Submission,
    position: int,
    files: tuple[str, ...] | list[str],
    recovery_type: str,
    note: str = "",
) -> str:
    """Name the files as a new dataset and keep a record on the recovered submission."""
    experiment = original.stage.experiment
    name = recovery_dataset_name(uuid.uuid4().hex[:8], original.submission_id, position)
    description = f"{recovery_type} recovery of submission {original.submission_id}"
    LocalCatalog(session).define_dataset(experiment, name, list(files), description)
    params = dict(original.submission_params)
    workflow = dict(params.get("workflow") or {})
    record = {
        "name": name,
        "recovery_type": recovery_type,
        "position": position,
        "count": len(files),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    if note:
        record["note"] = note
    workflow["recoveries"] = [*workflow.get("recoveries", []), record]
    params["workflow"] = workflow
    original.submission_params = params
    return name
