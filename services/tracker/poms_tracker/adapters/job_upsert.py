"""Set-based job writes: a micro-batch's events folded per job, then one statement.

``fold_job_events`` applies ``accept_job_event`` to the events as the tracker applies them
one message at a time, starting from what the table holds, and keeps one change per job
(and what each message did to the job counts, for the roll-up). ``write_job_changes``
then writes every change at once, guarded by the same rule in SQL: on PostgreSQL the
changes are copied into a temporary table and merged with one statement, on SQLite one
``INSERT … ON CONFLICT DO UPDATE … WHERE`` carries them.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg2.errors
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.expression import ColumnCollection

from poms_shared.contracts.messages import JobEvent
from poms_shared.db.tables import Job
from poms_shared.domain.statuses import JobState
from poms_tracker.domain.rules import JobView, accept_job_event

STATE_NAMES = {s.name.lower(): s for s in JobState}
# Per state name: the state, its number, whether it is ``running`` (sets started_at) and
# whether it is final, worked out once rather than per event.
_STATES = {
    name: (s, int(s), s == JobState.RUNNING, s.is_terminal) for name, s in STATE_NAMES.items()
}
_SEQ = operator.attrgetter("seq")
_KEY = operator.attrgetter("backend", "batch_job_id")  # an event's job
_SUBMISSION_STATE = operator.attrgetter("submission_id", "state")
_STATE_NAME, _AT = operator.attrgetter("state"), operator.attrgetter("at")
FIRST_TERMINAL = min(int(s) for s in JobState if s.is_terminal)
JobKey = tuple[str, str]  # (backend, batch_job_id)
NULL = "\\N"  # COPY text format
COPY_CHUNK = 4 << 20  # characters per read of a COPY's data
COPY_ROWS = 5000  # rows per piece of a COPY's data (~0.5M characters)
_SPECIAL = re.compile(r"[\\\t\n\r]")  # what a COPY text field must escape

JOBS = Job.__table__
# What a job used, as its events tell (each kept from the newest event that names it).
USAGE = ("site", "cpu_seconds", "wall_seconds", "memory_mb", "memory_requested_mb")
# Column order of the staging table, of the COPY and of the insert.
FIELDS = (
    "backend",
    "batch_job_id",
    "submission_id",
    "state",
    "last_seq",
    "exit_code",
    "node",
    "log_path",
    "started_at",
    "finished_at",
    *USAGE,
)
STAGE = Table(
    "poms_job_changes",
    MetaData(),
    Column("backend", Text, nullable=False),
    Column("batch_job_id", Text, nullable=False),
    Column("submission_id", Integer, nullable=False),
    Column("state", Integer, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("exit_code", Integer),
    Column("node", Text),
    Column("log_path", Text),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("site", Text),
    Column("cpu_seconds", Float),
    Column("wall_seconds", Float),
    Column("memory_mb", Integer),
    Column("memory_requested_mb", Integer),
    Column("existing", Boolean, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
STAGED = "poms_job_changes_staged"  # Session.info key: the staging table has rows


@dataclass(slots=True)
class JobChange:
    """What a batch does to one job: the fields ``_update_job`` used to set, folded.

    ``node``/``log_path`` are None when no applied event named one (the row keeps its
    own), ``started_at`` is the first applied ``running`` event's time (a row that has one
    keeps it), ``exit_code``/``finished_at`` count only when ``state`` is final.
    """

    backend: str
    batch_job_id: str
    submission_id: int
    state: int
    last_seq: int
    exit_code: int | None = None
    node: str | None = None
    log_path: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    site: str | None = None
    cpu_seconds: float | None = None
    wall_seconds: float | None = None
    memory_mb: int | None = None
    memory_requested_mb: int | None = None
    existing: bool = False

    def apply(self, event: JobEvent, state: int, running: bool, final: bool) -> None:
        """Take an accepted event in ``state`` (``running``, ``final``: what it is)."""
        self.state = state
        self.last_seq = event.seq
        self.node = event.node or self.node
        self.log_path = event.log_path or self.log_path
        self.site = event.site or self.site
        if event.cpu_seconds is not None:
            self.cpu_seconds = event.cpu_seconds
        if event.wall_seconds is not None:
            self.wall_seconds = event.wall_seconds
        if event.memory_mb is not None:
            self.memory_mb = event.memory_mb
        if event.memory_requested_mb is not None:
            self.memory_requested_mb = event.memory_requested_mb
        if running and self.started_at is None:
            self.started_at = event.at
        if final:
            self.finished_at = event.at
            self.exit_code = event.exit_code


@dataclass(frozen=True)
class StoredJob:
    """A job as the table holds it before the batch."""

    submission_id: int
    view: JobView


# Readers of a change's fields, for building COPY text by columns (``_tsv``).
_BACKEND, _JOB_ID, _SUBMISSION, _STATE, _LAST_SEQ, _EXIT_CODE = map(
    operator.attrgetter,
    ("backend", "batch_job_id", "submission_id", "state", "last_seq", "exit_code"),
)
_NODE, _LOG_PATH, _STARTED_AT, _FINISHED_AT, _EXISTING = map(
    operator.attrgetter, ("node", "log_path", "started_at", "finished_at", "existing")
)
_SITE, _CPU, _WALL, _MEMORY, _MEMORY_REQUESTED = map(operator.attrgetter, USAGE)
_FLAGS = {True: "t", False: "f"}

# What one message of a batch did: for each submission with a job it moved, the change
# of its job counts by state (empty when the jobs moved but kept their states).
Step = dict[int, dict[int, int]]


@dataclass
class Folded:
    """The batch's jobs to write, and what each of its messages did to the counts.

    ``moved``: changes built event by event. ``fresh``: jobs first seen in the batch
    whose one event says everything (their change is ``_first_seen(event)``); most of a
    new campaign's jobs, written straight from their events without a change each."""

    moved: list[JobChange]
    fresh: list[JobEvent]
    steps: list[Step]

    @property
    def changes(self) -> list[JobChange]:
        """Every job's change."""
        return [*self.moved, *map(_first_seen, self.fresh)]


class JobsExist(Exception):
    """A job the batch took for new, without reading the table, has a row."""


def job_keys(messages: list[list[JobEvent]], among: Collection[int] | None = None) -> set[JobKey]:
    """The jobs the messages name (``among``: under one of these submissions)."""
    if among is None:
        return {(e.backend, e.batch_job_id) for events in messages for e in events}
    return {
        (e.backend, e.batch_job_id)
        for events in messages
        for e in events
        if e.submission_id in among
    }


def fold_job_events(messages: list[list[JobEvent]], stored: Mapping[JobKey, StoredJob]) -> Folded:
    """One change per job the messages move, as applying them one at a time onto
    ``stored`` would leave it: messages in order, the events of each by ``seq`` (arrival
    order among equal ``seq``), each event kept only if ``accept_job_event`` says so.

    A message whose events each name a different job, none stored nor seen earlier in
    the batch (a poll's first report of new jobs), is taken whole: every event is then
    its job's first, accepted whatever it says, and their order does not matter."""
    fold = Fold(stored)
    for events in messages:
        fold.add(events)
    return fold.result()


class Fold:
    """``fold_job_events`` a message at a time. ``first_events``, when given: a list the
    fold appends each job's first event to, in the order the jobs were first seen
    (whatever came of them after), for a COPY that writes them as it goes."""

    def __init__(
        self, stored: Mapping[JobKey, StoredJob], first_events: list[JobEvent] | None = None
    ) -> None:
        self.stored = stored
        self.changes: dict[JobKey, JobChange] = {}
        self.fresh: dict[JobKey, JobEvent] = {}  # jobs first seen, by their only event so far
        self.steps: list[Step] = []
        self.first_events = first_events

    def add(self, events: list[JobEvent]) -> None:
        """Fold the next message."""
        changes, fresh, stored = self.changes, self.fresh, self.stored
        step: Step = {}
        self.steps.append(step)
        keys = list(map(_KEY, events))
        if _all_new(keys, (changes, fresh, stored)):
            fresh.update(zip(keys, events, strict=True))
            if (firsts := self.first_events) is not None:
                firsts.extend(events)
            for (sid, name), count in Counter(map(_SUBMISSION_STATE, events)).items():
                step.setdefault(sid, {})[STATE_NAMES[name]] = count
            return
        for event in sorted(events, key=_SEQ):
            key = (event.backend, event.batch_job_id)
            state, number, running, final = _STATES[event.state]
            change = changes.get(key)
            if change is None and (first := fresh.pop(key, None)) is not None:
                change = changes[key] = _first_seen(first)  # a second event: a change
            if change is not None:
                view, sid = JobView(JobState(change.state), change.last_seq), change.submission_id
            elif (found := stored.get(key)) is not None:
                view, sid = found.view, found.submission_id
            else:
                fresh[key] = event
                if (firsts := self.first_events) is not None:
                    firsts.append(event)
                _count(step, event.submission_id, None, state)
                continue
            if not accept_job_event(view, state, event.seq):
                continue
            if change is None:
                change = changes[key] = JobChange(*key, sid, number, event.seq, existing=True)
            change.apply(event, number, running, final)
            _count(step, sid, view, state)

    def result(self) -> Folded:
        return Folded(list(self.changes.values()), list(self.fresh.values()), self.steps)


def _all_new(keys: list[JobKey], known: Iterable[Mapping[JobKey, Any]]) -> bool:
    """The keys name different jobs, none of them in any of ``known``."""
    return len(set(keys)) == len(keys) and all(m.keys().isdisjoint(keys) for m in known)


def _first_seen(event: JobEvent) -> JobChange:
    """A job's change from its first event: ``accept_job_event(None, …)`` takes any
    event, and the change holds what ``JobChange.apply`` would set on a blank one."""
    _, number, running, final = _STATES[event.state]
    at = event.at
    return JobChange(
        event.backend,
        event.batch_job_id,
        event.submission_id,
        number,
        event.seq,
        event.exit_code if final else None,
        event.node or None,
        event.log_path or None,
        at if running else None,
        at if final else None,
        event.site or None,
        event.cpu_seconds,
        event.wall_seconds,
        event.memory_mb,
        event.memory_requested_mb,
    )


def _count(step: Step, submission_id: int, before: JobView | None, state: JobState) -> None:
    """Record in ``step`` that a job of the submission went from ``before`` to ``state``."""
    if (counts := step.get(submission_id)) is None:
        counts = step[submission_id] = {}
    if before is None or before.state != state:
        counts[state] = counts.get(state, 0) + 1
        if before is not None:
            counts[before.state] = counts.get(before.state, 0) - 1


def _rule(current: ColumnCollection[str, Any], incoming: Any) -> ColumnElement[bool]:
    """``accept_job_event`` in SQL: the job has not ended, and the change is newer or final."""
    return and_(
        current.state < FIRST_TERMINAL,
        or_(incoming.last_seq > current.last_seq, incoming.state >= FIRST_TERMINAL),
    )


def _assignments(
    current: ColumnCollection[str, Any], incoming: Any, now: datetime
) -> dict[str, Any]:
    """What a change sets on a row that exists (its submission never changes)."""
    final = incoming.state >= FIRST_TERMINAL
    return {
        "state": incoming.state,
        "last_seq": incoming.last_seq,
        "updated": now,
        "node": func.coalesce(incoming.node, current.node),
        "log_path": func.coalesce(incoming.log_path, current.log_path),
        "started_at": func.coalesce(current.started_at, incoming.started_at),
        "finished_at": case((final, incoming.finished_at), else_=current.finished_at),
        "exit_code": case((final, incoming.exit_code), else_=current.exit_code),
        **{name: func.coalesce(incoming[name], current[name]) for name in USAGE},
    }


def write_job_changes(session: Session, folded: Folded, now: datetime) -> set[int]:
    """Write every change in one statement; the submissions whose jobs it moved."""
    if not folded.moved and not folded.fresh:
        return set()
    session.flush()  # pending ORM rows first: the statements below bypass the unit of work
    if session.get_bind().dialect.name != "postgresql":
        return _upsert_sqlite(session, folded.changes, now)
    new = [c for c in folded.moved if not c.existing]
    moved: set[int] = set()
    rest = [c for c in folded.moved if c.existing]
    if new or folded.fresh:
        if _copy_into_jobs(session, CopyRows(new, now, folded.fresh)):
            moved = {c.submission_id for c in new}.union(map(_SUBMISSION, folded.fresh))
        else:  # another writer inserted one of them since: all through the merge
            rest = folded.changes
    return moved | _merge_staged(session, rest, now) if rest else moved


def fold_and_write_unread(
    session: Session,
    messages: list[list[JobEvent]],
    stored: Mapping[JobKey, StoredJob],
    now: datetime,
) -> tuple[list[Step], set[int]]:
    """PostgreSQL, for a batch whose new jobs were not looked up (``stored`` holds only
    what was): ``fold_job_events`` and ``write_job_changes`` at once. The messages are
    folded as the COPY of the jobs they show first reads them, so the server inserts one
    piece while the next messages are folded; then what moved those jobs again, and the
    stored jobs, go through the guarded merge. Returns the fold's steps and the
    submissions the write moved; JobsExist, nothing written, if a job the batch took
    for new has a row."""
    session.flush()  # pending ORM rows first: the statements below bypass the unit of work
    rows = FoldingRows(stored, messages, now)
    if not _copy_into_jobs(session, rows):
        raise JobsExist("a job taken for new has a row")
    folded = rows.fold.result()
    for change in folded.moved:
        change.existing = True  # the row of its first event is in
    moved = rows.submissions
    if folded.moved:
        moved |= _merge_staged(session, folded.moved, now)
    return folded.steps, moved


class FoldingRows:
    """COPY text of each job's first event (``_fresh_tsv``), folding the messages onto
    ``stored`` as the COPY reads it: ``COPY_ROWS`` rows or more a piece (every message is
    in ``fold`` by the time it returns ""). ``submissions``: those of the rows handed out."""

    def __init__(
        self, stored: Mapping[JobKey, StoredJob], messages: list[list[JobEvent]], updated: datetime
    ) -> None:
        self._pending: list[JobEvent] = []
        self.fold = Fold(stored, self._pending)
        self._messages = iter(messages)
        self._updated = updated
        self.submissions: set[int] = set()

    def read(self, size: int = -1) -> str:
        pending, fold = self._pending, self.fold
        while len(pending) < COPY_ROWS:
            if (events := next(self._messages, None)) is None:
                break
            fold.add(events)
        self.submissions.update(map(_SUBMISSION, pending))
        piece = _fresh_tsv(pending, self._updated)
        pending.clear()
        return piece


def _copy_into_jobs(session: Session, rows: CopyRows | FoldingRows) -> bool:
    """COPY ``rows`` (new jobs) straight into ``jobs`` under a savepoint: the common
    case (a job's first event) costs what a bare COPY does. False, nothing written, if
    another writer inserted one of them since (the unique key refuses the COPY)."""
    columns = ", ".join((*FIELDS, "updated"))
    try:
        with session.begin_nested():
            raw: Any = session.connection().connection.driver_connection  # in the savepoint
            with raw.cursor() as cursor:
                _copy(cursor, f"COPY {JOBS.name} ({columns}) FROM STDIN", rows)
    except psycopg2.errors.UniqueViolation:
        return False
    return True


def _upsert_sqlite(session: Session, changes: list[JobChange], now: datetime) -> set[int]:
    """``INSERT … ON CONFLICT DO UPDATE … WHERE`` with every change as parameters."""
    insert = sqlite.insert(JOBS)
    upsert = insert.on_conflict_do_update(
        index_elements=[JOBS.c.backend, JOBS.c.batch_job_id],
        set_=_assignments(JOBS.c, insert.excluded, now),
        where=_rule(JOBS.c, insert.excluded),
    ).returning(JOBS.c.submission_id)
    rows = [{f: getattr(c, f) for f in FIELDS} | {"updated": now} for c in changes]
    return set(session.scalars(upsert, rows))


def _merge_staged(session: Session, changes: list[JobChange], now: datetime) -> set[int]:
    """COPY the changes into a temporary table, then one statement: an UPDATE of the jobs
    known to exist and an ``INSERT … ON CONFLICT DO UPDATE … WHERE`` of the others (so
    updates do not spend ids of the jobs sequence), returning the submissions moved."""
    session.execute(CreateTable(STAGE, if_not_exists=True))
    if session.info.get(STAGED):  # an earlier run of this transaction left its rows there
        session.execute(text(f"TRUNCATE {STAGE.name}"))
    columns = ", ".join((*FIELDS, "existing"))
    raw: Any = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        _copy(cursor, f"COPY {STAGE.name} ({columns}) FROM STDIN", CopyRows(changes))
    session.info[STAGED] = True  # emptied at commit (or rollback), or by the next run
    stage = STAGE.c
    updated = (
        update(JOBS)
        .where(
            JOBS.c.backend == stage.backend,
            JOBS.c.batch_job_id == stage.batch_job_id,
            stage.existing,
            _rule(JOBS.c, stage),
        )
        .values(_assignments(JOBS.c, stage, now))
        .returning(JOBS.c.submission_id)
        .cte("updated")
    )
    fresh = select(*(stage[f] for f in FIELDS), literal(now, JOBS.c.updated.type))
    insert = postgresql.insert(JOBS).from_select([*FIELDS, "updated"], fresh.where(~stage.existing))
    inserted = (
        insert.on_conflict_do_update(
            index_elements=[JOBS.c.backend, JOBS.c.batch_job_id],
            set_=_assignments(JOBS.c, insert.excluded, now),
            where=_rule(JOBS.c, insert.excluded),
        )
        .returning(JOBS.c.submission_id)
        .cte("inserted")
    )
    touched = select(updated.c.submission_id).union(select(inserted.c.submission_id))
    return set(session.scalars(touched))


def _copy(cursor: Any, statement: str, data: CopyRows | FoldingRows) -> None:
    """COPY ``data`` in pieces of at most ``COPY_CHUNK`` characters: psycopg2 takes the
    GIL back for every piece, and with the consumer thread decoding meanwhile its default
    8 kB made the COPY wait for the interpreter far longer than for the server."""
    cursor.copy_expert(statement, data, size=COPY_CHUNK)


class CopyRows:
    """COPY text of changes (``_tsv``), then of jobs first seen (``_fresh_tsv``, only
    with ``updated``), built ``COPY_ROWS`` rows at a time as the COPY reads it: the
    server inserts one piece while the next is built."""

    def __init__(
        self,
        changes: list[JobChange],
        updated: datetime | None = None,
        fresh: list[JobEvent] | None = None,
    ) -> None:
        pieces: Iterable[str] = (
            _tsv(changes[start : start + COPY_ROWS], updated)
            for start in range(0, len(changes), COPY_ROWS)
        )
        if fresh:
            if updated is None:
                raise ValueError("rows of jobs first seen are new rows: they need `updated`")
            pieces = itertools.chain(
                pieces,
                (
                    _fresh_tsv(fresh[start : start + COPY_ROWS], updated)
                    for start in range(0, len(fresh), COPY_ROWS)
                ),
            )
        self._pieces = iter(pieces)

    def read(self, size: int = -1) -> str:
        """The next piece ("" after the last); pieces are shorter than ``COPY_CHUNK``."""
        return next(self._pieces, "")


def _tsv(changes: list[JobChange], updated: datetime | None = None) -> str:
    """The changes as COPY text rows: ``FIELDS`` then ``updated`` when given, else
    whether the job existed (the staging table's last column).

    Built column by column with C-level loops (``map``, ``zip``, ``str.join``): a batch
    holds tens of thousands of rows, and a Python expression per row cost more than the
    rest of the fold."""
    if not changes:
        return ""
    last: Iterable[str]
    if updated is None:
        last = map(_FLAGS.__getitem__, map(_EXISTING, changes))
    else:
        last = itertools.repeat(_stamp(updated), len(changes))
    columns = (
        map(_shared_text, map(_BACKEND, changes)),
        _texts(list(map(_JOB_ID, changes))),
        map(str, map(_SUBMISSION, changes)),
        map(str, map(_STATE, changes)),
        map(str, map(_LAST_SEQ, changes)),
        map(_number, map(_EXIT_CODE, changes)),
        map(_shared_text, map(_NODE, changes)),
        map(_shared_text, map(_LOG_PATH, changes)),
        map(_stamp, map(_STARTED_AT, changes)),
        map(_stamp, map(_FINISHED_AT, changes)),
        map(_shared_text, map(_SITE, changes)),
        map(_number, map(_CPU, changes)),
        map(_number, map(_WALL, changes)),
        map(_number, map(_MEMORY, changes)),
        map(_number, map(_MEMORY_REQUESTED, changes)),
        last,
    )
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _fresh_tsv(events: list[JobEvent], updated: datetime) -> str:
    """The COPY text ``_tsv`` makes of ``map(_first_seen, events)`` with ``updated``,
    built by columns straight from the events."""
    if not events:
        return ""
    names = list(map(_STATE_NAME, events))
    times = list(map(_AT, events))
    columns = (
        map(_shared_text, map(_BACKEND, events)),
        _texts(list(map(_JOB_ID, events))),
        map(str, map(_SUBMISSION, events)),
        map(_STATE_NUMBERS.__getitem__, names),
        map(str, map(_SEQ, events)),
        map(_exit_text, names, map(_EXIT_CODE, events)),
        map(_named, map(_NODE, events)),
        map(_named, map(_LOG_PATH, events)),
        map(_started_text, names, times),
        map(_finished_text, names, times),
        map(_named, map(_SITE, events)),
        map(_number, map(_CPU, events)),
        map(_number, map(_WALL, events)),
        map(_number, map(_MEMORY, events)),
        map(_number, map(_MEMORY_REQUESTED, events)),
        itertools.repeat(_stamp(updated), len(events)),
    )
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _texts(values: list[str]) -> list[str]:
    """``_text`` of each value; one search over them all when, as usual, none needs it."""
    if _SPECIAL.search("".join(values)) is None:
        return values
    return [_text(v) for v in values]


@functools.lru_cache(maxsize=4096)  # few exit codes; usage is mostly unknown
def _number(value: float | None) -> str:
    return NULL if value is None else str(value)


@functools.lru_cache(maxsize=4096)  # backends, nodes and log paths repeat across jobs
def _shared_text(value: str | None) -> str:
    return _text(value)


@functools.lru_cache(maxsize=1024)  # the events of one poll share their times
def _stamp(value: datetime | None) -> str:
    """UTC ISO text, naive times taken as UTC (as the column type does)."""
    if value is None:
        return NULL
    return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _text(value: str | None) -> str:
    """One COPY text-format field."""
    if value is None:
        return NULL
    if _SPECIAL.search(value):
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        value = value.replace("\r", "\\r")
    return value


_STATE_NUMBERS = {name: str(number) for name, (_, number, _, _) in _STATES.items()}


@functools.lru_cache(maxsize=4096)
def _exit_text(state: str, exit_code: int | None) -> str:
    """A first event's exit code: kept only when its state is final."""
    return _number(exit_code) if _STATES[state][3] else NULL


@functools.lru_cache(maxsize=1024)
def _started_text(state: str, at: datetime) -> str:
    return _stamp(at) if _STATES[state][2] else NULL


@functools.lru_cache(maxsize=1024)
def _finished_text(state: str, at: datetime) -> str:
    return _stamp(at) if _STATES[state][3] else NULL


@functools.lru_cache(maxsize=4096)  # nodes and log paths repeat across jobs
def _named(value: str | None) -> str:
    """A text an event names; "" names none."""
    return _text(value or None)
