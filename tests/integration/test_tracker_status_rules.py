"""Per-stage Failed ratio, Located by time, LaunchFailed for submissions stuck in New, and
the tracker's event metrics, over SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from submission_fixtures import submission_state as submission

from poms_shared.broker.memory import InProcessBus
from poms_shared.broker.names import TRACKER_JOB_EVENTS
from poms_shared.contracts import Envelope, decode, new_envelope
from poms_shared.contracts.messages import (
    JobEvent,
    JobEventsReported,
    Message,
    SubmissionLocated,
    SubmissionStatusChanged,
)
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import OutboxMessage, Submission, SubmissionHistory
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus as S
from poms_shared.settings import load_settings
from poms_tracker import bootstrap, handlers
from poms_tracker.domain.launch_timeout import NewTimeouts

LIMITS = NewTimeouts(new_after=3600, launch_allowance=900)


def make_submission(db: Database, params: dict[str, Any] | None = None, **stage: Any) -> int:
    """A New submission of the demo 'simulate' stage, the stage changed as given."""
    with db.transaction() as session:
        load_samples(session)
        row = session.scalars(
            select(CampaignStage)
            .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
            .where(Campaign.name == DEMO_CAMPAIGN, CampaignStage.name == "simulate")
        ).one()
        for key, value in stage.items():
            setattr(row, key, value)
        sub = Submission(
            campaign_stage_id=row.campaign_stage_id,
            launcher="poms",
            status_id=int(S.NEW),
            submission_params=params or {},
        )
        session.add(sub)
        session.flush()
        record_status(session, sub, S.NEW, reason="test")
        return sub.submission_id


def deliver(db: Database, *messages: Message) -> list[Envelope]:
    envelopes = [new_envelope(m) for m in messages]
    bootstrap.batch_handler(db, handlers.build_registry(), lambda: None)(envelopes)
    return envelopes


def jobs(sid: int, *states: str, at: datetime | None = None) -> JobEventsReported:
    when = at or datetime.now(UTC)
    return JobEventsReported(
        events=[
            JobEvent(
                source="t",
                backend="local",
                batch_job_id=f"{sid}.{n}@local",
                submission_id=sid,
                state=state,  # type: ignore[arg-type]
                seq=1,
                at=when,
            )
            for n, state in enumerate(states)
        ]
    )


def emitted(db: Database, sid: int) -> list[Message]:
    with db.transaction() as session:
        bodies = session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.outbox_id))
        payloads = [decode(b).payload for b in bodies]
    return [p for p in payloads if getattr(p, "submission_id", None) == sid]


def backdate(db: Database, sid: int, status: S, hours: float) -> None:
    """Pretend the submission reached ``status`` (and was created) ``hours`` ago."""
    when = datetime.now(UTC) - timedelta(hours=hours)
    with db.transaction() as session:
        session.execute(
            update(SubmissionHistory)
            .where(SubmissionHistory.submission_id == sid, SubmissionHistory.status_id == status)
            .values(created=when)
        )
        session.execute(
            update(Submission).where(Submission.submission_id == sid).values(created=when)
        )


# ---- Failed ratio --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "states", "expected"),
    [
        (None, ["completed"] * 3 + ["failed"] * 2, S.FAILED),
        (1.0, ["completed"] * 3 + ["failed"] * 2, S.COMPLETED),
        (0.0, ["completed"] * 9 + ["failed"], S.FAILED),
        (0.0, ["completed"] * 3, S.COMPLETED),
    ],
)
def test_the_stage_failed_ratio_decides_failed_or_completed(
    database: Database, ratio: float | None, states: list[str], expected: S
) -> None:
    sid = make_submission(database, failed_ratio=ratio)
    deliver(database, jobs(sid, *states))
    assert submission(database, sid)[0] == expected


# ---- Located by time -----------------------------------------------------------------------


def sweep(db: Database) -> None:
    with db.transaction() as session:
        handlers.sweep_completed(UnitOfWork(session))


def test_a_completed_submission_is_located_once_the_stage_time_limit_has_passed(
    database: Database,
) -> None:
    sid = make_submission(database, located_after_hours=2.0)
    deliver(database, jobs(sid, "completed", "completed"))
    backdate(database, sid, S.COMPLETED, hours=1)
    sweep(database)
    status, params, _ = submission(database, sid)
    assert status == S.COMPLETED
    assert params["completion_why"].endswith("; or by time after 2 h Completed (1.0 h)")

    backdate(database, sid, S.COMPLETED, hours=3)
    sweep(database)
    status, params, reasons = submission(database, sid)
    assert status == S.LOCATED
    assert reasons[-1].startswith("located by time: Completed for 3.0 h, the stage allows 2 h; ")
    assert params["completion_why"] == reasons[-1]
    assert any(isinstance(m, SubmissionLocated) for m in emitted(database, sid))


def test_without_a_time_limit_a_completed_submission_waits_for_its_outputs(
    database: Database,
) -> None:
    sid = make_submission(database)
    deliver(database, jobs(sid, "completed", "completed"))
    backdate(database, sid, S.COMPLETED, hours=24 * 30)
    sweep(database)
    status, params, _ = submission(database, sid)
    assert status == S.COMPLETED
    assert "by time" not in params["completion_why"]


# ---- New timeout ---------------------------------------------------------------------------


def fail_stale(db: Database) -> int:
    with db.transaction() as session:
        return handlers.fail_stale_new(UnitOfWork(session), LIMITS)


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


@pytest.mark.parametrize(
    ("age_h", "params", "expected", "reason_ends"),
    [
        (2, {}, S.LAUNCH_FAILED, "no launch was started"),
        (0.5, {}, S.NEW, None),
        (2, {"commands_only": True}, S.NEW, None),
        (2, {"launch_started": 60}, S.NEW, None),
        (2, {"launch_started": 3600}, S.LAUNCH_FAILED, "ago and never finished"),
        (2, {"launch_started": 7000, "launch_finished": 6000}, S.LAUNCH_FAILED, "job"),
    ],
)
def test_a_submission_stuck_in_new_becomes_launch_failed_with_a_reason(
    database: Database,
    age_h: float,
    params: dict[str, Any],
    expected: S,
    reason_ends: str | None,
) -> None:
    # times are seconds before now, made when the test runs (not when it is collected)
    params = {k: ago(v) if type(v) is int else v for k, v in params.items()}
    sid = make_submission(database, params)
    backdate(database, sid, S.NEW, hours=age_h)
    assert fail_stale(database) == (1 if expected == S.LAUNCH_FAILED else 0)
    status, _, reasons = submission(database, sid)
    assert status == expected
    changes = [m for m in emitted(database, sid) if isinstance(m, SubmissionStatusChanged)]
    if reason_ends is None:
        assert changes == []
        return
    assert reasons[-1].startswith("still New 2 h after creation (limit 1 h): ")
    assert reasons[-1].endswith(reason_ends)
    [change] = changes
    assert (change.old_status, change.new_status) == ("New", "LaunchFailed")
    assert fail_stale(database) == 0  # already LaunchFailed: nothing more to do


def test_a_late_job_brings_a_launch_failed_submission_back(database: Database) -> None:
    sid = make_submission(database)
    backdate(database, sid, S.NEW, hours=2)
    fail_stale(database)
    deliver(database, jobs(sid, "running"))
    assert submission(database, sid)[0] == S.RUNNING


def test_the_tracker_runs_the_new_timeout_check_with_the_configured_limit(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POMS_NEW_TIMEOUT", "600")
    sid = make_submission(database)
    backdate(database, sid, S.NEW, hours=0.25)  # 15 min: over 10 min, under the default 1 h
    settings = load_settings(var_dir=tmp_path, batch_backends=("local",))
    service = bootstrap.build(settings, database, InProcessBus())
    [loop] = [loop for loop in service.loops if loop.name == "new-timeout"]
    loop.run_once()
    assert submission(database, sid)[0] == S.LAUNCH_FAILED


def test_the_tracker_handles_as_many_job_event_batches_at_once_as_configured(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(var_dir=tmp_path, batch_backends=("local",))
    [default] = bootstrap.build(settings, database, InProcessBus()).batch_subscriptions
    monkeypatch.setenv("POMS_INGEST_WORKERS", "3")
    [three] = bootstrap.build(settings, database, InProcessBus()).batch_subscriptions
    assert (default.workers, three.workers) == (1, 3)
    assert default.queue == three.queue == TRACKER_JOB_EVENTS


@pytest.mark.parametrize("value", ["0", "9", "two", "-1", "1.5"])
def test_a_bad_ingest_workers_setting_stops_the_tracker_naming_it(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("POMS_INGEST_WORKERS", value)
    settings = load_settings(var_dir=tmp_path, batch_backends=("local",))
    with pytest.raises(ValueError, match=f"POMS_INGEST_WORKERS must be .* 1 to 8, not {value!r}"):
        bootstrap.build(settings, database, InProcessBus())


# ---- metrics -------------------------------------------------------------------------------


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_ingested_job_events_are_counted_by_state_and_their_lag_observed(
    database: Database,
) -> None:
    sid = make_submission(database)
    lag_count = sample("poms_tracker_event_lag_seconds_count")
    late = sample("poms_tracker_event_lag_seconds_bucket", {"le": "60.0"})
    over_a_minute = sample("poms_tracker_event_lag_seconds_bucket", {"le": "+Inf"})
    held = sample("poms_tracker_events_ingested_total", {"kind": "held"})
    deliver(database, jobs(sid, "held", "held", at=datetime.now(UTC) - timedelta(minutes=5)))
    assert sample("poms_tracker_event_lag_seconds_count") == lag_count + 2
    assert sample("poms_tracker_event_lag_seconds_bucket", {"le": "60.0"}) == late
    assert sample("poms_tracker_event_lag_seconds_bucket", {"le": "+Inf"}) == over_a_minute + 2
    assert sample("poms_tracker_events_ingested_total", {"kind": "held"}) == held + 2
