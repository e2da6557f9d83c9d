"""The fast parse under ``decode`` (``contracts/fast_json.py``) that job-event reports take
on their way into the tracker: the same envelopes as ``json.loads`` + the pydantic models
gave, the same refusals with the same reasons, and malformed reports still dead-lettered
with their reason. Job-event times are shared objects, equal to what the model parses."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from poms_shared.broker import PermanentError
from poms_shared.broker.errors import Delivery, Dispatcher, Outcome, RetryPolicy
from poms_shared.contracts import Envelope, MalformedMessage, decode, encode, new_envelope
from poms_shared.contracts.fast_json import loads
from poms_shared.contracts.messages import JobEvent, JobEventsReported, LaunchFailed

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def job_event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "source": "poller",
        "backend": "slurm",
        "batch_job_id": f"{n}.0",
        "submission_id": 7,
        "state": "running",
        "seq": 1,
        "at": "2025-03-01T12:00:00.123456Z",
        **extra,
    }


def report(*events: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "message_id": "m-1",
        "type": "JobEventsReported",
        "schema_version": 1,
        "occurred_at": "2025-03-01T12:00:01Z",
        "correlation_id": "c-1",
        "causation_id": None,
        "payload": {"events": list(events)},
        **envelope,
    }


def body(raw: Any) -> bytes:
    return json.dumps(raw).encode()


def full_decode(data: bytes) -> Envelope:
    """``decode`` as it was: ``json.loads``, then the models."""
    return decode(data, parse=json.loads)


def outcome(data: bytes) -> Envelope | str:
    """The envelope, or the reason the body is refused."""
    try:
        return decode(data)
    except MalformedMessage as exc:
        return f"refused: {exc}"


def reference(data: bytes) -> Envelope | str:
    try:
        return full_decode(data)
    except MalformedMessage as exc:
        return f"refused: {exc}"


GOOD = [
    report(job_event(1)),
    report(*(job_event(n) for n in range(50))),
    report(job_event(1, state="completed", exit_code=0, node="n1", log_path="/l/1")),
    # times: other offsets, naive, fractions beyond microseconds, a unix time, lenient forms
    report(job_event(1, at="2025-03-01T13:30:00+01:30"), job_event(2, at="2025-03-01T12:00:00")),
    report(job_event(1, at="2025-03-01T12:00:00.1234567Z"), job_event(2, at="1740830400")),
    report(job_event(1, at=1740830400), job_event(2, at="2025-03-01 12:00:00z")),
    report(job_event(1, at="2025-03-01T12:00Z")),
    # the models' lax conversions: numbers in text, integral floats
    report(job_event(1, submission_id="7", seq=2.0)),
    # the envelope ignores fields it does not know; repeated keys keep the last
    report(job_event(1), extra="ignored"),
    report(job_event(1), causation_id="x"),
]
GOOD_BODIES = [body(r) for r in GOOD] + [
    b'{"type":"JobEventsReported","type":"JobEventsReported","message_id":"a",'
    b'"correlation_id":"c","occurred_at":"2025-03-01T12:00:00Z","payload":{"events":[]}}',
    # json.loads takes what msgspec refuses: a UTF-8 BOM, UTF-16
    b"\xef\xbb\xbf" + body(report(job_event(1))),
    json.dumps(report(job_event(1))).encode("utf-16"),
]
BAD_BODIES = [
    b"not json",
    b"[1, 2]",
    b'{"type": "Nope"}',
    body(report(job_event(1, state="exploded"))),
    body(report(job_event(1, at="yesterday"))),
    body(report(job_event(1, at="2025-02-30T00:00:00Z"))),
    body(report(job_event(1, at=None))),
    body(report(job_event(1, surprise=True))),  # events forbid extra fields
    body(report(job_event(1, seq=1.5))),
    body(report(job_event(1, submission_id=True, seq="x"))),
    body(report({k: v for k, v in job_event(1).items() if k != "backend"})),
    body(report(job_event(1))).replace(b'"running"', b"NaN"),
    body(report(job_event(1), payload={"events": "none"})),
    body(report(job_event(1), payload={"events": [1, 2]})),
    body(report(job_event(1), payload=None)),
    body(report(job_event(1), occurred_at="soon")),
    body({k: v for k, v in report(job_event(1)).items() if k != "correlation_id"}),
    b'{"type": "JobEventsReported", "payload": {"events": [{"at": "\xed\xa0\x80"}]}}',
    b'{"type": "JobEventsReported", "payload": {"events": [{"at": "\\ud800"}]}}',
]


@pytest.mark.parametrize("data", GOOD_BODIES)
def test_an_accepted_report_decodes_to_what_the_full_models_give(data: bytes) -> None:
    fast, full = outcome(data), reference(data)
    assert isinstance(fast, Envelope), fast
    assert fast == full
    assert fast.model_dump() == full.model_dump()  # type: ignore[union-attr]
    assert fast.model_dump_json() == full.model_dump_json()  # type: ignore[union-attr]
    assert isinstance(fast.payload, JobEventsReported)
    assert isinstance(full, Envelope) and isinstance(full.payload, JobEventsReported)
    for mine, theirs in zip(fast.payload.events, full.payload.events, strict=True):
        assert type(mine) is JobEvent
        assert mine.model_fields_set == theirs.model_fields_set
        assert (mine.at, mine.at.utcoffset()) == (theirs.at, theirs.at.utcoffset())


@pytest.mark.parametrize("data", BAD_BODIES)
def test_a_refused_body_is_refused_with_the_reason_the_full_models_give(data: bytes) -> None:
    fast = outcome(data)
    assert isinstance(fast, str)
    assert fast == reference(data)


def test_our_own_encoding_round_trips() -> None:
    events = [
        JobEvent(
            source="s",
            backend="local",
            batch_job_id=f"{n}@local",
            submission_id=n,
            state="held",
            seq=n,
            at=T0 + timedelta(seconds=n % 3),
            node=None if n % 2 else "node",
        )
        for n in range(20)
    ]
    envelope = new_envelope(JobEventsReported(events=events))
    assert decode(encode(envelope)) == envelope == full_decode(encode(envelope))


def test_events_with_the_same_time_share_one_datetime_across_reports() -> None:
    first = decode(body(report(job_event(1), job_event(2))))
    again = decode(body(report(job_event(3))))
    reports = [env.payload for env in (first, again)]
    assert all(isinstance(r, JobEventsReported) for r in reports)
    times = [e.at for r in reports if isinstance(r, JobEventsReported) for e in r.events]
    assert all(t is times[0] for t in times)
    assert times[0] == datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1, "a": 2}',
        b"99999999999999999999",
        b"1e400",
        b'{"x": [1.5, -0.0, "\\u00e9", null, true]}',
        b'{"a": NaN, "b": Infinity}',
        b'  {"nested": {"deep": [[], {}]}}  ',
    ],
)
def test_the_parse_gives_what_json_loads_gives(data: bytes) -> None:
    assert repr(loads(data)) == repr(json.loads(data))


@pytest.mark.parametrize("data", [b"{", b"", b'"\xff"', b"[1,]"])
def test_the_parse_fails_as_json_loads_fails(data: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        loads(data)
    with pytest.raises(ValueError) as theirs:
        json.loads(data)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_other_messages_decode_as_before() -> None:
    envelope = new_envelope(LaunchFailed(submission_id=3, reason="no\tluck", log_path=None))
    assert decode(encode(envelope)) == envelope == full_decode(encode(envelope))


@pytest.mark.parametrize("data", BAD_BODIES[3:12])
def test_a_malformed_report_in_a_batch_is_dead_lettered_with_its_reason(data: bytes) -> None:
    handled: list[list[Envelope]] = []
    dispatcher = Dispatcher("q", RetryPolicy(attempts=1), PermanentError, threading.Event())
    good = Delivery(body(report(job_event(1))), tag=1)
    bad = Delivery(data, tag=2)
    settled = dispatcher.batch([good, bad], handled.append)
    by_tag = {s.delivery.tag: s for s in settled}
    assert by_tag[1].outcome is Outcome.ACK
    assert by_tag[2].outcome is Outcome.DEAD_LETTER
    assert by_tag[2].reason == f"MalformedMessage: {reference(data)[len('refused: ') :]}"
    assert by_tag[2].reason.startswith("MalformedMessage: invalid JobEventsReported: ")
    assert len(handled) == 1 and [e.message_id for e in handled[0]] == ["m-1"]
