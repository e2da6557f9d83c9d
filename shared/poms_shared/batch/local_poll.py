"""The local batch poller: turns the spool's event and declaration files into messages."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poms_shared.batch.local_control import record_vanished, runner_gone
from poms_shared.batch.local_events import (
    DeclaredEntry,
    EventRecord,
    group_by_experiment,
    is_terminal,
    latest,
    parse_declared_lines,
    parse_events,
    parse_job_ref,
    usage_fields,
)
from poms_shared.batch.local_procs import ProcRef, read_ref
from poms_shared.batch.local_spool import JobDir, job_dir, list_job_dirs, read_job_json
from poms_shared.contracts.messages import DeclaredFile, FilesDeclared, InputReport, JobEvent

SOURCE = "local-poller"
BACKEND = "local"
DEFAULT_EXPERIMENT = "demo"


@dataclass(frozen=True)
class PollResult:
    """What one scan of the spool found: job events and files declared by finished jobs."""

    events: list[JobEvent] = field(default_factory=list)
    files: list[FilesDeclared] = field(default_factory=list)


@dataclass
class _Cursor:
    """What this poller already read of one job, so unchanged files are not read again."""

    submission_id: int
    experiment: str
    created: float
    runner: ProcRef | None = None
    events: list[EventRecord] = field(default_factory=list)
    events_offset: int = 0
    declared: list[DeclaredEntry] = field(default_factory=list)
    declared_offset: int = 0


def _read_from(path: Path, offset: int) -> tuple[bytes, int] | None:
    """New bytes of ``path`` after ``offset`` (None when unchanged), restarting if it shrank."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == offset:
                return None
            start = offset if size > offset else 0
            fh.seek(start)
            return fh.read(), start
    except FileNotFoundError:
        return None


def _experiment_of(env: dict[str, Any]) -> str:
    for key in ("POMS4_EXPERIMENT", "EXPERIMENT"):
        value = env.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return DEFAULT_EXPERIMENT


def _batch_job_id(jd: JobDir) -> str:
    return f"{jd.name}@{BACKEND}"


class Poller:
    """Scans job directories not yet marked tracked; one instance keeps per-job cursors."""

    def __init__(self, root: Path, runner_grace: float = 30.0) -> None:
        self.root = root
        self.runner_grace = runner_grace
        self._cursors: dict[str, _Cursor] = {}
        self._tracked: set[str] = set()

    def poll(self) -> PollResult:
        """Report every event of every untracked job, and the outputs of finished ones."""
        result = PollResult()
        for jd in list_job_dirs(self.root):
            cursor = self._cursor(jd)
            if cursor is None:
                continue
            self._refresh(jd, cursor)
            last = latest(cursor.events)
            if (last is None or not is_terminal(last.state)) and self._vanished(jd, cursor):
                self._refresh(jd, cursor)
            result.events.extend(self._job_events(jd, cursor))
            result.files.extend(self._files_declared(jd, cursor))
        return result

    def mark_tracked(self, job_ids: Iterable[str]) -> int:
        """Stop reporting these jobs (``C.P`` or ``C.P@local``), durably; returns how many."""
        marked = 0
        for ref in job_ids:
            cluster, proc = parse_job_ref(ref)
            if proc is None:
                raise ValueError(f"mark_tracked needs job ids (C.P), not a cluster: {ref!r}")
            jd = job_dir(self.root, cluster, proc)
            if not jd.path.is_dir():
                continue
            jd.tracked.touch()
            self._tracked.add(jd.name)
            self._cursors.pop(jd.name, None)
            marked += 1
        return marked

    def _cursor(self, jd: JobDir) -> _Cursor | None:
        if jd.name in self._tracked:
            return None
        if jd.tracked.exists():
            self._tracked.add(jd.name)
            self._cursors.pop(jd.name, None)
            return None
        cursor = self._cursors.get(jd.name)
        if cursor is None:
            meta = read_job_json(jd)
            submission_id = meta.get("submission_id") if meta else None
            if meta is None or not isinstance(submission_id, int):
                return None  # still being written by the submitter (or not ours to report)
            cursor = _Cursor(
                submission_id=submission_id,
                experiment=_experiment_of(dict(meta.get("env") or {})),
                created=jd.job_json.stat().st_mtime,
            )
            self._cursors[jd.name] = cursor
        return cursor

    def _refresh(self, jd: JobDir, cursor: _Cursor) -> None:
        fresh = _read_from(jd.events, cursor.events_offset)
        if fresh is not None:
            data, start = fresh
            events, consumed = parse_events(data)
            cursor.events = [*cursor.events, *events] if start else events
            cursor.events_offset = start + consumed
        fresh = _read_from(jd.declared, cursor.declared_offset)
        if fresh is not None:
            data, start = fresh
            entries, consumed = parse_declared_lines(data)
            cursor.declared = [*cursor.declared, *entries] if start else entries
            cursor.declared_offset = start + consumed

    def _vanished(self, jd: JobDir, cursor: _Cursor) -> bool:
        if cursor.runner is None:
            cursor.runner = read_ref(jd.runner_pid)
        if not runner_gone(jd, cursor.runner, cursor.created, self.runner_grace):
            return False
        return record_vanished(jd)

    def _job_events(self, jd: JobDir, cursor: _Cursor) -> list[JobEvent]:
        return [
            JobEvent(
                source=SOURCE,
                backend=BACKEND,
                batch_job_id=_batch_job_id(jd),
                submission_id=cursor.submission_id,
                state=ev.state,  # parse_event admits only the JobEvent states
                seq=ev.seq,
                at=ev.at,
                exit_code=ev.exit_code,
                node=ev.node,
                **usage_fields(ev.usage),
                log_path=str(jd.log),
            )
            for ev in sorted(cursor.events, key=lambda e: e.seq)
        ]

    def _files_declared(self, jd: JobDir, cursor: _Cursor) -> list[FilesDeclared]:
        last = latest(cursor.events)
        if last is None or not is_terminal(last.state) or not cursor.declared:
            return []
        groups = group_by_experiment(cursor.declared, cursor.experiment)
        return [
            FilesDeclared(
                experiment=experiment,
                submission_id=cursor.submission_id,
                batch_job_id=_batch_job_id(jd),
                files=[declared_file(e) for e in entries if e.input_status is None],
                inputs=[
                    InputReport(name=e.name, status=e.input_status)
                    for e in entries
                    if e.input_status is not None
                ],
            )
            for experiment, entries in groups.items()
        ]


def declared_file(entry: DeclaredEntry) -> DeclaredFile:
    """The message form of one declared output file."""
    return DeclaredFile(
        name=entry.name,
        location=entry.location,
        size=entry.size,
        parents=list(entry.parents),
        software_version=entry.software_version,
        metadata=dict(entry.metadata),
    )
