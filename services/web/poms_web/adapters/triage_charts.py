"""Histograms and time series of the triage page, counted in SQL: each bucket is a
``CASE`` over fixed edges (portable to SQLite and PostgreSQL, no epoch arithmetic), and
each chart is one ``GROUP BY`` over the jobs of the submissions in scope."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, or_, select, true
from sqlalchemy.orm import Session

from poms_shared.db.tables import Job
from poms_shared.domain.statuses import JobState
from poms_web.adapters.triage import (
    DONE,
    FAILED,
    Scope,
    counted,
    efficiency_known,
    ended_in,
    job_end,
    jobs_in,
)

SHARE_EDGES = [n / 10 for n in range(1, 11)]  # 10 %-wide buckets, the last one ≥ 100 %
SHARE_LABELS = [f"{n * 10}–{n * 10 + 10} %" for n in range(10)] + ["≥ 100 %"]
MB_EDGES = [256, 512, 1024, 2048, 4096, 8192, 16384]
MB_LABELS = [
    "< 256 MB", "256–512 MB", "0.5–1 GB", "1–2 GB", "2–4 GB", "4–8 GB", "8–16 GB", "≥ 16 GB"
]  # fmt: skip
STEPS_MINUTES = (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
MOST_BUCKETS = 32


@dataclass(frozen=True)
class Histogram:
    labels: list[str]
    counts: list[int]
    unknown: int  # jobs that did not tell


@dataclass(frozen=True)
class Memory:
    """Peak memory used and memory requested by the jobs, in the same bins of MB, and
    what they used as a share of their request."""

    labels: list[str]
    used: list[int]
    requested: list[int]
    unknown_used: int
    unknown_requested: int
    share: Histogram


@dataclass(frozen=True)
class Timeline:
    """Per time bucket: jobs started and ended (done, failed, killed) in it, and running
    at its end."""

    step_minutes: int
    labels: list[str]
    started: list[int]
    done: list[int]
    failed: list[int]
    killed: list[int]
    running: list[int]


def bucket_of(
    value: ColumnElement[Any], edges: Sequence[Any], known: ColumnElement[bool]
) -> ColumnElement[int]:
    """0 below the first edge, 1 below the second … ``len(edges)`` above them; -1 unknown."""
    whens = [(and_(known, value < edge), i) for i, edge in enumerate(edges)]
    return case(*whens, (known, len(edges)), else_=-1)


def _ran(scope: Scope) -> ColumnElement[bool]:
    """Jobs that ran to their end in the window (done or failed; not killed)."""
    return and_(ended_in(scope), or_(DONE, FAILED))


def _histogram(rows: Sequence[Any], labels: list[str]) -> Histogram:
    counts = [0] * len(labels)
    unknown = 0
    for bucket, count in rows:
        if bucket < 0:
            unknown += count
        else:
            counts[bucket] += count
    return Histogram(labels, counts, unknown)


def efficiency(session: Session, scope: Scope) -> Histogram:
    """Jobs ended in the window by CPU efficiency (CPU over wall time)."""
    ratio = Job.cpu_seconds / Job.wall_seconds
    bucket = bucket_of(ratio, SHARE_EDGES, efficiency_known()).label("bucket")
    query = jobs_in(select(bucket, counted(true())), scope).where(_ran(scope)).group_by(bucket)
    return _histogram(session.execute(query).all(), SHARE_LABELS)


def memory(session: Session, scope: Scope) -> Memory:
    """Jobs ended in the window by peak memory used and memory requested."""
    used_known = Job.memory_mb >= 0
    asked_known = Job.memory_requested_mb > 0
    used = bucket_of(Job.memory_mb.expression, MB_EDGES, used_known).label("used")
    asked = bucket_of(Job.memory_requested_mb.expression, MB_EDGES, asked_known).label("asked")
    share_value = cast(Job.memory_mb, Float) / Job.memory_requested_mb
    share = bucket_of(share_value, SHARE_EDGES, and_(used_known, asked_known)).label("share")
    query = (
        jobs_in(select(used, asked, share, counted(true())), scope)
        .where(_ran(scope))
        .group_by(used, asked, share)
    )
    rows = session.execute(query).all()
    used_h = _histogram([(u, n) for u, _, _, n in rows], MB_LABELS)
    asked_h = _histogram([(a, n) for _, a, _, n in rows], MB_LABELS)
    return Memory(
        labels=MB_LABELS,
        used=used_h.counts,
        requested=asked_h.counts,
        unknown_used=used_h.unknown,
        unknown_requested=asked_h.unknown,
        share=_histogram([(s, n) for _, _, s, n in rows], SHARE_LABELS),
    )


def time_step(length: timedelta) -> timedelta:
    """The shortest usual step that cuts the window into at most ``MOST_BUCKETS``."""
    for minutes in STEPS_MINUTES:
        if length / timedelta(minutes=minutes) <= MOST_BUCKETS:
            return timedelta(minutes=minutes)
    return timedelta(minutes=STEPS_MINUTES[-1])


def time_edges(scope: Scope) -> tuple[timedelta, list[datetime]]:
    """The step and the start of each bucket of the window (the first is ``tmin``)."""
    step = time_step(scope.tmax - scope.tmin)
    count = max(1, math.ceil((scope.tmax - scope.tmin) / step))
    return step, [scope.tmin + i * step for i in range(count)]


def timeline(session: Session, scope: Scope) -> Timeline:
    """Jobs started, ended and running per time bucket of the window."""
    step, starts = time_edges(scope)
    size = len(starts)
    started, done, failed, killed = ([0] * size for _ in range(4))
    began = bucket_of(Job.started_at.expression, starts[1:], true()).label("bucket")
    query = (
        jobs_in(select(began, counted(true())), scope)
        .where(Job.started_at >= scope.tmin, Job.started_at < scope.tmax)
        .group_by(began)
    )
    for bucket, count in session.execute(query):
        started[bucket] += count
    ended = bucket_of(job_end, starts[1:], true()).label("bucket")
    outcome = case((DONE, 0), (FAILED, 1), else_=2).label("outcome")
    ran = case((Job.started_at.is_not(None), 1), else_=0).label("ran")
    query = (
        jobs_in(select(ended, outcome, ran, counted(true())), scope)
        .where(ended_in(scope))
        .group_by(ended, outcome, ran)
    )
    stopped = [0] * size  # jobs that had been running, ended in the bucket
    for bucket, kind, was_running, count in session.execute(query):
        (done, failed, killed)[kind][bucket] += count
        stopped[bucket] += count * was_running
    return Timeline(
        step_minutes=int(step / timedelta(minutes=1)),
        labels=[_label(t, step) for t in starts],
        started=started,
        done=done,
        failed=failed,
        killed=killed,
        running=_running(_running_at_start(session, scope), started, stopped),
    )


def _running_at_start(session: Session, scope: Scope) -> int:
    """Jobs running when the window opens: started before it and not ended by then."""
    running = and_(
        Job.started_at < scope.tmin,
        or_(Job.state < int(JobState.COMPLETED), job_end >= scope.tmin),
    )
    return int(session.scalar(jobs_in(select(counted(running)), scope)) or 0)


def _running(first: int, started: list[int], stopped: list[int]) -> list[int]:
    found, now = [], first
    for began, ended in zip(started, stopped, strict=True):
        now += began - ended
        found.append(max(now, 0))
    return found


def _label(when: datetime, step: timedelta) -> str:
    return when.strftime("%Y-%m-%d" if step >= timedelta(days=1) else "%m-%d %H:%M")
