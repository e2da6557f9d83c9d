"""The demo campaign in distributed mode with its jobs run by a real (private) Slurm."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from test_distributed_demo import _all_located, stage_statuses, wait_until

from poms_shared.db.tables import File, Job, Submission
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.testing.slurm import SlurmCluster, SlurmUnavailable, slurm_cluster
from poms_shared.testing.stack import DistributedStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def slurm(tmp_path: Path) -> Iterator[SlurmCluster]:
    """A private single-node Slurm for this test."""
    try:
        with slurm_cluster(tmp_path / "slurm") as cluster:
            yield cluster
    except SlurmUnavailable as exc:
        pytest.skip(f"no Slurm here: {exc}")


def post(url: str) -> Any:
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_demo_campaign_completes_with_its_jobs_on_slurm(
    pg_database, private_amqp_url, tmp_path, slurm
):
    with pg_database.transaction() as session:
        load_samples(session)
    var_dir = tmp_path / "var"
    extra = {**slurm.env, "POMS_BATCH_BACKEND": "slurm", "POMS_BATCH_BACKENDS": "local,slurm"}
    stack = DistributedStack(pg_database.url, private_amqp_url, var_dir, extra_env=extra)
    stack.start_all()
    try:
        post(f"{stack.web_url}/api/v1/campaigns/{DEMO_CAMPAIGN}/launch")
        final = wait_until(lambda: _all_located(stage_statuses(stack)), timeout=180)
    except Exception:
        for name in ("launcher", "tracker"):
            print(f"---- {name} log ----\n{stack.log(name)[-3000:]}")
        print(slurm.log_tail())
        raise
    finally:
        stack.stop_all()
    assert final == {"generate": ["Located"], "simulate": ["Located"], "reconstruct": ["Located"]}
    with pg_database.transaction() as session:
        jobs = session.scalars(select(Job).where(Job.backend == "slurm")).all()
        # squeue names the cluster, the request and (once ended) the start and end times
        usage = {
            (j.site, j.wall_seconds is not None, j.memory_requested_mb is not None) for j in jobs
        }
    assert jobs and usage == {("poms-test", True, True)}
    with pg_database.transaction() as session:
        subs = session.scalars(select(Submission).order_by(Submission.submission_id)).all()
        assert [SubmissionStatus(s.status_id) for s in subs] == [SubmissionStatus.LOCATED] * 3
        assert {s.batch_backend for s in subs} == {"slurm"}
        outputs = session.scalar(select(func.count()).select_from(File))
        assert outputs == 18
    # the jobs really went through Slurm: one jobcomp line per array task
    assert len(slurm.jobcomp.read_text().splitlines()) == 3 + 3 + 2
