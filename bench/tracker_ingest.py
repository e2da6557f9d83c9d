"""``tracker_ingest``: job events per second through the real tracker, against a bare baseline.

Each side gets its own PostgreSQL schema (migrated, demo samples, the same submissions of
one stage) and its own RabbitMQ vhost, so neither sees the other's rows or messages. The
same encoded ``JobEventsReported`` messages (``EVENTS_PER_MESSAGE`` events each, every event
a new job of one submission) are published to the ``poms`` exchange with routing key
``event.JobEventsReported`` (persistent, on one channel, see ``_publish``):

- tracker: ``poms-tracker`` as its own process; the messages reach ``poms.tracker.job-events``;
- baseline: ``ingest_baseline.py`` as its own process, on a queue of its own bound to the
  same key, writing the same ``jobs`` rows with COPY and acking after the commit.

Each figure is events / (first publish → ``select count(*) from jobs`` reaching the event
count); ``cpu_s`` / ``baseline_cpu_s``: the machine's busy CPU seconds over the same span.
``POMS_BENCH_INGEST_EVENTS`` sets the event count (default 200 000).

The two sides run in pairs, baseline then tracker, ``POMS_BENCH_INGEST_ROUNDS`` times
(default 3, odd). On a small shared machine one pair's ratio wanders by ±10 % from run to
run. The figures are those of the pair with the median ratio, so ``value / baseline`` is
still one pair's ratio. ``ratios`` lists every pair's ratio, so the spread stays visible.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
from quiet import settle
from sqlalchemy import func, select

from poms_shared.broker.names import EXCHANGE, TRACKER_JOB_EVENTS, routing_key
from poms_shared.contracts import encode, new_envelope
from poms_shared.contracts.messages import JobEvent, JobEventsReported
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Job
from poms_shared.demo.load import load_samples
from poms_shared.testing.db import postgres_database
from poms_shared.testing.rabbit import rabbit_vhost
from poms_shared.testing.stack import DistributedStack
from poms_shared.testing.submissions import add_submissions

EVENTS_ENV = "POMS_BENCH_INGEST_EVENTS"
DEFAULT_EVENTS = 200_000
ROUNDS_ENV = "POMS_BENCH_INGEST_ROUNDS"
DEFAULT_ROUNDS = 3
EVENTS_PER_MESSAGE = 100
JOBS_PER_SUBMISSION = 500  # a poller's report covers jobs of one submission at a time
TIMEOUT = 180.0  # per side, from the first publish; keeps the benchmark under ~5 min
BASELINE_QUEUE = "bench.baseline.job-events"
KEY = routing_key("event", "JobEventsReported")

Message = tuple[str, bytes]  # (message_id, body)


def _whole_number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


def event_count() -> int:
    """``POMS_BENCH_INGEST_EVENTS``, rounded down to whole messages."""
    count = _whole_number(EVENTS_ENV, DEFAULT_EVENTS)
    if count < EVENTS_PER_MESSAGE:
        raise ValueError(f"{EVENTS_ENV} must be at least {EVENTS_PER_MESSAGE}, not {count}")
    return count - count % EVENTS_PER_MESSAGE


def round_count() -> int:
    """``POMS_BENCH_INGEST_ROUNDS``: pairs to run, an odd number from 1 to 9 (one median)."""
    rounds = _whole_number(ROUNDS_ENV, DEFAULT_ROUNDS)
    if not 1 <= rounds <= 9 or rounds % 2 == 0:
        raise ValueError(f"{ROUNDS_ENV} must be an odd number from 1 to 9, not {rounds}")
    return rounds


def median_pair(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """The index of the (tracker, baseline) pair whose rate ratio is the median
    (``pairs`` has an odd length); the earliest of equal ratios."""
    ratios = [tracker["rate"] / baseline["rate"] for tracker, baseline in pairs]
    order = sorted(range(len(pairs)), key=lambda i: (ratios[i], i))
    return order[len(order) // 2]


def _submissions(db: Database, count: int) -> list[int]:
    """Demo samples, then ``count`` New submissions of the first stage."""
    with db.transaction() as session:
        load_samples(session)
        first = session.scalars(
            select(CampaignStage).order_by(CampaignStage.campaign_stage_id)
        ).first()
        assert first is not None
        return add_submissions(session, first.campaign_stage_id, count)


def _event(n: int, sids: list[int], at: datetime) -> JobEvent:
    """The ``n``-th event: job ``n % JOBS_PER_SUBMISSION`` of its submission, first seen."""
    sid = sids[n // JOBS_PER_SUBMISSION]
    return JobEvent(
        source="bench",
        backend="local",
        batch_job_id=f"bench-{sid}.{n % JOBS_PER_SUBMISSION}@local",
        submission_id=sid,
        state="running",
        seq=1,
        at=at,
        node="bench-node",
    )


def _messages(sids: list[int], events: int) -> list[Message]:
    """Encoded JobEventsReported envelopes of ``EVENTS_PER_MESSAGE`` consecutive events."""
    at = datetime.now(UTC) - timedelta(minutes=1)
    messages: list[Message] = []
    for first in range(0, events, EVENTS_PER_MESSAGE):
        batch = [_event(n, sids, at) for n in range(first, first + EVENTS_PER_MESSAGE)]
        envelope = new_envelope(JobEventsReported(events=batch))
        messages.append((envelope.message_id, encode(envelope)))
    return messages


def _consumers(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        count: int = connection.channel().queue_declare(queue, passive=True).method.consumer_count
        return count
    except pika.exceptions.ChannelClosedByBroker:
        return 0  # not declared yet
    finally:
        if connection.is_open:
            connection.close()


def _wait_for_consumer(amqp_url: str, queue: str, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the consumer of {queue} exited before consuming")
        if _consumers(amqp_url, queue) > 0:
            return
        time.sleep(0.2)
    raise TimeoutError(f"nobody consumed {queue} within 60s")


def _job_rows(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def _publish(amqp_url: str, messages: list[Message]) -> float:
    """Persistent publishes on one channel; seconds taken.

    Without per-message confirms: a confirmed ``RabbitBus.publish_raw`` runs ~1.3k
    messages/s here (133k events/s), which would cap the baseline. Nothing can be lost
    unnoticed: a missing message leaves its rows missing and the wait times out.
    """
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        started = time.perf_counter()
        for message_id, body in messages:
            properties = pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=message_id,
                type="JobEventsReported",
                app_id="bench",
            )
            channel.basic_publish(EXCHANGE, KEY, body, properties)
        connection.process_data_events(0)
        return time.perf_counter() - started
    finally:
        connection.close()


def _timed_ingest(
    db: Database, amqp_url: str, messages: list[Message], events: int
) -> dict[str, Any]:
    """On a settled server, publish every message, then wait for every job row: events/s
    and publish seconds.

    After ``TIMEOUT`` the rate is that of the rows written so far, flagged incomplete.
    """
    settle()
    busy = _busy_cpu_seconds()
    started = time.perf_counter()
    published = _publish(amqp_url, messages)
    deadline = started + TIMEOUT
    while (rows := _job_rows(db)) < events and time.perf_counter() < deadline:
        time.sleep(0.1)
    if rows < events:
        print(f"only {rows}/{events} job rows after {TIMEOUT:.0f}s", file=sys.stderr)
    rate = rows / (time.perf_counter() - started)
    cpu = _busy_cpu_seconds() - busy
    return {"rate": rate, "publish_s": published, "cpu_s": cpu, "complete": rows >= events}


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every process: the consumer,
    PostgreSQL, RabbitMQ, this publisher), from ``/proc/stat``; NaN where there is none.

    On a machine with few cores the ingest is bounded by CPU work rather than waiting, so
    the figure says how much work each side costs, not only how long it took."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _world(events: int) -> Iterator[tuple[Database, str, list[int]]]:
    """A fresh schema with the submissions these events need, and a fresh vhost."""
    with postgres_database() as db, rabbit_vhost() as amqp:
        yield db, amqp, _submissions(db, events // JOBS_PER_SUBMISSION + 1)


def tracker_side(events: int, messages: Callable[[list[int]], list[Message]]) -> dict[str, Any]:
    """Events/s through ``poms-tracker`` (local batch backend, empty spool)."""
    with _world(events) as (db, amqp, sids), tempfile.TemporaryDirectory() as tmp:
        stack = DistributedStack(db.url, amqp, Path(tmp), {"POMS_BATCH_BACKENDS": "local"})
        stack.start("tracker")
        try:
            proc = stack.procs["tracker"]
            _wait_for_consumer(amqp, TRACKER_JOB_EVENTS.name, lambda: proc.poll() is None)
            return _timed_ingest(db, amqp, messages(sids), events)
        except BaseException:
            print(stack.log("tracker")[-3000:], file=sys.stderr)
            raise
        finally:
            stack.stop_all()


def baseline_side(events: int, messages: Callable[[list[int]], list[Message]]) -> dict[str, Any]:
    """Events/s through the bare pika + COPY consumer, its own process."""
    with _world(events) as (db, amqp, sids):
        connection = pika.BlockingConnection(pika.URLParameters(amqp))
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, "topic", durable=True)
        channel.queue_declare(BASELINE_QUEUE, durable=True)
        channel.queue_bind(BASELINE_QUEUE, EXCHANGE, KEY)
        connection.close()
        script = Path(__file__).with_name("ingest_baseline.py")
        proc = subprocess.Popen([sys.executable, str(script), amqp, db.url, BASELINE_QUEUE])
        try:
            _wait_for_consumer(amqp, BASELINE_QUEUE, lambda: proc.poll() is None)
            return _timed_ingest(db, amqp, messages(sids), events)
        finally:
            proc.terminate()
            proc.wait(30)


def tracker_ingest() -> dict[str, Any]:
    """Both sides on the same messages (the same submission ids in every fresh schema),
    in pairs; the figures of the median pair."""
    events = event_count()
    rounds = round_count()  # a bad setting stops the benchmark before any side runs
    cache: dict[tuple[int, ...], list[Message]] = {}

    def messages(sids: list[int]) -> list[Message]:
        key = tuple(sids)
        if key not in cache:
            if cache:
                raise RuntimeError("the two schemas gave different submission ids")
            cache[key] = _messages(sids, events)
        return cache[key]

    pairs = []
    for _ in range(rounds):
        baseline = baseline_side(events, messages)
        pairs.append((tracker_side(events, messages), baseline))
    tracker, baseline = pairs[median_pair(pairs)]
    return {
        "events": events,
        "value": tracker["rate"],
        "baseline": baseline["rate"],
        "publish_s": tracker["publish_s"],
        "cpu_s": round(tracker["cpu_s"], 2),
        "baseline_cpu_s": round(baseline["cpu_s"], 2),
        "baseline_publish_s": baseline["publish_s"],
        "ratios": [round(t["rate"] / b["rate"], 3) for t, b in pairs],
        "complete": all(t["complete"] and b["complete"] for t, b in pairs),
    }
