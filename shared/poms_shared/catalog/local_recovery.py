"""Recovery file sets from the local catalog (reference §4.2, with local meanings).

A submission's inputs (``submission_files``) play the part of a SAM project's snapshot and
their statuses the part of its per-file consumption record:

* ``consumed_status`` (and any unknown type): inputs not consumed;
* ``process_status``: those, plus inputs consumed by a job that failed;
* ``delivered_not_consumed``: inputs delivered (or skipped) and never processed;
* ``added_files``: files now in the submission's input dataset that it was never given;
* ``pending_files``: inputs without a located child of this software version matching
  the output patterns, made since the submission was created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from poms_shared.db.tables import (
    Dataset,
    DatasetFile,
    File,
    FileParent,
    Job,
    Submission,
    SubmissionFile,
)
from poms_shared.domain.patterns import matches_any, split_patterns
from poms_shared.domain.recovery import recovery_kind
from poms_shared.domain.statuses import JobState


@dataclass(frozen=True)
class RecoveryQuery:
    """The submission whose results are examined, and what its good output looks like."""

    experiment: str
    submission_id: int
    dataset: str
    version: str
    patterns: Sequence[str]
    created: datetime
    recovery_type: str


def query_for(submission: Submission, recovery_type: str) -> RecoveryQuery:
    """The query for recovering ``submission`` with a recovery type."""
    stage = submission.stage
    return RecoveryQuery(
        experiment=stage.experiment,
        submission_id=submission.submission_id,
        dataset=str(submission.submission_params.get("dataset") or stage.dataset or ""),
        version=stage.software_version or "",
        patterns=tuple(split_patterns(stage.job_type.output_file_patterns)),
        created=submission.created,
        recovery_type=recovery_type,
    )


def recovery_files(session: Session, q: RecoveryQuery) -> list[str]:
    """Names of the files the recovery would process, in name order."""
    kind = recovery_kind(q.recovery_type)
    if kind == "added_files":
        return _added(session, q)
    inputs = session.execute(
        select(File.file_id, File.name, SubmissionFile.status, Job.state, Job.exit_code)
        .join(SubmissionFile, SubmissionFile.file_id == File.file_id)
        .outerjoin(Job, Job.job_id == SubmissionFile.job_id)
        .where(SubmissionFile.submission_id == q.submission_id)
    ).all()
    if kind == "pending_files":
        done = _with_good_children(session, q, [row.file_id for row in inputs])
        return sorted(row.name for row in inputs if row.file_id not in done)
    if kind == "delivered_not_consumed":
        return sorted(row.name for row in inputs if row.status in ("delivered", "skipped"))
    chosen = [row.name for row in inputs if row.status != "consumed"]
    if kind == "process_status":
        chosen += [
            row.name
            for row in inputs
            if row.status == "consumed"
            and (row.state == int(JobState.FAILED) or (row.exit_code or 0) != 0)
        ]
    return sorted(set(chosen))


def _added(session: Session, q: RecoveryQuery) -> list[str]:
    given = select(SubmissionFile.file_id).where(SubmissionFile.submission_id == q.submission_id)
    rows = session.scalars(
        select(File.name)
        .join(DatasetFile, DatasetFile.file_id == File.file_id)
        .join(Dataset, Dataset.dataset_id == DatasetFile.dataset_id)
        .where(
            Dataset.experiment == q.experiment,
            Dataset.name == q.dataset,
            File.file_id.not_in(given),
        )
    )
    return sorted(rows)


def _with_good_children(session: Session, q: RecoveryQuery, input_ids: list[int]) -> set[int]:
    """Inputs having a located child that matches the patterns and this version."""
    if not input_ids:
        return set()
    child = aliased(File)
    query = (
        select(FileParent.parent_file_id, child.name)
        .join(child, child.file_id == FileParent.file_id)
        .where(
            FileParent.parent_file_id.in_(input_ids),
            child.location.is_not(None),
            child.created >= q.created,
        )
    )
    if q.version:
        query = query.where(child.software_version == q.version)
    patterns = tuple(q.patterns) or ("%",)
    return {parent for parent, name in session.execute(query) if matches_any(name, patterns)}
