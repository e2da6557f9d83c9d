"""The ``local`` catalog: files, metadata and named datasets in POMS's own database.

A dataset name resolves to a named ``Dataset``; ``files:<LIKE pattern>`` selects every file
of the experiment whose name matches. Snapshots are datasets named ``snapshot_<id>`` whose
id is the dataset id, so no table beyond the existing ones is needed. What is asked about
one submission's files is answered by ``local_outputs`` and ``local_recovery``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from poms_shared.catalog import local_outputs
from poms_shared.catalog.local_recovery import query_for, recovery_files
from poms_shared.catalog.port import CatalogFile, LocatedCounts, RecoverySet, SubmissionFacts
from poms_shared.db.tables import Dataset, DatasetFile, File, Submission, SubmissionFile
from poms_shared.domain.statuses import SubmissionStatus

QUERY_PREFIX = "files:"
SNAPSHOT_PREFIX = "snapshot_"
# Submissions that never ran did not use their inputs, so draining may hand them out again.
_NOT_LAUNCHED = (int(SubmissionStatus.LAUNCH_FAILED), int(SubmissionStatus.CANCELLED))
_CHUNK = 500  # stays below every backend's bound-parameter limit


def run_of(metadata: dict[str, Any]) -> int | None:
    """Run number from file metadata (``run`` or ``run_number``; SAM-style ``[run, subrun]``)."""
    for key in ("run", "run_number"):
        value = metadata.get(key)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if isinstance(value, int | str) and str(value).strip().lstrip("-").isdigit():
            return int(value)
    return None


def to_catalog_file(row: File) -> CatalogFile:
    """The port's view of a file row."""
    return CatalogFile(
        name=row.name,
        size=row.size,
        run=run_of(row.file_metadata or {}),
        created=row.created,
        location=row.location,
    )


class LocalCatalog:
    """Catalog port over a SQLAlchemy session; the caller owns the transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- reads ---------------------------------------------------------------------------

    def list_files(self, experiment: str, dataset: str) -> list[CatalogFile]:
        """Every file of the dataset, in name order."""
        return [to_catalog_file(f) for f in self._rows(experiment, dataset)]

    def count_files(self, experiment: str, dataset: str) -> int:
        """How many files the dataset holds (0 when it does not exist)."""
        return len(self._rows(experiment, dataset))

    def dataset_exists(self, experiment: str, dataset: str) -> bool:
        """Named datasets exist when defined; a ``files:`` query always resolves."""
        if dataset.startswith(QUERY_PREFIX):
            return True
        return self._dataset(experiment, dataset) is not None

    def files_since(
        self, experiment: str, dataset: str, epoch_seconds: int, until: int | None = None
    ) -> list[CatalogFile]:
        """Files created in (``epoch_seconds``, ``until``]."""
        return [
            f
            for f in self.list_files(experiment, dataset)
            if f.created is not None and _within(f.created, epoch_seconds, until)
        ]

    def runs(self, experiment: str, dataset: str) -> list[int]:
        """Distinct run numbers, ascending."""
        return sorted({f.run for f in self.list_files(experiment, dataset) if f.run is not None})

    def files_for_run(self, experiment: str, dataset: str, run: int) -> list[CatalogFile]:
        """Files of the dataset from one run."""
        return [f for f in self.list_files(experiment, dataset) if f.run == run]

    def snapshot_files(self, snapshot_id: int) -> list[str]:
        """Names frozen in snapshot ``snapshot_id`` ([] when unknown)."""
        return list(
            self.session.scalars(
                select(File.name)
                .join(DatasetFile, DatasetFile.file_id == File.file_id)
                .where(DatasetFile.dataset_id == snapshot_id)
                .order_by(File.name)
            )
        )

    def unconsumed_files(self, experiment: str, dataset: str, stage_id: int) -> list[CatalogFile]:
        """Files not yet delivered to a launched submission of the stage."""
        used = set(
            self.session.scalars(
                select(SubmissionFile.file_id)
                .join(Submission, Submission.submission_id == SubmissionFile.submission_id)
                .where(
                    Submission.campaign_stage_id == stage_id,
                    Submission.status_id.not_in(_NOT_LAUNCHED),
                )
            )
        )
        rows = self._rows(experiment, dataset)
        return [to_catalog_file(f) for f in rows if f.file_id not in used]

    # ---- writes --------------------------------------------------------------------------

    def define_dataset(
        self, experiment: str, name: str, file_names: Sequence[str], description: str = ""
    ) -> int:
        """Create or extend a named dataset (never shrinks); its size afterwards."""
        ids = self._file_ids(experiment, file_names)
        dataset = self._dataset(experiment, name)
        if dataset is None:
            dataset = Dataset(experiment=experiment, name=name, description=description)
            self.session.add(dataset)
            self.session.flush()
        return self._add_files(dataset, ids)

    def snapshot(self, experiment: str, dataset: str) -> int:
        """Copy the dataset's files into ``snapshot_<id>``; returns the id."""
        ids = [f.file_id for f in self._rows(experiment, dataset)]
        # The final name embeds the id, which exists only after the insert.
        frozen = Dataset(
            experiment=experiment,
            name=f"{SNAPSHOT_PREFIX}pending_{uuid.uuid4().hex}",
            description=f"snapshot of {dataset}",
        )
        self.session.add(frozen)
        self.session.flush()
        frozen.name = f"{SNAPSHOT_PREFIX}{frozen.dataset_id}"
        self._add_files(frozen, ids)
        return frozen.dataset_id

    # ---- one submission's files ----------------------------------------------------------

    def located_counts(self, sub: SubmissionFacts, patterns: Sequence[str]) -> LocatedCounts:
        """Inputs with located children, and located outputs, matching the patterns."""
        return local_outputs.located_counts(self.session, sub.submission_id, patterns)

    def recovery_set(self, sub: SubmissionFacts, recovery_type: str) -> RecoverySet:
        """The files ``local_recovery`` selects for the type."""
        row = self._submission(sub.submission_id)
        return RecoverySet(tuple(recovery_files(self.session, query_for(row, recovery_type))))

    def define_recovery(
        self, experiment: str, name: str, found: RecoverySet, description: str = ""
    ) -> int:
        """A named dataset of exactly the set's files."""
        return self.define_dataset(experiment, name, list(found.files), description)

    def define_dependency(
        self, sub: SubmissionFacts, name: str, file_patterns: str, creator: str
    ) -> int:
        """The located outputs of the submission and its recoveries matching the patterns."""
        row = self._submission(sub.submission_id)
        return local_outputs.define_dependency(self.session, row, name, file_patterns, creator)

    # ---- helpers -------------------------------------------------------------------------

    def _submission(self, submission_id: int) -> Submission:
        row = self.session.get(Submission, submission_id)
        if row is None:
            raise LookupError(f"submission {submission_id} does not exist")
        return row

    def _dataset(self, experiment: str, name: str) -> Dataset | None:
        return self.session.scalar(
            select(Dataset).where(Dataset.experiment == experiment, Dataset.name == name)
        )

    def _rows(self, experiment: str, dataset: str) -> list[File]:
        query = self._query(experiment, dataset)
        return [] if query is None else list(self.session.scalars(query.order_by(File.name)))

    def _query(self, experiment: str, dataset: str) -> Select[tuple[File]] | None:
        if dataset.startswith(QUERY_PREFIX):
            pattern = dataset[len(QUERY_PREFIX) :].strip() or "%"
            return select(File).where(File.experiment == experiment, File.name.like(pattern))
        named = self._dataset(experiment, dataset)
        if named is None:
            return None
        return (
            select(File)
            .join(DatasetFile, DatasetFile.file_id == File.file_id)
            .where(DatasetFile.dataset_id == named.dataset_id)
        )

    def _file_ids(self, experiment: str, names: Sequence[str]) -> list[int]:
        wanted = list(dict.fromkeys(names))
        found: dict[str, int] = {}
        for chunk in _chunks(wanted):
            rows = self.session.execute(
                select(File.name, File.file_id).where(
                    File.experiment == experiment, File.name.in_(chunk)
                )
            ).tuples()
            found.update((name, file_id) for name, file_id in rows)
        missing = [n for n in wanted if n not in found]
        if missing:
            raise LookupError(f"{len(missing)} unknown file(s) in {experiment}: {missing[:5]}")
        return [found[n] for n in wanted]

    def _add_files(self, dataset: Dataset, file_ids: Iterable[int]) -> int:
        known = set(
            self.session.scalars(
                select(DatasetFile.file_id).where(DatasetFile.dataset_id == dataset.dataset_id)
            )
        )
        new = [i for i in dict.fromkeys(file_ids) if i not in known]
        self.session.add_all(DatasetFile(dataset_id=dataset.dataset_id, file_id=i) for i in new)
        self.session.flush()
        return len(known) + len(new)


def _within(created: datetime, after: int, until: int | None) -> bool:
    moment = created if created.tzinfo else created.replace(tzinfo=UTC)
    epoch = moment.timestamp()
    return epoch > after and (until is None or epoch <= until)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
