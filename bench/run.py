"""``make bench``: one JSON object per line on stdout, also written to bench/results.jsonl.

Figures:
- ``demo_campaign_wall_s``: the demo campaign in distributed mode (four processes,
  RabbitMQ, PostgreSQL), from the launch request to every stage Located.
- ``demo_campaign_wall_s_embedded``: the same campaign with ``poms-run`` in the embedded mode,
  including process start-up and migrations, for comparison.
- ``launch_burst``: 200 launches whose launch script takes 1 s, from the first request to
  every SubmissionLaunched; ``baseline`` = 200 / ``POMS_LAUNCH_CONCURRENCY`` (4), ``ratio``
  = value / baseline (target at most 1.2).
- ``launch_burst_max_consume_gap_s``: the longest a no-op JobControl, published every 0.1 s
  during the burst, waited to be handled by the launcher.
- ``tracker_ingest``: job events/s through ``poms-tracker`` over RabbitMQ and PostgreSQL
  (``POMS_BENCH_INGEST_EVENTS``, default 200 000, in messages of 100); ``baseline`` = a bare
  pika consumer writing the same job rows with COPY, same run, same messages; ``ratio`` =
  value / baseline (target at least 0.8); ``cpu_s`` / ``baseline_cpu_s``: the machine's busy
  CPU seconds during each side. Pairs of the two sides run ``POMS_BENCH_INGEST_ROUNDS``
  times (default 3); the figures are the median pair's, ``ratios`` every pair's.
  ``tracker_ingest_events``: the event count.
- ``located_to_dependent_launch_p95``: seconds from the locating event (declared output of
  a Completed submission, through the REST API) to the dependent stage's submission being
  created and queued for launch, four service processes; also p50 and the count (target
  under 1 s).
- ``ui_campaigns_p95_ms``, ``ui_stage_p95_ms``, ``ui_submission_p95_ms``: milliseconds to
  serve the campaigns page, the stage page of a stage with 3 × 10^4 submissions and the
  submission page of a submission with 10^4 jobs, ``poms-web`` as its own process over
  PostgreSQL holding 10^5 submissions and 10^6 jobs (``bench/ui_seed.py``); 95th
  percentile of ``POMS_BENCH_UI_REQUESTS`` (default 60) sequential requests after a
  warm-up; also p50 and the count (target under 300 ms each).

``bench/run.py NAME ...`` runs only the benchmarks that print those names, and replaces only
their lines in bench/results.jsonl.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dependent_launch import dependent_launch
from launch_burst import launch_burst
from quiet import settle
from tracker_ingest import event_count, round_count, tracker_ingest
from ui_pages import ui_pages

from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.demo.load import load_samples
from poms_shared.testing.db import postgres_database
from poms_shared.testing.rabbit import rabbit_vhost
from poms_shared.testing.stack import DistributedStack, free_port

RESULTS = Path(__file__).with_name("results.jsonl")
TIMEOUT = 300.0


def call(url: str, method: str = "GET") -> Any:
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def wait_done(web_url: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if call(f"{web_url}/api/v1/campaigns/{DEMO_CAMPAIGN}")["state"] == "done":
            return
        time.sleep(0.1)
    raise TimeoutError(f"demo campaign not done within {TIMEOUT:.0f}s")


def distributed_wall() -> float:
    """Launch → all Located, four service processes on a private schema and vhost."""
    with postgres_database() as db, rabbit_vhost() as amqp, tempfile.TemporaryDirectory() as tmp:
        with db.transaction() as session:
            load_samples(session)
        stack = DistributedStack(db.url, amqp, Path(tmp))
        stack.start_all()
        try:
            started = time.perf_counter()
            call(f"{stack.web_url}/api/v1/campaigns/{DEMO_CAMPAIGN}/launch", "POST")
            wait_done(stack.web_url)
            return time.perf_counter() - started
        finally:
            stack.stop_all()


def embedded_wall() -> float:
    """The same with ``poms-run`` (one process, SQLite, in-process bus)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "POMS_VAR_DIR": tmp,
            "POMS_WEB_PORT": str(free_port()),
            "POMS_MODE": "embedded",
        }
        exe = Path(sys.executable).parent / "poms-run"
        started = time.perf_counter()
        subprocess.run(
            [str(exe), "--exit-when-done"],
            env=env,
            check=True,
            timeout=TIMEOUT,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def emit(name: str, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    record = {"name": name, "value": round(value, 3), "unit": unit, **extra}
    print(json.dumps(record), flush=True)
    return record


def demo_campaign() -> list[dict[str, Any]]:
    return [emit("demo_campaign_wall_s", distributed_wall(), "s", mode="distributed")]


def demo_campaign_embedded() -> list[dict[str, Any]]:
    return [emit("demo_campaign_wall_s_embedded", embedded_wall(), "s", mode="embedded")]


def burst() -> list[dict[str, Any]]:
    burst = launch_burst()
    return [
        emit(
            "launch_burst",
            burst["wall"],
            "s",
            baseline=burst["baseline"],
            ratio=round(burst["wall"] / burst["baseline"], 3),
            concurrency=burst["concurrency"],
        ),
        emit("launch_burst_max_consume_gap_s", burst["max_gap"], "s", probes=burst["probes"]),
    ]


def ingest() -> list[dict[str, Any]]:
    got = tracker_ingest()
    return [
        emit(
            "tracker_ingest",
            got["value"],
            "events/s",
            baseline=round(got["baseline"], 3),
            ratio=round(got["value"] / got["baseline"], 3),
            publish_s=round(got["publish_s"], 3),
            baseline_publish_s=round(got["baseline_publish_s"], 3),
            cpu_s=got["cpu_s"],
            baseline_cpu_s=got["baseline_cpu_s"],
            ratios=got["ratios"],
            complete=got["complete"],
        ),
        emit("tracker_ingest_events", got["events"], "events"),
    ]


def dependents() -> list[dict[str, Any]]:
    got = dependent_launch()
    return [
        emit(
            "located_to_dependent_launch_p95",
            got["p95"],
            "s",
            p50=round(got["p50"], 3),
            max=round(got["max"], 3),
            count=got["count"],
            interval_s=got["interval"],
        )
    ]


def pages() -> list[dict[str, Any]]:
    got = ui_pages()
    return [
        emit(
            f"ui_{kind}_p95_ms",
            got[kind]["p95"],
            "ms",
            p50=round(got[kind]["p50"], 3),
            requests=got[kind]["count"],
            path=got[kind]["path"],
            submissions=got["submissions"],
            jobs=got["jobs"],
        )
        for kind in ("campaigns", "stage", "submission")
    ]


# Each benchmark with the names of the figures it prints, in the order they run.
BENCHMARKS: list[tuple[tuple[str, ...], Callable[[], list[dict[str, Any]]]]] = [
    (("demo_campaign_wall_s",), demo_campaign),
    (("demo_campaign_wall_s_embedded",), demo_campaign_embedded),
    (("launch_burst", "launch_burst_max_consume_gap_s"), burst),
    (("tracker_ingest", "tracker_ingest_events"), ingest),
    (("located_to_dependent_launch_p95",), dependents),
    (("ui_campaigns_p95_ms", "ui_stage_p95_ms", "ui_submission_p95_ms"), pages),
]


def main(argv: list[str] | None = None) -> int:
    wanted = set(sys.argv[1:] if argv is None else argv)
    known = {name for names, _ in BENCHMARKS for name in names}
    if unknown := wanted - known:
        print(
            f"unknown: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}",
            file=sys.stderr,
        )
        return 2
    try:  # settings read by the benchmarks, checked before the first one runs
        event_count()
        round_count()
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    records: list[dict[str, Any]] = []
    for names, run in BENCHMARKS:
        if not wanted or wanted & set(names):
            settle()  # not timed; what the one before wrote is flushed before this one
            records += run()
    write_results(records, partial=bool(wanted))
    return 0


def write_results(records: list[dict[str, Any]], partial: bool) -> None:
    """A full run replaces the file; a selective one replaces only the figures it measured."""
    if partial and RESULTS.exists():
        fresh = {r["name"] for r in records}
        kept = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
        records = [r for r in kept if r.get("name") not in fresh] + records
    RESULTS.write_text("".join(json.dumps(r) + "\n" for r in records))


if __name__ == "__main__":
    raise SystemExit(main())
