"""The demo campaign in distributed mode: four processes, real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from sqlalchemy import func, select
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from poms_shared.db.tables import Dataset, DatasetFile, File, Job, Submission
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.testing.stack import DistributedStack

pytestmark = pytest.mark.e2e


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def post(url: str) -> Any:
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


class NotYet(Exception):
    pass


def wait_until(check, timeout: float) -> Any:
    """Poll ``check`` until it returns a truthy value."""

    @retry(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.5),
        reraise=True,
        retry=retry_if_exception_type(NotYet),
    )
    def attempt() -> Any:
        value = check()
        if not value:
            raise NotYet
        return value

    return attempt()


def stage_statuses(stack: DistributedStack) -> dict[str, list[str]]:
    detail = get(f"{stack.web_url}/api/v1/campaigns/{DEMO_CAMPAIGN}")
    return {s["name"]: [x["status"] for x in s["submissions"]] for s in detail["stages_detail"]}


def test_demo_campaign_completes_and_a_tracker_restart_loses_nothing(
    pg_database, private_amqp_url, tmp_path
):
    with pg_database.transaction() as session:
        load_samples(session)
    stack = DistributedStack(pg_database.url, private_amqp_url, tmp_path)
    stack.start_all()
    try:
        launched = post(f"{stack.web_url}/api/v1/campaigns/{DEMO_CAMPAIGN}/launch")
        assert launched["leading_stage"] == "generate"
        wait_until(lambda: stage_statuses(stack)["generate"], timeout=60)
        # Stop the tracker while the first stage's jobs run: their states wait in the
        # batch spool and the launcher's events wait in RabbitMQ.
        stack.stop("tracker")
        wait_until(lambda: _jobs_finished_in_spool(tmp_path), timeout=60)
        stack.start("tracker")
        final = wait_until(lambda: _all_located(stage_statuses(stack)), timeout=180)
        # the last Located is visible in the database a moment before the campaign
        # manager has consumed its event (which ends the campaign)
        wait_until(
            lambda: (
                _metric(
                    stack.metrics("campaign-manager"),
                    "poms_messages_consumed_total",
                    type="SubmissionLocated",
                )
                >= 3
            ),
            timeout=30,
        )
        exposition = {name: stack.metrics(name) for name in stack.procs}
    except Exception:
        for name in ("campaign-manager", "launcher", "tracker", "web"):
            print(f"---- {name} log ----\n{stack.log(name)[-3000:]}")
        raise
    finally:
        stack.stop_all()
    assert final == {"generate": ["Located"], "simulate": ["Located"], "reconstruct": ["Located"]}
    _assert_counts_add_up(pg_database)
    _assert_metrics(exposition)


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _assert_metrics(exposition: dict[str, str]) -> None:
    cm, launcher, tracker = (exposition[n] for n in ("campaign-manager", "launcher", "tracker"))
    assert _metric(cm, "poms_messages_consumed_total", type="LaunchCampaign") == 1
    assert _metric(cm, "poms_messages_consumed_total", type="SubmissionLocated") == 3
    assert _metric(cm, "poms_messages_published_total", routing_key="command.LaunchSubmission") == 3
    assert _metric(launcher, "poms_launches_total", outcome="launched") == 3
    assert _metric(launcher, "poms_handler_seconds_count", type="LaunchSubmission") == 3
    assert (
        _metric(tracker, "poms_messages_published_total", routing_key="event.SubmissionLocated")
        >= 1
    )  # the restarted tracker's share
    for text in exposition.values():
        assert "poms_messages_dead_lettered_total" in text


def _all_located(statuses: dict[str, list[str]]) -> dict[str, list[str]] | None:
    return statuses if all(v == ["Located"] for v in statuses.values()) else None


def _jobs_finished_in_spool(var_dir) -> bool:
    events = list((var_dir / "batch" / "local" / "jobs").glob("*/events.jsonl"))
    return bool(events) and all('"completed"' in p.read_text() for p in events)


def _assert_counts_add_up(db) -> None:
    with db.transaction() as session:
        subs = session.scalars(select(Submission).order_by(Submission.submission_id)).all()
        assert [SubmissionStatus(s.status_id) for s in subs] == [SubmissionStatus.LOCATED] * 3
        outputs = dict(
            session.execute(
                select(File.producing_submission_id, func.count()).group_by(
                    File.producing_submission_id
                )
            ).all()
        )
        # generate: 3 jobs × 2 files; simulate and reconstruct: one output per input
        assert [outputs[s.submission_id] for s in subs] == [6, 6, 6]
        jobs = session.scalar(select(func.count()).select_from(Job))
        assert jobs == 3 + 3 + 2
        sizes = dict(
            session.execute(
                select(Dataset.name, func.count(DatasetFile.file_id))
                .join(DatasetFile)
                .group_by(Dataset.name)
            ).all()
        )
        first, second = subs[0].submission_id, subs[1].submission_id
        assert sizes == {f"poms_depends_{first}_1": 6, f"poms_depends_{second}_1": 6}
        assert subs[1].submission_params["dataset"] == f"poms_depends_{first}_1"
