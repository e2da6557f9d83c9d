"""Data-catalog port: what split types (and recovery types) ask of a file catalog.

A *dataset* is a name the catalog resolves to a list of files (a named definition in the
local catalog, a SAM definition in ``samweb``). A *snapshot* is a frozen file list with an
integer id, which is what snapshot-tracked split types keep in ``cs_last_split``.
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
