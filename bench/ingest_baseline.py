"""The baseline of ``tracker_ingest``: a bare pika consumer writing job rows with COPY.

Run as its own process (like the tracker) by ``tracker_ingest``::

    python bench/ingest_baseline.py AMQP_URL DATABASE_URL QUEUE

It reads ``JobEventsReported`` bodies from QUEUE in micro-batches cut like the tracker's
(at most ``MAX_BATCH`` messages, or ``MAX_WAIT`` s after the first), writes one ``jobs``
row per event with one ``COPY FROM STDIN`` per batch, commits, then acks the batch with one
``basic_ack(multiple=True)``. No validation, no de-duplication, no roll-up: the floor of
what RabbitMQ + PostgreSQL cost for these messages. Stops on SIGTERM.
"""

from __future__ import annotations

import io
import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pika
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from poms_shared.domain.statuses import JobState

MAX_BATCH = 500  # the tracker's subscribe_batch default (also its prefetch)
MAX_WAIT = 0.2
COLUMNS = "submission_id, backend, batch_job_id, state, last_seq, started_at, updated"
STATES = {s.name.lower(): int(s) for s in JobState}


def _text(value: Any) -> str:
    """One COPY text-format field."""
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def rows_tsv(bodies: list[bytes], now: str) -> tuple[io.StringIO, int]:
    """The jobs rows the events of ``bodies`` imply, as COPY text; and how many."""
    out = io.StringIO()
    count = 0
    for body in bodies:
        for event in json.loads(body)["payload"]["events"]:
            started = event["at"] if event["state"] == "running" else None
            fields = (
                event["submission_id"],
                event["backend"],
                event["batch_job_id"],
                STATES[event["state"]],
                event["seq"],
                started,
                now,
            )
            out.write("\t".join(_text(f) for f in fields))
            out.write("\n")
            count += 1
    out.seek(0)
    return out, count


def consume(amqp_url: str, database_url: str, queue: str, stop: threading.Event) -> int:
    """Consume until ``stop`` is set; returns how many rows were written."""
    engine = create_engine(database_url, poolclass=NullPool)
    raw = engine.raw_connection()
    pg: Any = raw.driver_connection
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=MAX_BATCH)
    pending: list[tuple[int, bytes]] = []
    deadline = 0.0
    written = 0
    try:
        for method, _props, body in channel.consume(queue, inactivity_timeout=MAX_WAIT):
            if method is not None:
                if not pending:
                    deadline = time.monotonic() + MAX_WAIT
                pending.append((method.delivery_tag, body))
            full = len(pending) >= MAX_BATCH or time.monotonic() >= deadline
            if pending and (method is None or full or stop.is_set()):
                data, count = rows_tsv([b for _, b in pending], datetime.now(UTC).isoformat())
                with pg.cursor() as cur:
                    cur.copy_expert(f"COPY jobs ({COLUMNS}) FROM STDIN", data)
                pg.commit()
                channel.basic_ack(pending[-1][0], multiple=True)
                written += count
                pending = []
            if stop.is_set():
                channel.cancel()
                break
    finally:
        connection.close()
        raw.close()
        engine.dispose()
    return written


def main(argv: list[str]) -> int:
    amqp_url, database_url, queue = argv
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    written = consume(amqp_url, database_url, queue, stop)
    print(f"baseline consumer wrote {written} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
