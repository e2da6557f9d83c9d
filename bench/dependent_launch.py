"""``located_to_dependent_launch``: from the event that locates a submission to its dependent.

The four services run as processes over a fresh PostgreSQL schema and RabbitMQ vhost with
a two-stage campaign: ``downstream`` depends on ``upstream`` through ``%.root``. The
upstream stage completes when Located (100 % of its jobs have a located ``.root`` output).

1. ``POMS_BENCH_DEPENDENT_SUBMISSIONS`` (default 60) New upstream submissions are inserted
   directly (no launch: nothing runs for them).
2. One job per submission is reported ``completed`` through ``POST /api/v1/job-events``;
   the tracker makes each Completed (no outputs yet, so not Located).
3. Every ``POMS_BENCH_DEPENDENT_INTERVAL`` s (default 0.5) one upstream's output is declared
   through ``POST /api/v1/files``: the locating event. The clock starts before the POST.
   Web → outbox → tracker (Completed → Located) → outbox → campaign manager (dataset
   ``poms_depends_<sid>_1``, the dependent submission, ``LaunchSubmission``).
4. The latency of each is the dependent submission's ``created`` (written by the campaign
   manager in the transaction that also queues its ``LaunchSubmission``) minus that start.

The downstream stage is a regular stage whose launch is ``poms-local-submit -- true``: the
measured path is the real dependent launch (not an approval stage's park), and the
launcher's work that follows each launch loads the machine as it would in production,
while staying cheap.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.testing.stack import DistributedStack, campaign_stack
from poms_shared.testing.submissions import add_submissions

COUNT_ENV = "POMS_BENCH_DEPENDENT_SUBMISSIONS"
INTERVAL_ENV = "POMS_BENCH_DEPENDENT_INTERVAL"
CAMPAIGN = "bench_dependents"
TIMEOUT = 120.0

CAMPAIGN_INI = f"""
[campaign]
name={CAMPAIGN}
campaign_stage_list=upstream,downstream

[campaign_defaults]
software_version=v1_0
completion_type=located
completion_pct=100
login_setup=demo_local
job_type=bench_cheap

[campaign_stage upstream]

[campaign_stage downstream]
completion_type=complete

[job_type bench_cheap]
launch_script=poms-local-submit -- true
parameters=[]
output_file_patterns=%.root
recoveries = []

[dependencies downstream]
campaign_stage_1 = upstream
file_pattern_1 = %.root
"""


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _stage_ids(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        rows = session.execute(
            select(CampaignStage.name, CampaignStage.campaign_stage_id).where(
                CampaignStage.campaign.has(name=CAMPAIGN)
            )
        )
        return {name: sid for name, sid in rows}


def _upstream_submissions(db: Database, stage_id: int, count: int) -> list[int]:
    with db.transaction() as session:
        return add_submissions(session, stage_id, count, dataset=None)


def _wait(what: str, check: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f}s")
        time.sleep(0.2)


def _count(db: Database, stage_id: int, status: SubmissionStatus | None = None) -> int:
    query = select(func.count()).where(Submission.campaign_stage_id == stage_id)
    if status is not None:
        query = query.where(Submission.status_id == int(status))
    with db.transaction() as session:
        return session.scalar(query) or 0


def _complete_jobs(stack: DistributedStack, sids: list[int]) -> None:
    at = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    events = [
        {
            "source": "bench",
            "backend": "local",
            "batch_job_id": f"bench-dep-{sid}.0@local",
            "submission_id": sid,
            "state": "completed",
            "exit_code": 0,
            "seq": 1,
            "at": at,
        }
        for sid in sids
    ]
    _post(f"{stack.web_url}/api/v1/job-events", {"events": events})


def _launched(db: Database, stage_id: int) -> int:
    query = select(func.count()).where(
        Submission.campaign_stage_id == stage_id, Submission.batch_id.is_not(None)
    )
    with db.transaction() as session:
        return session.scalar(query) or 0


def _locate(stack: DistributedStack, sid: int) -> None:
    output = {
        "name": f"bench_up_{sid}.root",
        "location": f"/bench/data/bench_up_{sid}.root",
        "parents": [],
        "software_version": "v1_0",
    }
    body = {"experiment": "demo", "submission_id": sid, "files": [output], "inputs": []}
    _post(f"{stack.web_url}/api/v1/files", body)


def _dependents_created(db: Database, stage_id: int) -> dict[int, float]:
    """Parent submission id → the dependent's ``created`` as a Unix time."""
    with db.transaction() as session:
        rows = session.scalars(select(Submission).where(Submission.campaign_stage_id == stage_id))
        return {int(s.submission_params["parent"]): s.created.timestamp() for s in rows}


def _percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def dependent_launch() -> dict[str, Any]:
    """Latencies (s) from each locating event to its dependent submission's creation."""
    count = int(os.environ.get(COUNT_ENV, "").strip() or 60)
    interval = float(os.environ.get(INTERVAL_ENV, "").strip() or 0.5)
    with tempfile.TemporaryDirectory() as tmp, campaign_stack(Path(tmp), CAMPAIGN_INI) as stack:
        db = Database(stack.env["POMS_DATABASE_URL"])
        try:
            stages = _stage_ids(db)
            up, down = stages["upstream"], stages["downstream"]
            sids = _upstream_submissions(db, up, count)
            _complete_jobs(stack, sids)
            _wait(
                "upstream submissions not all Completed",
                lambda: _count(db, up, SubmissionStatus.COMPLETED) == count,
            )
            sent: dict[int, float] = {}
            for sid in sids:
                sent[sid] = time.time()
                _locate(stack, sid)
                time.sleep(max(0.0, sent[sid] + interval - time.time()))
            _wait("dependent submissions not all created", lambda: _count(db, down) == count)
            created = _dependents_created(db, down)
            # Not timed: check that the dependents really were launched (got a batch id).
            _wait("dependent submissions not all launched", lambda: _launched(db, down) == count)
        finally:
            db.dispose()
    latencies = [created[sid] - sent[sid] for sid in sids]
    return {
        "count": len(latencies),
        "p50": _percentile(latencies, 50),
        "p95": _percentile(latencies, 95),
        "max": max(latencies),
        "interval": interval,
    }
