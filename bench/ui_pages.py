"""``ui_*_p95_ms``: server-rendered pages over a large history (target under 300 ms each).

A fresh PostgreSQL schema gets the demo samples and ``ui_seed``'s history (10^5
submissions, 10^6 jobs), then VACUUM (ANALYZE). ``poms-web`` runs as its own process (a
fresh RabbitMQ vhost for its outbox relay) with the development login, and each page is
asked for ``WARMUP`` times, then ``POMS_BENCH_UI_REQUESTS`` times (default 60) one after
the other; the figure is the 95th percentile of the time from sending the request to the
last byte of the answer, in milliseconds:

- ``ui_campaigns_p95_ms``: ``GET /campaigns`` with its default filters (first page);
- ``ui_stage_p95_ms``: ``GET /stages/<id>`` of the demo generate stage (3 × 10^4
  submissions);
- ``ui_submission_p95_ms``: ``GET /submissions/<id>`` of the submission with 10^4 jobs.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import text
from ui_seed import Seeded, seed

from poms_shared.db import models, tables  # noqa: F401  (every table in the metadata)
from poms_shared.db.base import Base
from poms_shared.db.session import Database
from poms_shared.demo.load import load_samples
from poms_shared.testing.db import postgres_database
from poms_shared.testing.rabbit import rabbit_vhost
from poms_shared.testing.stack import DistributedStack

REQUESTS_ENV = "POMS_BENCH_UI_REQUESTS"
WARMUP = 5
TIMEOUT = 30.0  # one request


def _percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _get(url: str) -> float:
    """Seconds to fetch one page completely; it must answer 200 with HTML."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
        body = resp.read()
        kind = resp.headers.get("Content-Type", "")
    elapsed = time.perf_counter() - started
    if resp.status != 200 or not kind.startswith("text/html") or b"</html>" not in body:
        raise RuntimeError(f"{url} answered {resp.status} {kind}, {len(body)} bytes")
    return elapsed


def measure(url: str, requests: int) -> dict[str, Any]:
    """p95 and p50 in ms over ``requests`` sequential fetches after ``WARMUP`` unmeasured."""
    for _ in range(WARMUP):
        _get(url)
    times = [_get(url) * 1000 for _ in range(requests)]
    return {"p95": _percentile(times, 95), "p50": _percentile(times, 50), "count": len(times)}


def _seed(db: Database) -> Seeded:
    """The demo samples and the large history, committed and analyzed."""
    started = time.perf_counter()
    with db.transaction() as session:
        load_samples(session)
        seeded = seed(session)
    # Only this schema's tables (a bare VACUUM would visit every schema of the database);
    # vacuumed as autovacuum would leave them, so it does not start during the requests.
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {names}"))
    print(f"seeded and vacuumed in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return seeded


def ui_pages() -> dict[str, Any]:
    """Each page's figures by path kind (campaigns, stage, submission), and the row counts."""
    requests = int(os.environ.get(REQUESTS_ENV, "").strip() or 60)
    with postgres_database() as db, rabbit_vhost() as amqp, tempfile.TemporaryDirectory() as tmp:
        seeded = _seed(db)
        stack = DistributedStack(db.url, amqp, Path(tmp))
        stack.start("web")
        try:
            stack.wait_for_web()
            paths = {
                "campaigns": "/campaigns",
                "stage": f"/stages/{seeded.stage_id}",
                "submission": f"/submissions/{seeded.submission_id}",
            }
            got: dict[str, Any] = {
                kind: {**measure(stack.web_url + path, requests), "path": path}
                for kind, path in paths.items()
            }
        except BaseException:
            print(stack.log("web")[-3000:], file=sys.stderr)
            raise
        finally:
            stack.stop_all()
    return {**got, "submissions": seeded.submissions, "jobs": seeded.jobs}
