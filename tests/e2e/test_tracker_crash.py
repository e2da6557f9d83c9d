"""The tracker under a crash and under bad input, on four service processes over RabbitMQ
and PostgreSQL.

* A stream of ~20 000 job events (idle → running → completed/failed, with duplicates, stale
  and reordered observations, and re-published messages) goes straight to the tracker's
  durable queue; the tracker is SIGKILLed while it consumes and then restarted. Every job
  must end exactly once in its final state, every status transition be recorded and
  announced once, and every message be in the inbox once.
* Events for an unknown submission and malformed bodies are dead-lettered with the reason
  in ``x-poms-reason``; impossible transitions are ignored by the guards; good events
  published after them are still applied. Over REST the same bad reports get a 400.

Expectations are computed from the generated events, never read back from the database.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pika
import pytest
from sqlalchemy import select, text

from poms_shared.broker.names import TRACKER_JOB_EVENTS, routing_key
from poms_shared.broker.rabbit import RabbitBus
from poms_shared.contracts import encode, new_envelope
from poms_shared.contracts.messages import JobEvent, JobEventsReported
from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import InboxMessage, Job, OutboxMessage, Submission, SubmissionHistory
from poms_shared.domain.statuses import JobState
from poms_shared.domain.statuses import SubmissionStatus as S
from poms_shared.testing.db import DatabaseUnavailable
from poms_shared.testing.http import call, wait_until
from poms_shared.testing.stack import DistributedStack, campaign_stack

pytestmark = pytest.mark.e2e

CRASH_INI = """
[campaign]
name=crashing

[campaign_defaults]
software_version=v1_0
completion_type=complete
login_setup=demo_local
job_type=plain_job

[campaign_stage ingest]
param_overrides=[]

[job_type plain_job]
launch_script=true
parameters=[]
output_file_patterns=%
recoveries=[]
"""

BACKEND = "crashtest"  # no batch backend of the stack polls or reconciles these jobs
ROUTING_KEY = routing_key("event", "JobEventsReported")
TRACKER = "tracker"  # the tracker's inbox consumer name
SUBMISSIONS = 20
JOBS = 300  # per submission: 6000 jobs, ~20 000 events
EVENTS_PER_MESSAGE = 100
REPUBLISHED = 12  # messages published twice (a publisher retrying after a lost confirm)
PACE = 0.03  # seconds between publishes: the stream lasts ~6 s, the tracker eats it live
UNKNOWN_SID = 987_654_321


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedStack]:
    try:
        with campaign_stack(tmp_path_factory.mktemp("var"), CRASH_INI) as running:
            yield running
    except DatabaseUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture(scope="module")
def db(stack: DistributedStack) -> Iterator[Database]:
    database = Database(stack.env["POMS_DATABASE_URL"])
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def bus(stack: DistributedStack) -> Iterator[RabbitBus]:
    """A publisher on the stack's vhost, as the services publish (confirmed, persistent)."""
    publisher = RabbitBus(stack.env["POMS_AMQP_URL"], "crash-test")
    publisher.declare()
    yield publisher
    publisher.stop()


# ---- the generated stream -----------------------------------------------------------


Final = tuple[int, str, int, int | None]  # submission id, state, last seq, exit code


def last_observations(events: Iterator[JobEvent] | list[JobEvent]) -> dict[str, Final]:
    """Each job's observation with the highest seq: what the tracker must keep, since a
    job's end always carries its highest seq in these streams."""
    last: dict[str, JobEvent] = {}
    for event in events:
        seen = last.get(event.batch_job_id)
        if seen is None or event.seq > seen.seq:
            last[event.batch_job_id] = event
    return {key: (e.submission_id, e.state, e.seq, e.exit_code) for key, e in last.items()}


@dataclass
class Stream:
    """Messages in publish order (re-published ones twice) and what they must lead to."""

    deliveries: list[tuple[str, bytes]] = field(default_factory=list)
    events: dict[str, list[JobEvent]] = field(default_factory=dict)  # by message id
    final: dict[str, Final] = field(default_factory=dict)
    statuses: dict[int, S] = field(default_factory=dict)

    @property
    def message_ids(self) -> set[str]:
        return {mid for mid, _ in self.deliveries}


def job_event(sid: int, n: int, state: str, seq: int, exit_code: int | None = None) -> JobEvent:
    return JobEvent(
        source="crash-test",
        backend=BACKEND,
        batch_job_id=f"{sid}.{n}@{BACKEND}",
        submission_id=sid,
        state=state,  # type: ignore[arg-type]
        seq=seq,
        at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=seq),
        exit_code=exit_code,
    )


def job_story(sid: int, n: int, kind: str, rng: random.Random) -> list[list[JobEvent]]:
    """One job's observations for each phase: seen idle, seen running, (mostly) ended.

    kind ``located``: the job completes; ``failed``: two jobs in three fail; ``running``:
    one job in ten never ends. Duplicates and stale observations (lower seq) ride along,
    and a late running heartbeat of some jobs lands before or after their end.
    """
    base = rng.randrange(1, 10_000) * 10
    idle = job_event(sid, n, "idle", base)
    running = job_event(sid, n, "running", base + 3)
    phases: list[list[JobEvent]] = [[idle], [running], []]
    if rng.random() < 0.05:
        phases[0].append(idle)  # duplicate
    if rng.random() < 0.05:
        phases[1].append(idle)  # stale
    if rng.random() < 0.1:
        phases[2].append(job_event(sid, n, "running", base + 5))  # heartbeat
    end = None
    if kind == "failed" and n % 3:
        end = job_event(sid, n, "failed", base + 7, exit_code=1)
    elif kind != "running" or n % 10:
        end = job_event(sid, n, "completed", base + 7, exit_code=0)
    if end is not None:
        phases[2].append(end)
        if rng.random() < 0.05:
            phases[2].append(end)  # duplicate of the end
        if rng.random() < 0.05:
            phases[2].append(running)  # stale running after the end
    return phases


def make_stream(kinds: dict[int, str], rng: random.Random) -> Stream:
    """Every job seen idle, then every job running, then (most) jobs ending: each phase in
    messages of its own, so every submission's status history is known in advance."""
    phases: list[list[JobEvent]] = [[], [], []]
    for sid, kind in kinds.items():
        for n in range(JOBS):
            for phase, events in zip(phases, job_story(sid, n, kind, rng), strict=True):
                phase.extend(events)
    stream = Stream()
    messages: list[tuple[str, bytes]] = []
    for phase in phases:
        rng.shuffle(phase)
        for start in range(0, len(phase), EVENTS_PER_MESSAGE):
            report = JobEventsReported(events=phase[start : start + EVENTS_PER_MESSAGE])
            envelope = new_envelope(report)
            messages.append((envelope.message_id, encode(envelope)))
            stream.events[envelope.message_id] = report.events
    stream.deliveries = list(messages)
    for index in rng.sample(range(len(messages)), REPUBLISHED):
        # Again a little later: within its phase or past it, both must be no-ops.
        at = min(len(stream.deliveries), index + rng.randrange(2, 40))
        stream.deliveries.insert(at, messages[index])
    stream.final = last_observations(e for events in stream.events.values() for e in events)
    stream.statuses = expected_statuses(stream.final)
    return stream


def expected_statuses(final: dict[str, Final]) -> dict[int, S]:
    """What the final jobs imply: all ended → Failed (failed > completed / 2) or Located
    (the stage completes without outputs); otherwise Running."""
    by_sid: dict[int, Counter[str]] = defaultdict(Counter)
    for sid, state, _, _ in final.values():
        by_sid[sid][state] += 1
    statuses = {}
    for sid, counts in by_sid.items():
        if counts["running"] or counts["idle"]:
            statuses[sid] = S.RUNNING
        elif counts["failed"] * 2 > counts["completed"]:
            statuses[sid] = S.FAILED
        else:
            statuses[sid] = S.LOCATED
    return statuses


def expected_history(setup: list[S], end: S) -> list[S]:
    """The set-up statuses, then Idle (every job seen idle), Running, and the end."""
    tail = {S.LOCATED: [S.COMPLETED, S.LOCATED], S.FAILED: [S.FAILED], S.RUNNING: []}[end]
    return [*setup, S.IDLE, S.RUNNING, *tail]


# ---- database and broker helpers ----------------------------------------------------


def stage_id(db: Database) -> int:
    with db.transaction() as session:
        found = session.scalar(
            select(CampaignStage.campaign_stage_id)
            .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
            .where(Campaign.name == "crashing", CampaignStage.name == "ingest")
        )
    assert found is not None
    return found


def make_submissions(db: Database, path: list[list[S]]) -> list[int]:
    """Submissions of the crashing stage whose history is each given path of statuses."""
    stage = stage_id(db)
    sids = []
    with db.transaction() as session:
        for statuses in path:
            sub = Submission(
                campaign_stage_id=stage,
                launcher="poms",
                status_id=int(S.NEW),
                submission_params={},
                batch_backend=BACKEND,
                batch_id=f"{uuid.uuid4().hex[:8]}@{BACKEND}",
            )
            session.add(sub)
            session.flush()
            for status in statuses:
                record_status(session, sub, status, reason="test setup")
            sids.append(sub.submission_id)
    return sids


def applied(db: Database, message_ids: set[str]) -> list[str]:
    """The message ids in the tracker's inbox, as many times as they are there."""
    with db.transaction() as session:
        return list(
            session.scalars(
                select(InboxMessage.message_id).where(
                    InboxMessage.consumer == TRACKER, InboxMessage.message_id.in_(message_ids)
                )
            )
        )


def histories(db: Database, sids: list[int]) -> dict[int, list[S]]:
    with db.transaction() as session:
        rows = session.execute(
            select(SubmissionHistory.submission_id, SubmissionHistory.status_id)
            .where(SubmissionHistory.submission_id.in_(sids))
            .order_by(SubmissionHistory.history_id)
        ).all()
    found: dict[int, list[S]] = {sid: [] for sid in sids}
    for sid, status in rows:
        found[sid].append(S(status))
    return found


def statuses(db: Database, sids: list[int]) -> dict[int, S]:
    with db.transaction() as session:
        rows = session.execute(
            select(Submission.submission_id, Submission.status_id).where(
                Submission.submission_id.in_(sids)
            )
        ).all()
    return {sid: S(status) for sid, status in rows}


def announced(db: Database, sids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Per submission, the tracker's status events in its outbox: (type, transition)."""
    with db.transaction() as session:
        bodies = session.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.routing_key.like("event.Submission%"))
            .order_by(OutboxMessage.outbox_id)
        ).all()
    found: dict[int, list[tuple[str, str]]] = {sid: [] for sid in sids}
    for body in bodies:
        envelope = json.loads(body)
        payload = envelope["payload"]
        if payload.get("submission_id") in found:
            change = f"{payload.get('old_status', '')}>{payload.get('new_status', '')}"
            found[payload["submission_id"]].append((envelope["type"], change))
    return found


def announcements(path: list[S]) -> list[tuple[str, str]]:
    """The events the tracker must emit, once each, for the transitions it made."""
    events = []
    for old, new in pairwise(path):
        events.append(("SubmissionStatusChanged", f"{old.label}>{new.label}"))
        if new == S.COMPLETED:
            events.append(("SubmissionCompleted", ">"))
        elif new == S.LOCATED:
            events.append(("SubmissionLocated", ">"))
    return events


def job_rows(db: Database, sids: list[int]) -> list[tuple[str, Final]]:
    """The submissions' jobs as (batch job id, final), one per row."""
    with db.transaction() as session:
        rows = session.execute(
            select(Job.batch_job_id, Job.submission_id, Job.state, Job.last_seq, Job.exit_code)
            .where(Job.backend == BACKEND, Job.submission_id.in_(sids))
            .order_by(Job.job_id)
        ).all()
    return [
        (key, (sid, JobState(state).name.lower(), seq, code)) for key, sid, state, seq, code in rows
    ]


@contextmanager
def holding(db: Database, sids: list[int]) -> Iterator[int]:
    """Lock the submissions' rows in a transaction of our own; yields its backend pid."""
    with db.transaction() as session:
        session.execute(
            select(Submission.submission_id)
            .where(Submission.submission_id.in_(sids))
            .with_for_update()
        ).all()
        yield session.execute(text("select pg_backend_pid()")).scalar_one()


def waiting_on(db: Database, holder: int) -> int:
    """How many database sessions wait for a lock held by the backend ``holder``."""
    with db.transaction() as session:
        found: int = session.execute(
            text("select count(*) from pg_stat_activity where :pid = any(pg_blocking_pids(pid))"),
            {"pid": holder},
        ).scalar_one()
    return found


def queue_depth(url: str, queue: str) -> int:
    """Messages ready in a queue (passive declare: nothing is created or changed)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        count: int = connection.channel().queue_declare(queue, passive=True).method.message_count
        return count
    finally:
        connection.close()


def dead_letters(bus: RabbitBus, bodies: dict[bytes, str]) -> dict[str, dict[str, Any]]:
    """Drain the dead-letter queue; the headers of the messages published with the given
    bodies (``body → message id``), as RabbitMQ hands them out."""
    found: dict[str, dict[str, Any]] = {}
    for body, headers in bus.dead_letter_messages():
        if body in bodies:
            found[bodies[body]] = headers
    return found


def dump_logs(stack: DistributedStack) -> None:
    for name in ("tracker", "web"):
        print(f"---- {name} log ----\n{stack.log(name)[-4000:]}")


# ---- 1. SIGKILL mid-stream ----------------------------------------------------------


@dataclass(frozen=True)
class Crash:
    """What the killed tracker left behind."""

    applied: list[str]  # message ids committed
    jobs: dict[str, Final]  # the jobs in the database
    waiting: int  # messages ready in the queue while it was down


def crash_mid_stream(
    stack: DistributedStack, db: Database, bus: RabbitBus, stream: Stream, sids: list[int]
) -> Crash:
    """Publish the stream while the tracker eats it; once a quarter is in, SIGKILL the
    tracker inside a batch's transaction, and restart it after the stream has ended."""
    ids = stream.message_ids

    def publish() -> None:
        for mid, body in stream.deliveries:
            bus.publish_raw(ROUTING_KEY, mid, body)
            time.sleep(PACE)  # pacing, so the tracker commits many small batches

    publisher = threading.Thread(target=publish, name="publish-stream")
    publisher.start()
    try:
        wait_until(lambda: len(applied(db, ids)) >= len(ids) // 4, timeout=60, interval=0.05)
        # Hold the submissions' rows: the tracker's next batch (inbox rows and jobs written,
        # not committed) waits on them, and dies there.
        with holding(db, sids) as holder:
            wait_until(lambda: waiting_on(db, holder) > 0, timeout=30, interval=0.05)
            stack.kill("tracker")
        committed, jobs = applied(db, ids), dict(job_rows(db, sids))
    finally:
        publisher.join(timeout=60)
    assert not publisher.is_alive()
    waiting = queue_depth(stack.env["POMS_AMQP_URL"], TRACKER_JOB_EVENTS.name)
    stack.start("tracker")
    return Crash(committed, jobs, waiting)


def test_a_tracker_killed_mid_stream_loses_no_event_and_applies_none_twice(
    stack: DistributedStack, db: Database, bus: RabbitBus
) -> None:
    # Half the submissions are New, half already Running (launched, with a batch id).
    setups = [[S.NEW] if i % 2 == 0 else [S.NEW, S.RUNNING] for i in range(SUBMISSIONS)]
    sids = make_submissions(db, setups)
    kinds = {
        sid: "located" if i < 14 else "failed" if i < 17 else "running"
        for i, sid in enumerate(sids)
    }
    stream = make_stream(kinds, random.Random(1729))
    ids = stream.message_ids
    assert len(stream.deliveries) == len(ids) + REPUBLISHED
    assert sum(len(events) for events in stream.events.values()) >= 19_000
    try:
        crash = crash_mid_stream(stack, db, bus, stream, sids)
        wait_until(lambda: len(applied(db, ids)) == len(ids), timeout=60, interval=0.2)
        amqp = stack.env["POMS_AMQP_URL"]
        wait_until(lambda: queue_depth(amqp, TRACKER_JOB_EVENTS.name) == 0, timeout=30)
    except Exception:
        dump_logs(stack)
        raise
    # The crash came mid-stream, with messages waiting in the durable queue, and what it
    # left in the database is exactly the effect of the messages it had committed.
    assert 0 < len(crash.applied) < len(ids), len(crash.applied)
    assert crash.waiting > 0
    assert crash.jobs == last_observations(e for mid in crash.applied for e in stream.events[mid])

    # Every job once, in the state and seq of its last observation.
    rows = job_rows(db, sids)
    assert len(rows) == len(dict(rows)) == len(stream.final) == SUBMISSIONS * JOBS
    assert dict(rows) == stream.final

    # Each message applied once, none dead-lettered.
    assert Counter(applied(db, ids)) == Counter(ids)
    assert dead_letters(bus, {body: mid for mid, body in stream.deliveries}) == {}

    # Statuses as the final job counts imply; every transition recorded and announced once.
    assert statuses(db, sids) == stream.statuses
    assert Counter(stream.statuses.values()) == {S.LOCATED: 14, S.FAILED: 3, S.RUNNING: 3}
    found, events_out = histories(db, sids), announced(db, sids)
    for sid, setup in zip(sids, setups, strict=True):
        path = expected_history(setup, stream.statuses[sid])
        assert found[sid] == path, sid
        # The tracker made (and announced) the transitions from the last set-up status on.
        assert events_out[sid] == announcements(path[len(setup) - 1 :]), sid


# ---- 2. bad events ------------------------------------------------------------------


def envelope_body(*events: JobEvent) -> tuple[str, bytes]:
    envelope = new_envelope(JobEventsReported(events=list(events)))
    return envelope.message_id, encode(envelope)


def test_bad_events_are_dead_lettered_or_ignored_and_the_stream_keeps_flowing(
    stack: DistributedStack, db: Database, bus: RabbitBus
) -> None:
    located, good = make_submissions(db, [[S.NEW, S.RUNNING, S.COMPLETED, S.LOCATED], [S.NEW]])
    with db.transaction() as session:
        session.add(
            Job(
                submission_id=located,
                backend=BACKEND,
                batch_job_id=f"{located}.0@{BACKEND}",
                state=int(JobState.COMPLETED),
                last_seq=3,
                exit_code=0,
            )
        )
    history_before = histories(db, [located])[located]

    unknown = envelope_body(job_event(UNKNOWN_SID, 0, "running", 2))
    not_json = (str(uuid.uuid4()), b"\x00 this is not JSON {")
    mid, body = envelope_body(job_event(good, 9, "running", 2))
    invalid = (mid, body.replace(b'"state":"running"', b'"state":"exploded"'))
    assert b"exploded" in invalid[1]
    back_to_running = envelope_body(job_event(located, 1, "running", 5))  # a Located submission
    job_revived = envelope_body(job_event(located, 0, "running", 9))  # a completed job
    good_events = [
        envelope_body(job_event(good, n, state, seq))
        for seq, state in enumerate(("idle", "running", "completed"), start=1)
        for n in range(3)
    ]
    bad = [unknown, not_json, invalid]
    ignored = [back_to_running, job_revived]
    try:
        for mid, body in [*bad, *ignored, *good_events]:
            bus.publish_raw(ROUTING_KEY, mid, body)
        wait_until(lambda: statuses(db, [good])[good] == S.LOCATED, timeout=30, interval=0.2)
        expected_applied = {mid for mid, _ in [*ignored, *good_events]}
        wait_until(lambda: set(applied(db, expected_applied)) == expected_applied, timeout=30)
        published = {body: mid for mid, body in [*bad, *ignored, *good_events]}
        parked: dict[str, dict[str, Any]] = {}

        def all_parked() -> bool:
            parked.update(dead_letters(bus, published))
            return len(parked) >= len(bad)

        wait_until(all_parked, timeout=30)
    except Exception:
        dump_logs(stack)
        raise

    # (a) and (b): dead-lettered, each with its reason, and nothing else was.
    assert set(parked) == {mid for mid, _ in bad}
    reasons = {mid: str(headers.get("x-poms-reason")) for mid, headers in parked.items()}
    assert f"submission {UNKNOWN_SID} does not exist" in reasons[unknown[0]]
    assert "invalid JobEventsReported" in reasons[invalid[0]]
    assert "events.0.state" in reasons[invalid[0]]
    assert all(h.get("x-poms-queue") == TRACKER_JOB_EVENTS.name for h in parked.values())
    assert "not JSON" in reasons[not_json[0]]
    # (c): acknowledged, guarded: no status change, no history row, the job stays ended.
    assert statuses(db, [located])[located] == S.LOCATED
    assert histories(db, [located])[located] == history_before
    assert announced(db, [located])[located] == []
    assert dict(job_rows(db, [located]))[f"{located}.0@{BACKEND}"] == (located, "completed", 3, 0)
    # The good events after them went through.
    assert histories(db, [good])[good] == [S.NEW, S.IDLE, S.RUNNING, S.COMPLETED, S.LOCATED]
    exposition = stack.metrics("tracker")
    queue = TRACKER_JOB_EVENTS.name
    assert f'poms_messages_dead_lettered_total{{queue="{queue}"}} 3.0' in exposition


def test_the_same_bad_reports_over_rest_get_a_400(stack: DistributedStack, db: Database) -> None:
    located, sid = make_submissions(db, [[S.NEW, S.RUNNING, S.COMPLETED, S.LOCATED], [S.NEW]])
    url = f"{stack.web_url}/api/v1/job-events"
    event = json.loads(job_event(sid, 0, "running", 1).model_dump_json())

    status, body = call(url, "POST", {"events": [{**event, "submission_id": UNKNOWN_SID}]})
    assert status == 400, body
    assert body["error"]["field"] == "events.0.submission_id"
    assert f"submission {UNKNOWN_SID} does not exist" in body["error"]["message"]

    status, body = call(url, "POST", {"events": [{**event, "state": "exploded"}]})
    assert status == 400 and body["error"]["field"] == "events.0.state", body

    status, body = call(url, "POST", {"events": [{**event, "seq": None}]})
    assert status == 400 and body["error"]["field"] == "events.0.seq", body

    status, body = post_bytes(url, b"\x00 this is not JSON {")
    assert status == 400 and "must be JSON" in body["error"]["message"], body

    # An impossible transition is a valid report: taken, then ignored by the tracker.
    revive = json.loads(job_event(located, 0, "running", 9).model_dump_json())
    assert call(url, "POST", {"events": [revive]}) == (202, {"accepted": 1})
    # A good report after them is taken and applied (reports reach the tracker in order).
    assert call(url, "POST", {"events": [event]}) == (202, {"accepted": 1})
    wait_until(lambda: statuses(db, [sid])[sid] == S.RUNNING, timeout=30)
    assert histories(db, [located])[located] == [S.NEW, S.RUNNING, S.COMPLETED, S.LOCATED]
    assert announced(db, [located])[located] == []


def post_bytes(url: str, data: bytes) -> tuple[int, Any]:
    """POST a body as it is (``call`` would encode it as JSON)."""
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
