"""Data-catalog port: what split types, completion, recoveries and dependents ask of a catalog.

A *dataset* is a name the catalog resolves to a list of files (a named definition in the
local catalog, a SAM definition in ``samweb``). A *snapshot* is a frozen file list with an
integer id, which is what snapshot-tracked split types keep in ``cs_last_split``.

``Catalog`` is what split decisions need; ``SubmissionCatalog`` what the located check
(reference §3.4), recovery sets (§4.2) and dependency datasets (§3.6) ask about the files of
one submission, told about it by ``SubmissionFacts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


class CatalogError(RuntimeError):
    """A catalog service refused or failed a call; the message names the call and the reason."""

    def __init__(self, call: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"catalog call {call} failed: {reason}")
        self.call = call
        self.reason = reason
        self.status = status  # the HTTP status when the service answered, else None


@dataclass(frozen=True)
class CatalogFile:
    """One file as the catalog reports it."""

    name: str
    size: int | None = None
    run: int | None = None  # from metadata ``run`` / ``run_number``; None when absent
    created: datetime | None = None
    location: str | None = None

    @property
    def staged(self) -> bool:
        """A file with a known location is on disk, i.e. staged (``stagedfiles``)."""
        return self.location is not None


@runtime_checkable
class CatalogReader(Protocol):
    """Read-only questions; everything a split decision needs. Files come in name order."""

    def list_files(self, experiment: str, dataset: str) -> list[CatalogFile]:
        """Every file of the dataset."""
        ...

    def count_files(self, experiment: str, dataset: str) -> int:
        """How many files the dataset holds (0 when it does not exist)."""
        ...

    def dataset_exists(self, experiment: str, dataset: str) -> bool:
        """Whether the name resolves to a dataset."""
        ...

    def files_since(
        self, experiment: str, dataset: str, epoch_seconds: int, until: int | None = None
    ) -> list[CatalogFile]:
        """Files created after ``epoch_seconds`` and, when given, at or before ``until``."""
        ...

    def runs(self, experiment: str, dataset: str) -> list[int]:
        """Distinct run numbers of the dataset's files, ascending."""
        ...

    def files_for_run(self, experiment: str, dataset: str, run: int) -> list[CatalogFile]:
        """Files of the dataset whose run number is ``run``."""
        ...

    def snapshot_files(self, snapshot_id: int) -> list[str]:
        """Names of the files frozen in a snapshot ([] for an unknown id)."""
        ...

    def unconsumed_files(self, experiment: str, dataset: str, stage_id: int) -> list[CatalogFile]:
        """Files of the dataset not yet given to a (launched) submission of the stage."""
        ...


@runtime_checkable
class Catalog(CatalogReader, Protocol):
    """The full port: reads plus the two writes a launch performs."""

    def define_dataset(
        self, experiment: str, name: str, file_names: Sequence[str], description: str = ""
    ) -> int:
        """Name a list of files; a re-definition never shrinks it. Returns its size."""
        ...

    def snapshot(self, experiment: str, dataset: str) -> int:
        """Freeze the dataset's current files; returns the snapshot id."""
        ...


@dataclass(frozen=True)
class SubmissionFacts:
    """What a catalog is told about one submission to find its inputs and outputs."""

    experiment: str
    submission_id: int
    created: datetime  # launch time: its outputs are newer
    version: str = ""  # the stage's software version
    dataset: str = ""  # the input dataset it was given ("" when none was recorded)
    output_patterns: tuple[str, ...] = ("%",)  # the job type's output file patterns
    project: str | None = None  # the SAM project it ran, when there was one
    stage_type: str = "regular"
    depth: int = 1  # the stage's output_ancestor_depth
    analysis_user: str | None = None  # the launcher, for stages created with role analysis


@dataclass(frozen=True)
class LocatedCounts:
    """How much of a submission's output the catalog has located (§3.4)."""

    inputs: int  # inputs the check is measured against (0: judge by jobs instead)
    inputs_with_outputs: int  # of those, inputs with located outputs matching the patterns
    located_outputs: int  # located outputs matching the patterns


@dataclass(frozen=True)
class RecoverySet:
    """The files a recovery would process (§4.2), and how the catalog selected them."""

    files: tuple[str, ...] = ()  # names, in name order
    query: str = ""  # the catalog's own selection of them (a SAM dimension), if it has one
    note: str = ""  # why the catalog could select nothing, when it could not ask at all


@runtime_checkable
class SubmissionCatalog(Protocol):
    """Questions and writes about one submission's files; errors of the service raise."""

    def located_counts(self, sub: SubmissionFacts, patterns: Sequence[str]) -> LocatedCounts:
        """Inputs with located outputs, and located outputs, matching the patterns."""
        ...

    def recovery_set(self, sub: SubmissionFacts, recovery_type: str) -> RecoverySet:
        """The files a recovery of this type would process now (read only)."""
        ...

    def define_recovery(
        self, experiment: str, name: str, found: RecoverySet, description: str = ""
    ) -> int:
        """Name a recovery set as the dataset the recovery launches on; its size."""
        ...

    def define_dependency(
        self, sub: SubmissionFacts, name: str, file_patterns: str, creator: str
    ) -> int | None:
        """Define the dataset a downstream stage launches on: the submission's outputs
        matching the patterns. Its size, or None when the catalog leaves it to the jobs."""
        ...
