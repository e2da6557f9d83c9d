"""``launch_burst``: 200 one-second launches through the launcher, and how well it keeps consuming.

The launcher runs on the in-process bus over a private PostgreSQL schema (SQLite when
PostgreSQL cannot be had). Each launch script sleeps 1 s, then submits a trivial local job.
While the burst runs a no-op JobControl is published every 0.1 s; its handling latency is
the gap in consumption of other messages on the launcher's queue.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from poms_launcher import bootstrap
from poms_shared.broker.memory import InProcessBus
from poms_shared.broker.names import LAUNCHER_COMMANDS, TRACKER_LAUNCHES
from poms_shared.contracts import Envelope, new_envelope
from poms_shared.contracts.messages import JobControl, LaunchSubmission, SubmissionLaunched
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.demo.load import load_samples
from poms_shared.settings import load_settings
from poms_shared.testing.db import DatabaseUnavailable, postgres_database, sqlite_database
from poms_shared.testing.submissions import add_submissions

LAUNCHES = 200
PROBE_INTERVAL = 0.1
TIMEOUT = 240.0


@contextmanager
def _database(tmp: Path) -> Iterator[Database]:
    with ExitStack() as stack:
        try:
            yield stack.enter_context(postgres_database())
        except DatabaseUnavailable:
            yield stack.enter_context(sqlite_database(tmp))


def _submissions(db: Database, count: int) -> list[int]:
    with db.transaction() as session:
        load_samples(session)
        stage = session.scalars(select(CampaignStage).order_by(CampaignStage.campaign_stage_id))
        first = stage.first()
        assert first is not None
        first.job_type.launch_script = "sleep 1; poms-local-submit -- true"
        first.job_type.definition_parameters = []
        first.param_overrides = []
        return add_submissions(session, first.campaign_stage_id, count)


class _Probe:
    """Publishes no-op JobControl messages and records how long each waited to be handled."""

    def __init__(self, bus: InProcessBus) -> None:
        self.bus = bus
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def handled(self, envelope: Envelope) -> None:
        with self.lock:
            sent = self.sent.pop(envelope.message_id, None)
            if sent is not None:
                self.latencies.append(time.perf_counter() - sent)

    def run(self) -> None:
        while not self.stop.wait(PROBE_INTERVAL):
            env = new_envelope(JobControl(submission_ids=[], action="hold", actor="bench"))
            with self.lock:
                self.sent[env.message_id] = time.perf_counter()
            self.bus.publish(env)


def launch_burst(concurrency: int = 4) -> dict[str, Any]:
    """Wall time from the first request to every SubmissionLaunched, and the worst probe gap."""
    with tempfile.TemporaryDirectory() as tmp, _database(Path(tmp)) as db:
        settings = load_settings(
            var_dir=Path(tmp), database_url=db.url, launch_concurrency=concurrency
        )
        sids = _submissions(db, LAUNCHES)
        bus = InProcessBus()
        bus.declare()
        service = bootstrap.build(settings, db, bus)
        probe = _Probe(bus)
        launched: set[int] = set()
        done = threading.Event()

        def collect(envelope: Envelope) -> None:
            if isinstance(envelope.payload, SubmissionLaunched):
                launched.add(envelope.payload.submission_id)
                if len(launched) == LAUNCHES:
                    done.set()

        queue, handler = service.subscriptions[0]
        assert queue == LAUNCHER_COMMANDS

        def probed(envelope: Envelope) -> None:
            handler(envelope)
            probe.handled(envelope)

        bus.subscribe(queue, probed)
        bus.subscribe(TRACKER_LAUNCHES, collect)
        bus.start()
        service.start_loops()
        prober = threading.Thread(target=probe.run, daemon=True)
        try:
            started = time.perf_counter()
            prober.start()
            for sid in sids:
                bus.publish(new_envelope(LaunchSubmission(submission_id=sid)))
            if not done.wait(TIMEOUT):
                raise TimeoutError(f"{len(launched)}/{LAUNCHES} launched in {TIMEOUT:.0f}s")
            wall = time.perf_counter() - started
        finally:
            probe.stop.set()
            prober.join(5)
            service.stop_loops()
            bus.stop()
        return {
            "wall": wall,
            "baseline": LAUNCHES / concurrency,
            "max_gap": max(probe.latencies, default=0.0),
            "probes": len(probe.latencies),
            "concurrency": concurrency,
        }
