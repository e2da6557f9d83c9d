"""Typed views of SAM's JSON answers: file metadata, definitions and project summaries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from poms_shared.catalog.port import CatalogFile

# Per-file consumption states SAM counts in a project summary.
FILE_STATES = ("consumed", "completed", "failed", "skipped", "delivered", "unknown", "cancelled")


@dataclass(frozen=True)
class DefinitionInfo:
    """A SAM dataset definition as ``definitions/name/<name>`` describes it."""

    name: str
    dims: str
    group: str = ""


@dataclass(frozen=True)
class ProjectSummary:
    """The totals POMS reads from a SAM project summary (§3.4, §10.3, §10.4)."""

    project: str
    status: str = ""  # SAM's project_status, e.g. "running", "completed"
    definition: str | None = None  # the definition the project was started on
    files_in_snapshot: int = 0
    tot_consumed: int = 0  # consumed + completed
    tot_failed: int = 0
    tot_skipped: int = 0
    tot_delivered: int = 0
    tot_unknown: int = 0
    tot_cancelled: int = 0
    tot_jobs: int = 0  # processes (or completed processes when SAM gave no process list)
    tot_jobfails: int = 0  # processes that did not complete
    file_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def delivered_to_sam(self) -> int:
        """Files SAM handed out, whatever came of them (the "Delivered to SAM" row)."""
        return (
            self.tot_consumed
            + self.tot_cancelled
            + self.tot_failed
            + self.tot_skipped
            + self.tot_delivered
        )


def _int(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def _counts(raw: Any) -> dict[str, int]:
    return {str(k): _int(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def summary_from_json(project: str, data: Mapping[str, Any]) -> ProjectSummary:
    """Totals summed over processes when SAM listed them, else from the file counts."""
    files = _counts(data.get("file_counts"))
    processes = [p for p in data.get("processes") or [] if isinstance(p, Mapping)]
    if processes:
        totals = dict.fromkeys(FILE_STATES, 0)
        for proc in processes:
            for state, n in _counts(proc.get("counts")).items():
                if state in totals:
                    totals[state] += n
        jobs = len(processes)
        job_fails = sum(1 for p in processes if p.get("status") != "completed")
    else:
        totals = {state: files.get(state, 0) for state in FILE_STATES}
        by_status = _counts(data.get("process_counts"))
        jobs = by_status.get("completed", 0)
        job_fails = sum(n for status, n in by_status.items() if status != "completed")
    definition = data.get("definition_name") or data.get("defname")
    return ProjectSummary(
        project=str(data.get("project_name") or project),
        status=str(data.get("project_status") or ""),
        definition=str(definition) if definition else None,
        files_in_snapshot=_int(data.get("files_in_snapshot")),
        tot_consumed=totals["consumed"] + totals["completed"],
        tot_failed=totals["failed"],
        tot_skipped=totals["skipped"],
        tot_delivered=totals["delivered"],
        tot_unknown=totals["unknown"],
        tot_cancelled=totals["cancelled"],
        tot_jobs=jobs,
        tot_jobfails=job_fails,
        file_counts=files,
    )


def definition_from_json(name: str, data: Mapping[str, Any]) -> DefinitionInfo:
    return DefinitionInfo(
        name=str(data.get("defname") or name),
        dims=str(data.get("dimensions") or data.get("dims") or ""),
        group=str(data.get("group") or ""),
    )


# ---- file metadata -----------------------------------------------------------------------


def run_of_metadata(metadata: Mapping[str, Any]) -> int | None:
    """The first run of SAM's ``runs`` ([[run, subrun, type], …]), else ``run_number``."""
    runs = metadata.get("runs")
    if isinstance(runs, list) and runs:
        first = runs[0]
        run = first[0] if isinstance(first, list | tuple) and first else first
        if isinstance(run, int) or (isinstance(run, str) and run.strip().isdigit()):
            return int(run)
    raw = metadata.get("run_number")
    if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
        return int(raw)
    return None


def created_of_metadata(metadata: Mapping[str, Any]) -> datetime | None:
    raw = metadata.get("create_date")
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def disk_location(metadata: Mapping[str, Any]) -> str | None:
    """The first disk location: the port's "staged" means on disk, not only on tape."""
    for loc in metadata.get("locations") or []:
        if isinstance(loc, Mapping) and loc.get("location_type", "disk") == "disk":
            path = loc.get("full_path") or loc.get("location")
            if path:
                return str(path)
    return None


def file_from_metadata(metadata: Mapping[str, Any]) -> CatalogFile:
    """The port's view of one SAM metadata record (asked for with ``locations``)."""
    size = metadata.get("file_size")
    return CatalogFile(
        name=str(metadata["file_name"]),
        size=size if isinstance(size, int) else None,
        run=run_of_metadata(metadata),
        created=created_of_metadata(metadata),
        location=disk_location(metadata),
    )
