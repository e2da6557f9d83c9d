"""An in-memory SAM for the fake samweb server: files, definitions, snapshots, projects.

``SamWorld.query`` really evaluates the dimension language subset POMS writes (see
``sam_dims_eval``), so a wrong dimension selects the wrong files and a test can fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from poms_shared.testing.sam_dims_eval import Evaluator, UnknownDefinition, parse

FILE_DEFAULT_TIME = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class FakeFile:
    name: str
    size: int = 0
    runs: list[tuple[int, int]] = field(default_factory=list)  # (run, subrun)
    created: datetime = FILE_DEFAULT_TIME
    version: str | None = None
    parents: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)  # disk paths; none = not located
    file_id: int = 0

    def metadata(self, locations: bool) -> dict[str, Any]:
        """The record ``files/metadata`` answers with."""
        record: dict[str, Any] = {
            "file_name": self.name,
            "file_id": self.file_id,
            "file_size": self.size,
            "create_date": self.created.isoformat(),
            "runs": [[run, subrun, "physics"] for run, subrun in self.runs],
            "parents": [{"file_name": p} for p in self.parents],
        }
        if self.version is not None:
            record["application"] = {"family": "art", "name": "reco", "version": self.version}
        if locations:
            record["locations"] = [
                {"location": loc, "full_path": loc, "location_type": "disk"}
                for loc in self.locations
            ]
        return record


@dataclass
class Definition:
    name: str
    dims: str
    group: str = ""
    user: str = ""
    description: str = ""


@dataclass
class FakeProject:
    """A SAM project: its snapshot and what each delivered file came to."""

    name: str
    definition: str
    snapshot_id: int
    status: str = "running"
    deliveries: dict[str, tuple[str, int]] = field(default_factory=dict)  # file → (state, pid)
    processes: dict[int, str] = field(default_factory=dict)  # pid → "completed", "bad", …


@dataclass
class SamWorld:
    """One experiment's SAM."""

    files: dict[str, FakeFile] = field(default_factory=dict)
    definitions: dict[str, Definition] = field(default_factory=dict)
    snapshots: dict[int, list[str]] = field(default_factory=dict)
    projects: dict[str, FakeProject] = field(default_factory=dict)
    next_snapshot_id: int = 5001

    # ---- set-up ------------------------------------------------------------------------

    def add_file(
        self,
        name: str,
        *,
        size: int = 0,
        run: int | Sequence[int] | None = None,
        created: datetime = FILE_DEFAULT_TIME,
        version: str | None = None,
        parents: tuple[str, ...] | list[str] = (),
        located: bool = True,
    ) -> FakeFile:
        """Declare a file; ``located`` gives it a disk location; ``run`` may list several."""
        missing = [p for p in parents if p not in self.files]
        if missing:
            raise KeyError(f"unknown parent file(s) {missing}")
        made = FakeFile(
            name=name,
            size=size,
            runs=[(r, 0) for r in ([] if run is None else [run] if isinstance(run, int) else run)],
            created=created,
            version=version,
            parents=list(parents),
            locations=[f"/pnfs/fake/{name}"] if located else [],
            file_id=len(self.files) + 1,
        )
        self.files[name] = made
        return made

    def define(self, name: str, dims: str, **details: str) -> Definition:
        """Create a definition; the dimension must parse, as SAM checks it on create."""
        parse(dims)
        made = Definition(name=name, dims=dims, **details)
        self.definitions[name] = made
        return made

    def snapshot(self, definition: str) -> int:
        """Freeze a definition's current files under a new snapshot id."""
        if definition not in self.definitions:
            raise UnknownDefinition(definition)
        snapshot_id = self.next_snapshot_id
        self.next_snapshot_id += 1
        self.snapshots[snapshot_id] = self.query(f"defname:{definition}")
        return snapshot_id

    def start_project(self, name: str, definition: str) -> FakeProject:
        """A project on a definition: it snapshots the definition first."""
        project = FakeProject(name, definition, self.snapshot(definition))
        self.projects[name] = project
        return project

    def deliver(self, project: str, file_name: str, state: str, process: int = 1) -> None:
        """Record that a process of the project got the file and what became of it."""
        proj = self.projects[project]
        if file_name not in self.snapshots[proj.snapshot_id]:
            raise KeyError(f"{file_name} is not in the snapshot of {project}")
        proj.processes.setdefault(process, "completed")
        proj.deliveries[file_name] = (state, process)

    # ---- answers -----------------------------------------------------------------------

    def query(self, dims: str) -> list[str]:
        """Names of the files the dimension selects, sorted."""
        return sorted(Evaluator(self).evaluate(parse(dims)))

    def summary(self, project: str, with_processes: bool) -> dict[str, Any]:
        """What ``projects/name/<P>/summary`` answers."""
        proj = self.projects[project]
        file_counts = Counter(state for state, _ in proj.deliveries.values())
        data: dict[str, Any] = {
            "project_name": proj.name,
            "project_status": proj.status,
            "definition_name": proj.definition,
            "files_in_snapshot": len(self.snapshots[proj.snapshot_id]),
            "file_counts": dict(file_counts),
            "process_counts": dict(Counter(proj.processes.values())),
        }
        if with_processes:
            data["processes"] = [
                {
                    "process_id": pid,
                    "status": status,
                    "counts": dict(Counter(s for s, p in proj.deliveries.values() if p == pid)),
                }
                for pid, status in sorted(proj.processes.items())
            ]
        return data

    def recovery_dimensions(self, project: str, use_process: bool) -> str:
        """SAM's own recovery dimension; empty when it would select nothing."""
        if project not in self.projects:
            raise KeyError(project)
        done = f"project_name {project} and consumed_status consumed"
        if use_process:
            done += " and process_status completed"
        dims = f"snapshot_for_project_name {project} minus ( {done} )"
        return dims if self.query(dims) else ""
