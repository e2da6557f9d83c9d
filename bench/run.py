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
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from launch_burst import launch_burst

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


def main() -> int:
    records = [
        emit("demo_campaign_wall_s", distributed_wall(), "s", mode="distributed"),
        emit("demo_campaign_wall_s_embedded", embedded_wall(), "s", mode="embedded"),
    ]
    burst = launch_burst()
    records += [
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
    RESULTS.write_text("".join(json.dumps(r) + "\n" for r in records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
