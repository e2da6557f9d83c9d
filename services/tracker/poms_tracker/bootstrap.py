"""Wiring of the tracker (reused by the embedded runner and tests)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping

from poms_shared.batch.backends import make_backend
from poms_shared.batch.port import BatchBackend, BatchError
from poms_shared.broker import Bus, PermanentError
from poms_shared.broker.names import TRACKER_JOB_EVENTS, TRACKER_LAUNCHES
from poms_shared.contracts import Envelope
from poms_shared.contracts.messages import FilesDeclared, JobEventsReported
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.session import Database
from poms_shared.runtime.loop import Loop
from poms_shared.runtime.service import (
    BatchSubscription,
    HandlerRegistry,
    Service,
    transactional,
)
from poms_shared.settings import Settings
from poms_tracker import handlers
from poms_tracker.adapters.repository import STATE_NAMES, claim_messages
from poms_tracker.domain.drift import Grace
from poms_tracker.domain.launch_timeout import NewTimeouts
from poms_tracker.reconcile import Reconciler

log = logging.getLogger(__name__)
NAME = "tracker"
# Messages a batch handles a run at a time (consecutive messages of one type together).
GROUPED: dict[type, Callable[..., set[int]]] = {
    JobEventsReported: handlers.ingest_job_reports,
    FilesDeclared: handlers.ingest_file_declarations,
}
LAUNCH_MARGIN = 300.0  # seconds past the launcher's limit before a running launch is given up
NEW_TIMEOUT_CHECK = 60.0  # seconds between looks for submissions stuck in New
COMPLETED_SWEEP = 30.0  # seconds between located checks of Completed submissions
RECONCILE_INTERVAL = "POMS_RECONCILE_INTERVAL"  # seconds between reconciler passes (300)
RECONCILE_GRACE = "POMS_RECONCILE_GRACE"  # seconds a job may be unknown to its backend (600)
INGEST_WORKERS = "POMS_INGEST_WORKERS"  # job-event batches handled at once (1)
MOST_INGEST_WORKERS = 8


def new_timeouts(settings: Settings) -> NewTimeouts:
    """``POMS_NEW_TIMEOUT`` seconds in New (default 3600); launches get their own limit."""
    allowance = settings.launch_timeout + LAUNCH_MARGIN
    return NewTimeouts(new_after=settings.new_timeout, launch_allowance=allowance)


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero_ok: bool) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        least = "zero or more" if zero_ok else "more than zero"
        raise ValueError(f"{name} must be a number of seconds, {least}, not {raw!r}")
    return value


def reconcile_timing(env: Mapping[str, str] | None = None) -> tuple[float, Grace]:
    """The reconciler's interval and grace from ``POMS_RECONCILE_INTERVAL`` (default 300 s)
    and ``POMS_RECONCILE_GRACE`` (default 600 s); ValueError naming a bad value."""
    env = os.environ if env is None else env
    interval = _seconds(env, RECONCILE_INTERVAL, 300.0, zero_ok=False)
    return interval, Grace(seconds=_seconds(env, RECONCILE_GRACE, 600.0, zero_ok=True))


def ingest_workers(env: Mapping[str, str] | None = None) -> int:
    """How many job-event batches the tracker handles at once, from
    ``POMS_INGEST_WORKERS`` (default 1, at most 8); ValueError naming a bad value.

    Each batch locks its submissions before it writes their jobs, so batches sharing a
    submission still go one after the other; more workers help only when the batches in
    flight name different submissions. They are acked in order whatever the order of
    their commits."""
    env = os.environ if env is None else env
    raw = env.get(INGEST_WORKERS, "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MOST_INGEST_WORKERS:
        raise ValueError(
            f"{INGEST_WORKERS} must be a whole number from 1 to {MOST_INGEST_WORKERS}, not {raw!r}"
        )
    return int(raw)


def batch_handler(
    db: Database,
    registry: HandlerRegistry,
    after_commit: Callable[[], None],
    settings: Settings | None = None,
) -> Callable[[list[Envelope]], None]:
    """One transaction (and one commit) for a whole micro-batch of job/file events.

    The inbox is claimed for the whole batch at once; each run of consecutive job-event
    reports is ingested together (one write, one roll-up per submission), each run of file
    declarations too (one refresh per submission), other messages are dispatched one at a
    time in their place, so file declarations and job events keep their order. A failure
    rolls everything back; the consumer then retries one by one.
    ``settings`` say which catalog the located check of rolled-up submissions asks.
    """

    def handle(batch: list[Envelope]) -> None:
        try:
            with db.transaction() as session:
                fresh = claim_messages(session, NAME, [e.message_id for e in batch])
                by_id = {e.message_id: e for e in reversed(batch)}  # the first of repeats
                run: list[Envelope] = []  # consecutive messages of one grouped type
                for envelope in (by_id[m] for m in fresh):
                    kind = type(envelope.payload)
                    if run and type(run[0].payload) is not kind:
                        GROUPED[type(run[0].payload)](run, session=session, settings=settings)
                        run = []
                    if kind in GROUPED:
                        run.append(envelope)
                    else:
                        registry.dispatch(envelope, UnitOfWork(session, cause=envelope))
                if run:
                    GROUPED[type(run[0].payload)](run, session=session, settings=settings)
        except (LookupError, ValueError) as exc:
            raise PermanentError(f"{type(exc).__name__}: {exc}") from exc
        after_commit()

    return handle


class BatchPoller:
    """Feeds every configured backend's job states and declared files into the tracker."""

    def __init__(
        self,
        db: Database,
        backends: list[BatchBackend],
        after_commit: Callable[[], None],
        settings: Settings | None = None,
    ) -> None:
        self.db = db
        self.backends = backends
        self.after_commit = after_commit
        self.settings = settings

    def run_once(self) -> bool:
        """Poll each backend in turn; one that fails is logged and does not stop the others."""
        for backend in self.backends:
            try:
                self._poll(backend)
            except BatchError as exc:
                log.warning("polling the %s batch backend failed: %s", backend.name, exc)
        return False

    def _poll(self, backend: BatchBackend) -> None:
        result = backend.poll()
        if not result.events and not result.files:
            return
        with self.db.transaction() as session:
            uow = UnitOfWork(session)
            handlers.declare_and_refresh([(f, uow) for f in result.files], self.settings)
            handlers.ingest_job_events(uow, result.events, self.settings)
        self.after_commit()
        # Only after the commit: a finished job need not be read again.
        finished = {e.batch_job_id for e in result.events if STATE_NAMES[e.state].is_terminal}
        backend.mark_tracked(sorted(finished))


def build(settings: Settings, db: Database, bus: Bus) -> Service:
    """Launch-outcome consumer, micro-batched job-event consumer, batch poller, sweeps,
    reconciler."""
    limits = new_timeouts(settings)
    reconcile_every, grace = reconcile_timing()
    workers = ingest_workers()
    service = Service(NAME, db, bus)
    relay = service.attach_relay()
    registry = handlers.build_registry(settings)
    service.subscriptions.append(
        (TRACKER_LAUNCHES, transactional(db, NAME, registry, TRACKER_LAUNCHES.name, relay.wake))
    )
    service.batch_subscriptions.append(
        BatchSubscription(
            TRACKER_JOB_EVENTS,
            batch_handler(db, registry, relay.wake, settings),
            workers=workers,
        )
    )
    backends = [make_backend(name, settings) for name in settings.batch_backends]
    poller = BatchPoller(db, backends, relay.wake, settings)
    service.loops.append(Loop("batch-poller", poller.run_once, settings.poll_interval))
    service.loops.append(
        Loop("completed-sweep", lambda: _sweep(db, relay.wake, settings), COMPLETED_SWEEP)
    )
    service.loops.append(
        Loop("new-timeout", lambda: _fail_stale_new(db, limits, relay.wake), NEW_TIMEOUT_CHECK)
    )
    reconciler = Reconciler(db, backends, relay.wake, grace=grace, settings=settings)
    service.loops.append(Loop("reconcile", reconciler.run_once, reconcile_every))
    return service


def _sweep(db: Database, after_commit: Callable[[], None], settings: Settings) -> bool:
    """Completed submissions: outputs found late, the stage's time limit reached, or a
    catalog that did not answer before."""
    with db.transaction() as session:
        handlers.sweep_completed(UnitOfWork(session), settings)
    after_commit()
    return False


def _fail_stale_new(db: Database, limits: NewTimeouts, after_commit: Callable[[], None]) -> bool:
    with db.transaction() as session:
        failed = handlers.fail_stale_new(UnitOfWork(session), limits)
    if failed:
        after_commit()
    return False
