"""A submission's outputs in the local catalog: the located check and dependency datasets.

* located counts (reference §3.4, local meanings): the submission's inputs
  (``submission_files``), those with a located output of the submission matching the
  patterns as a child, and those located outputs themselves;
* dependency datasets (§3.6): the located outputs of the submission and its recovery
  children matching the dependency's patterns; approval and data-transfer stages pass
  their input dataset through. A re-definition never shrinks a dataset.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from poms_shared.catalog.port import LocatedCounts
from poms_shared.db.tables import Dataset, DatasetFile, File, FileParent, Submission, SubmissionFile
from poms_shared.domain.patterns import matches_any, split_patterns

PASS_THROUGH_STAGES = ("approval", "datatransfer")


def located_counts(session: Session, submission_id: int, patterns: Sequence[str]) -> LocatedCounts:
    """Count inputs with located children and located outputs matching the patterns."""
    pats = tuple(patterns) or ("%",)
    outputs = [
        f.file_id
        for f in session.scalars(
            select(File).where(
                File.producing_submission_id == submission_id,
                File.location.is_not(None),
            )
        )
        if matches_any(f.name, pats)
    ]
    inputs = (
        session.scalar(select(func.count()).where(SubmissionFile.submission_id == submission_id))
        or 0
    )
    with_outputs = 0
    if inputs and outputs:
        parent = aliased(SubmissionFile)
        with_outputs = (
            session.scalar(
                select(func.count(func.distinct(FileParent.parent_file_id)))
                .join(parent, parent.file_id == FileParent.parent_file_id)
                .where(
                    parent.submission_id == submission_id,
                    FileParent.file_id.in_(outputs),
                )
            )
            or 0
        )
    return LocatedCounts(
        inputs=inputs, inputs_with_outputs=with_outputs, located_outputs=len(outputs)
    )


def define_dependency(
    session: Session, upstream: Submission, name: str, file_patterns: str, creator: str
) -> int:
    """Snapshot the upstream outputs matching the patterns as a named dataset; its size."""
    experiment = upstream.stage.experiment
    patterns = split_patterns(file_patterns)
    files = [f for f in _upstream_outputs(session, upstream) if matches_any(f.name, patterns)]
    dataset = session.scalar(
        select(Dataset).where(Dataset.experiment == experiment, Dataset.name == name)
    )
    if dataset is None:
        dataset = Dataset(
            experiment=experiment,
            name=name,
            creator=creator,
            description=f"outputs of submission {upstream.submission_id} "
            f"matching {file_patterns or '%'}",
        )
        session.add(dataset)
        session.flush()
    known = set(
        session.scalars(
            select(DatasetFile.file_id).where(DatasetFile.dataset_id == dataset.dataset_id)
        )
    )
    # Keep the larger definition, as the original does: a re-run never shrinks a dataset.
    session.add_all(
        DatasetFile(dataset_id=dataset.dataset_id, file_id=f.file_id)
        for f in files
        if f.file_id not in known
    )
    return len(known | {f.file_id for f in files})


def _upstream_outputs(session: Session, upstream: Submission) -> list[File]:
    """Located outputs; approval and transfer stages pass their input dataset through."""
    if upstream.stage.campaign_stage_type in PASS_THROUGH_STAGES:
        name = str(upstream.submission_params.get("dataset") or "")
        return list(
            session.scalars(
                select(File)
                .join(DatasetFile, DatasetFile.file_id == File.file_id)
                .join(Dataset, Dataset.dataset_id == DatasetFile.dataset_id)
                .where(Dataset.experiment == upstream.stage.experiment, Dataset.name == name)
            )
        )
    return list(
        session.scalars(
            select(File).where(
                File.producing_submission_id.in_(_lineage_ids(session, upstream)),
                File.location.is_not(None),
            )
        )
    )


def _lineage_ids(session: Session, submission: Submission) -> list[int]:
    """The submission and its recovery children: dependents build on all their outputs."""
    children = session.scalars(
        select(Submission.submission_id).where(
            Submission.recovery_parent_id == submission.submission_id
        )
    )
    return [submission.submission_id, *children]
