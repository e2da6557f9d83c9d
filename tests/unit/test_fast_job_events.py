"""The typed decode of complete job-events reports (``contracts/fast_job_events.py``):
it takes exactly the bodies our encoder writes, builds what the pydantic models would
build from them, and leaves every other body to the full decode."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from poms_shared.contracts import (
    Envelope,
    MalformedMessage,
    decode,
    encode,
    fast_job_events,
    new_envelope,
)
from poms_shared.contracts.fast_job_events import decode_job_events
from poms_shared.contracts.messages import JobEvent, JobEventsReported

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def complete_event(n: int, **changes: Any) -> dict[str, Any]:
    """A job event with every field, as our encoder writes one."""
    event = JobEvent(
        source="poller",
        backend="slurm",
        batch_job_id=f"{n}.0",
        submission_id=7,
        state="completed",
        seq=n,
        at=T0,
        exit_code=1,
        node="node\t1",
        log_path="/logs/é/1",
        site="FNAL",
        cpu_seconds=1.5,
        wall_seconds=3.0,
        memory_mb=2000,
        memory_requested_mb=4000,
    )
    return {**json.loads(event.model_dump_json()), **changes}


def complete_report(*events: dict[str, Any], **changes: Any) -> dict[str, Any]:
    envelope = new_envelope(JobEventsReported(events=[]))
    raw = json.loads(encode(envelope))
    raw["payload"]["events"] = list(events)
    return {**raw, **changes}


def compact(raw: Any) -> bytes:
    """JSON as our encoder lays it out (no spaces), which the typed decode looks for."""
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode()


def full(data: bytes) -> Envelope:
    return decode(data, parse=json.loads)


def assert_same(fast: Envelope, reference: Envelope) -> None:
    assert fast == reference
    assert fast.model_dump() == reference.model_dump()
    assert fast.model_dump_json() == reference.model_dump_json()
    assert fast.model_fields_set == reference.model_fields_set
    assert isinstance(fast.payload, JobEventsReported)
    assert isinstance(reference.payload, JobEventsReported)
    assert fast.payload.model_fields_set == reference.payload.model_fields_set
    for mine, theirs in zip(fast.payload.events, reference.payload.events, strict=True):
        assert type(mine) is JobEvent
        assert mine == theirs and hash(mine) == hash(theirs)
        assert mine.model_fields_set == theirs.model_fields_set
        assert [type(v) for v in mine.__dict__.values()] == [
            type(v) for v in theirs.__dict__.values()
        ]
        assert (mine.at, mine.at.utcoffset()) == (theirs.at, theirs.at.utcoffset())


def test_the_wire_structs_mirror_the_models() -> None:
    """A field added to a model must be added to its struct, or reports lose it."""
    assert fast_job_events._Event.__struct_fields__ == tuple(JobEvent.model_fields)
    assert fast_job_events._Payload.__struct_fields__ == tuple(JobEventsReported.model_fields)
    assert fast_job_events._Envelope.__struct_fields__ == tuple(Envelope.model_fields)


TAKEN = [
    complete_report(complete_event(1)),
    complete_report(*(complete_event(n) for n in range(40))),
    complete_report(),
    complete_report(
        complete_event(1, exit_code=None, node=None, log_path=None, site=None),
        complete_event(2, cpu_seconds=None, wall_seconds=None, memory_mb=None),
        complete_event(3, memory_requested_mb=None, state="running"),
    ),
    # a JSON integer in a float field is a float, as the model makes it
    complete_report(complete_event(1, cpu_seconds=5, wall_seconds=0)),
    # times: offsets, naive, beyond microseconds, lenient forms pydantic takes
    complete_report(
        complete_event(1, at="2025-03-01T13:30:00+01:30"),
        complete_event(2, at="2025-03-01T12:00:00"),
        complete_event(3, at="2025-03-01T12:00:00.1234567Z"),
        complete_event(4, at="1740830400"),
        complete_event(5, at="2025-03-01 12:00:00z"),
        occurred_at="2025-03-01T12:00Z",
    ),
    # big numbers, escapes, other alphabets
    complete_report(complete_event(1, seq=2**70, batch_job_id='a\\b"c\u2603', exit_code=-9)),
    # the envelope ignores fields it does not know
    complete_report(complete_event(1), extra={"nested": [1]}, causation_id="cause-1"),
]


@pytest.mark.parametrize("raw", TAKEN)
def test_a_complete_report_is_built_as_the_models_build_it(raw: dict[str, Any]) -> None:
    data = compact(raw)
    assert decode_job_events(data) is not None  # the typed path takes it
    assert_same(decode(data), full(data))
    assert_same(decode(data.decode()), full(data))  # a text body too


def test_our_encoder_writes_what_the_typed_path_takes() -> None:
    told = [{}, {"node": None, "site": None}, {"cpu_seconds": 0.25, "state": "held"}]
    events = [JobEvent.model_validate(complete_event(n, **told[n % 3])) for n in range(20)]
    envelope = new_envelope(JobEventsReported(events=events))
    assert decode_job_events(encode(envelope)) is not None
    decoded = decode(encode(envelope))
    assert decoded == envelope
    assert_same(decoded, full(encode(envelope)))


def test_repeated_keys_keep_the_last_as_the_full_decode_does() -> None:
    data = compact(complete_report(complete_event(1))).replace(b'"seq":1,', b'"seq":5,"seq":1,')
    assert decode_job_events(data) is not None
    assert_same(decode(data), full(data))


def test_built_events_share_their_times_and_copy_as_models() -> None:
    envelope = decode(compact(complete_report(complete_event(1), complete_event(2))))
    assert isinstance(envelope.payload, JobEventsReported)
    first, second = envelope.payload.events
    assert first.at is second.at
    changed = first.model_copy(update={"seq": 9})
    assert (changed.seq, first.seq) == (9, 1)
    with pytest.raises(Exception, match="frozen"):
        first.seq = 3  # type: ignore[misc]


def without(raw: dict[str, Any], key: str) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    raw["payload"]["events"][0].pop(key)
    return raw


BASE = complete_report(complete_event(1))
# Bodies the typed path leaves to the full decode; each is accepted or refused there.
LEFT = {
    "an event without an optional field": without(BASE, "node"),
    "an event without a required field": without(BASE, "backend"),
    "an envelope without causation_id": {k: v for k, v in BASE.items() if k != "causation_id"},
    "a number in text": complete_report(complete_event(1, submission_id="7")),
    "an integral float seq": complete_report(complete_event(1, seq=2.0)),
    "a fractional seq": complete_report(complete_event(1, seq=1.5)),
    "a bool exit code": complete_report(complete_event(1, exit_code=True)),
    "an unknown state": complete_report(complete_event(1, state="exploded")),
    "a negative memory": complete_report(complete_event(1, memory_mb=-1)),
    "a negative cpu time": complete_report(complete_event(1, cpu_seconds=-0.5)),
    "an unknown event field": complete_report(complete_event(1, surprise=True)),
    "an unknown payload field": {**BASE, "payload": {**BASE["payload"], "more": 1}},
    "a time pydantic refuses": complete_report(complete_event(1, at="2025-02-30T00:00:00Z")),
    "a unix time as a number": complete_report(complete_event(1, at=1740830400)),
    "an envelope time pydantic refuses": complete_report(complete_event(1), occurred_at="soon"),
    "a report of another type": {**BASE, "type": "FilesDeclared"},
}


@pytest.mark.parametrize("raw", LEFT.values(), ids=LEFT.keys())
def test_anything_else_is_left_to_the_full_decode(raw: dict[str, Any]) -> None:
    assert_left_to_the_full_decode(compact(raw))


@pytest.mark.parametrize(
    "data",
    [
        compact(BASE).replace(b'"running"', b"NaN").replace(b'"completed"', b"NaN"),
        compact(BASE).replace(b'"/logs', b'"\\ud800/logs'),
        compact(BASE).replace("é".encode(), b"\xff"),
        compact(BASE)[:-1],
        b"\xef\xbb\xbf" + compact(BASE),
    ],
)
def test_a_body_msgspec_cannot_read_is_left_to_the_full_decode(data: bytes) -> None:
    assert_left_to_the_full_decode(data)


def assert_left_to_the_full_decode(data: bytes) -> None:
    """Not taken by the typed path; ``decode`` gives what the full decode gives: the same
    envelope, or the same refusal."""
    assert decode_job_events(data) is None
    verdicts = []
    for parse in (full, decode):
        try:
            verdicts.append(parse(data))
        except MalformedMessage as exc:
            verdicts.append(f"refused: {exc}")
    assert verdicts[0] == verdicts[1]
