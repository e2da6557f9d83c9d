"""An in-memory catalog implementing the port, for unit tests of catalog users."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from poms_shared.catalog.port import CatalogFile

QUERY_PREFIX = "files:"


def like(pattern: str) -> re.Pattern[str]:
    """A SQL LIKE pattern (``%`` any run, ``_`` one character) as a regular expression."""
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL)


@dataclass
class FakeCatalog:
    """Files per experiment, named datasets, snapshots and per-stage consumption in memory."""

    files: dict[str, dict[str, CatalogFile]] = field(default_factory=dict)
    datasets: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    snapshots: dict[int, list[str]] = field(default_factory=dict)
    consumed: dict[int, set[str]] = field(default_factory=dict)

    # ---- test set-up ---------------------------------------------------------------------

    def add(self, experiment: str, dataset: str, files: Iterable[CatalogFile]) -> None:
        """Register files and append them to a named dataset."""
        names = self.datasets.setdefault((experiment, dataset), [])
        for f in files:
            self.files.setdefault(experiment, {})[f.name] = f
            if f.name not in names:
                names.append(f.name)

    def consume(self, stage_id: int, names: Iterable[str]) -> None:
        """Record files as given to a launched submission of the stage."""
        self.consumed.setdefault(stage_id, set()).update(names)

    # ---- the port ------------------------------------------------------------------------

    def list_files(self, experiment: str, dataset: str) -> list[CatalogFile]:
        """Every file of the dataset, in name order."""
        known = self.files.get(experiment, {})
        if dataset.startswith(QUERY_PREFIX):
            pattern = like(dataset[len(QUERY_PREFIX) :].strip() or "%")
            names = [n for n in known if pattern.match(n)]
        else:
            names = self.datasets.get((experiment, dataset), [])
        return sorted((known[n] for n in names), key=lambda f: f.name)

    def count_files(self, experiment: str, dataset: str) -> int:
        """How many files the dataset holds."""
        return len(self.list_files(experiment, dataset))

    def dataset_exists(self, experiment: str, dataset: str) -> bool:
        """Named datasets exist when defined; queries always resolve."""
        return dataset.startswith(QUERY_PREFIX) or (experiment, dataset) in self.datasets

    def files_since(
        self, experiment: str, dataset: str, epoch_seconds: int, until: int | None = None
    ) -> list[CatalogFile]:
        """Files created in (``epoch_seconds``, ``until``]."""
        return [
            f
            for f in self.list_files(experiment, dataset)
            if f.created is not None
            and f.created.timestamp() > epoch_seconds
            and (until is None or f.created.timestamp() <= until)
        ]

    def runs(self, experiment: str, dataset: str) -> list[int]:
        """Distinct run numbers, ascending."""
        return sorted({f.run for f in self.list_files(experiment, dataset) if f.run is not None})

    def files_for_run(self, experiment: str, dataset: str, run: int) -> list[CatalogFile]:
        """Files of one run."""
        return [f for f in self.list_files(experiment, dataset) if f.run == run]

    def snapshot_files(self, snapshot_id: int) -> list[str]:
        """Names frozen in a snapshot."""
        return list(self.snapshots.get(snapshot_id, []))

    def unconsumed_files(self, experiment: str, dataset: str, stage_id: int) -> list[CatalogFile]:
        """Files not yet given to the stage."""
        used = self.consumed.get(stage_id, set())
        return [f for f in self.list_files(experiment, dataset) if f.name not in used]

    def define_dataset(
        self, experiment: str, name: str, file_names: Sequence[str], description: str = ""
    ) -> int:
        """Create or extend a named dataset; its size."""
        known = self.files.get(experiment, {})
        missing = [n for n in file_names if n not in known]
        if missing:
            raise LookupError(f"unknown file(s) in {experiment}: {missing[:5]}")
        self.add(experiment, name, (known[n] for n in file_names))
        return len(self.datasets[(experiment, name)])

    def snapshot(self, experiment: str, dataset: str) -> int:
        """Freeze the dataset; ids start at 101 so they never look like slice indexes."""
        snapshot_id = len(self.snapshots) + 101
        self.snapshots[snapshot_id] = [f.name for f in self.list_files(experiment, dataset)]
        return snapshot_id
