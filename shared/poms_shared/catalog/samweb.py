"""The ``samweb`` catalog: the port over SAM's web API, plus the SAM calls POMS needs.

Datasets are SAM definitions (``defname:<name>``); ``files:<LIKE>`` is a file-name query as
in the local catalog. Snapshots are SAM snapshots (``snapshot_id <n>``). Runs, sizes,
creation times and disk locations come from SAM file metadata.

``unconsumed_files``: SAM does not know POMS stages, so the adapter asks ``handed_out``
(given by the factory) for the datasets already handed to launched submissions of the stage
and subtracts their files. Without it the dataset is returned as it stands, which is what
§5.8 expects of a SAM "draining" definition that excludes processed files itself.

A submission's files are SAM's: the located check counts the project's inputs with located
children (§3.4), recovery sets and dependency datasets are SAM definitions of the
dimensions of §4.2 and §3.6. SAM failures raise ``CatalogError``, never a guessed count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from poms_shared.catalog import sam_dims as dims_of
from poms_shared.catalog.port import (
    CatalogError,
    CatalogFile,
    LocatedCounts,
    RecoverySet,
    SubmissionFacts,
)
from poms_shared.catalog.sam_client import COUNT_UNKNOWN, SamClient, as_int
from poms_shared.catalog.sam_dims import DimsError, SamSubmission, clean_dims
from poms_shared.catalog.sam_http import SamHttp
from poms_shared.settings import Settings

__all__ = ["COUNT_UNKNOWN", "HandedOut", "SamwebCatalog"]
log = logging.getLogger(__name__)
HandedOut = Callable[[int], Sequence[str]]


class SamwebCatalog(SamClient):
    """Catalog port over SAM; ``experiment`` names the SAM instance for snapshot ids."""

    def __init__(
        self,
        http: SamHttp,
        *,
        experiment: str,
        handed_out: HandedOut | None = None,
        user: str = "sam",
    ) -> None:
        super().__init__(http, user=user)
        self.experiment = experiment
        self.handed_out = handed_out

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        experiment: str | None = None,
        handed_out: HandedOut | None = None,
    ) -> SamwebCatalog:
        """The adapter configured by ``POMS_SAM_*``."""
        if not settings.sam_url:
            raise CatalogError("setup", "POMS_CATALOG=samweb needs POMS_SAM_URL")
        http = SamHttp(
            settings.sam_url,
            timeout=settings.sam_timeout,
            retries=settings.sam_retries,
            cert=settings.sam_cert,
            key=settings.sam_key,
        )
        return cls(http, experiment=experiment or settings.experiment, handed_out=handed_out)

    # ---- the port: reads -----------------------------------------------------------------

    def list_files(self, experiment: str, dataset: str) -> list[CatalogFile]:
        """Every file of the dataset, in name order ([] when the definition does not exist)."""
        names = self._names_or_none(experiment, dims_of.dataset_dims(dataset))
        return self.files(experiment, names or [])

    def count_files(self, experiment: str, dataset: str) -> int:
        """How many files the dataset holds (0 when it does not exist); errors raise."""
        reply = self.http.request(
            "count_files",
            "POST",
            experiment,
            "files/count",
            form={"dims": dims_of.dataset_dims(dataset)},
            accept=(404,),
        )
        if reply.status == 404:
            return 0
        return as_int("count_files", reply.text)

    def dataset_exists(self, experiment: str, dataset: str) -> bool:
        """Definitions exist when SAM describes them; ``files:`` queries always resolve."""
        if dataset.startswith(dims_of.FILES_PREFIX):
            return True
        return self.describe_definition(experiment, dataset) is not None

    def files_since(
        self, experiment: str, dataset: str, epoch_seconds: int, until: int | None = None
    ) -> list[CatalogFile]:
        """Files whose SAM create_date is in (``epoch_seconds``, ``until``]."""
        base = dims_of.dataset_dims(dataset)
        return self._query_files(experiment, dims_of.created_between(base, epoch_seconds, until))

    def runs(self, experiment: str, dataset: str) -> list[int]:
        """Distinct (first) run numbers of the files, ascending."""
        return sorted({f.run for f in self.list_files(experiment, dataset) if f.run is not None})

    def files_for_run(self, experiment: str, dataset: str, run: int) -> list[CatalogFile]:
        """SAM narrows by ``run_number``; a file's run is its first one, as in ``runs``."""
        found = self._query_files(experiment, dims_of.run_dims(dims_of.dataset_dims(dataset), run))
        return [f for f in found if f.run == run]

    def snapshot_files(self, snapshot_id: int) -> list[str]:
        """Names in SAM snapshot ``snapshot_id`` of this adapter's experiment."""
        return self._names_or_none(self.experiment, dims_of.snapshot_dims(snapshot_id)) or []

    def unconsumed_files(self, experiment: str, dataset: str, stage_id: int) -> list[CatalogFile]:
        """The dataset minus the datasets already handed to launched submissions of the stage."""
        taken = list(self.handed_out(stage_id)) if self.handed_out is not None else []
        base = dims_of.dataset_dims(dataset)
        if not taken:
            return self.list_files(experiment, dataset)
        return self._query_files(experiment, dims_of.without_datasets(base, taken))

    # ---- the port: writes ----------------------------------------------------------------

    def define_dataset(
        self, experiment: str, name: str, file_names: Sequence[str], description: str = ""
    ) -> int:
        """Create a definition of exactly these files, or widen an existing one by them."""
        wanted = list(dict.fromkeys(file_names))
        existing = self._names_or_none(experiment, dims_of.dataset_dims(name))
        have = set(existing or ())
        new = [n for n in wanted if n not in have]
        if existing is not None and not new:
            return len(existing)
        if new:
            known = set(self.list(experiment, dims_of.file_list_dims(new)))
            missing = [n for n in new if n not in known]
            if missing:
                raise LookupError(f"{len(missing)} unknown file(s) in {experiment}: {missing[:5]}")
        dims = dims_of.file_list_dims(new)
        old = self.describe_definition(experiment, name) if existing is not None else None
        if old is not None and existing is not None:
            # a plain list (what this method writes) stays a plain list; a query is kept
            flat = clean_dims(old.dims) == dims_of.file_list_dims(existing)
            dims = dims_of.file_list_dims(existing + new) if flat else f"( {old.dims} ) or {dims}"
        self.create_definition(experiment, name, dims, description)
        return len(existing or ()) + len(new)

    def snapshot(self, experiment: str, dataset: str) -> int:
        """Snapshot the dataset's SAM definition; returns SAM's snapshot id."""
        return self.snapshot_definition(experiment, dataset)

    # ---- completion and recovery ---------------------------------------------------------

    def recovery_dims(
        self,
        experiment: str,
        recovery_type: str,
        sub: SamSubmission,
        output_patterns: str | Sequence[str] | None = None,
    ) -> str | None:
        """§4.2 dimension for a recovery of ``sub``, asking SAM what the type needs."""
        kind = dims_of.recovery_kind(recovery_type)
        if not sub.project:
            raise DimsError(f"recovery type {kind} needs the submission's SAM project")
        answer, project_dataset = None, None
        if kind == "process_status":
            try:
                answer = self.recovery_dimensions(experiment, sub.project, use_process=True)
            except CatalogError as exc:  # the reference falls back to its own dimension
                log.warning("SAM recovery dimensions for %s failed: %s", sub.project, exc)
        if kind == "added_files" and not sub.dataset:
            summary = self.project_summary(experiment, sub.project)
            project_dataset = summary.definition if summary else None
        return dims_of.recovery_dims(
            kind,
            sub,
            output_patterns=output_patterns,
            sam_answer=answer,
            project_dataset=project_dataset,
        )

    # ---- one submission's files ----------------------------------------------------------

    def located_counts(self, sub: SubmissionFacts, patterns: Sequence[str]) -> LocatedCounts:
        """§3.4: the project's consumed files, and its inputs with located children of the
        version matching every pattern; without a project, the files of the dependency
        definition its jobs declared (judged against the jobs)."""
        experiment = sub.experiment
        try:
            if not sub.project:
                declared = dims_of.dependency_name(sub.submission_id, 1, sub.analysis_user)
                return LocatedCounts(0, 0, self.count_files(experiment, declared))
            dims = dims_of.located_check_dims(sam_submission(sub), patterns)
        except DimsError as exc:  # a name SAM cannot be asked about: no count can come
            raise CatalogError("located_counts", str(exc)) from exc
        found = self._count(experiment, dims)
        summary = self.project_summary(experiment, sub.project)
        consumed = summary.tot_consumed if summary is not None else 0
        return LocatedCounts(inputs=consumed, inputs_with_outputs=found, located_outputs=found)

    def recovery_set(self, sub: SubmissionFacts, recovery_type: str) -> RecoverySet:
        """§4.2: the type's dimension and the files it selects now (none without a project)."""
        try:
            dims = self.recovery_dims(
                sub.experiment, recovery_type, sam_submission(sub), sub.output_patterns
            )
        except DimsError as exc:
            return RecoverySet(note=f"cannot recover through SAM: {exc}")
        if dims is None:
            return RecoverySet()
        return RecoverySet(tuple(self.list(sub.experiment, dims)), query=dims)

    def define_recovery(
        self, experiment: str, name: str, found: RecoverySet, description: str = ""
    ) -> int:
        """A SAM definition of the set's dimension (of its file names when it has none)."""
        dims = found.query or dims_of.file_list_dims(found.files)
        self.create_definition(experiment, name, dims, description)
        return len(found.files)

    def define_dependency(
        self, sub: SubmissionFacts, name: str, file_patterns: str, creator: str
    ) -> int | None:
        """§3.6: the definition the downstream stage launches on; None for generator stages
        and submissions without a project, whose jobs declare it. An existing definition
        holding at least as many files is kept. (SAM definitions belong to user ``sam``.)"""
        dims = dims_of.dependency_dims(
            sam_submission(sub), stage_type=sub.stage_type, file_patterns=file_patterns, dname=name
        )
        if dims is None:
            return None
        experiment = sub.experiment
        new = self._count(experiment, dims)
        if self.describe_definition(experiment, name) is not None:
            current = self.count_files(experiment, name)
            if current >= new:
                return current
        described = f"outputs of submission {sub.submission_id} matching {file_patterns or '%'}"
        self.create_definition(experiment, name, dims, described)
        return new

    # ---- helpers -------------------------------------------------------------------------

    def _count(self, experiment: str, dims: str) -> int:
        """Files matching ``dims``; unlike ``count``, a failure raises ``CatalogError``."""
        reply = self.http.request(
            "count", "POST", experiment, "files/count", form={"dims": clean_dims(dims)}
        )
        return as_int("count", reply.text)

    def _query_files(self, experiment: str, dims: str) -> list[CatalogFile]:
        return self.files(experiment, self.list(experiment, dims))


def sam_submission(sub: SubmissionFacts) -> SamSubmission:
    """What the SAM dimensions need of the submission."""
    return SamSubmission(
        submission_id=sub.submission_id,
        project=sub.project,
        version=sub.version,
        created=sub.created,
        depth=sub.depth,
        dataset=sub.dataset or None,
    )
