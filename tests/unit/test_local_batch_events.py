"""Parsing of the local batch spool's event and declaration lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from poms_shared.batch.local_events import (
    DeclaredEntry,
    EventRecord,
    group_by_experiment,
    is_terminal,
    latest,
    next_seq,
    parse_declared,
    parse_declared_lines,
    parse_event,
    parse_events,
    parse_job_ref,
    split_complete_lines,
)

AT = "2025-01-02T03:04:05.000006+00:00"


def line(**fields: object) -> bytes:
    return (json.dumps(fields) + "\n").encode()


def test_event_round_trips_through_its_line() -> None:
    record = EventRecord(2, "failed", datetime(2025, 1, 2, tzinfo=UTC), exit_code=3, node="n1")
    events, consumed = parse_events(record.to_line())
    assert events == [record]
    assert consumed == len(record.to_line())


def test_partial_last_line_is_neither_parsed_nor_consumed() -> None:
    complete = line(seq=1, state="idle", at=AT)
    data = complete + b'{"seq":2,"state":"runn'
    events, consumed = parse_events(data)
    assert [e.state for e in events] == ["idle"]
    assert consumed == len(complete)


def test_no_complete_line_consumes_nothing() -> None:
    assert split_complete_lines(b'{"seq":1') == ([], 0)
    assert parse_events(b"") == ([], 0)


def test_fragment_left_by_dead_writer_is_skipped() -> None:
    data = b'{"seq":2,"sta\n' + line(seq=2, state="running", at=AT) + b"\n"
    events, consumed = parse_events(data)
    assert [(e.seq, e.state) for e in events] == [(2, "running")]
    assert consumed == len(data)


@pytest.mark.parametrize(
    "fields",
    [
        {"seq": 1, "state": "exploded", "at": AT},
        {"seq": 0, "state": "idle", "at": AT},
        {"seq": True, "state": "idle", "at": AT},
        {"seq": 1, "state": "idle", "at": "yesterday"},
        {"seq": 1, "state": "idle"},
    ],
)
def test_invalid_events_are_rejected(fields: dict[str, object]) -> None:
    assert parse_event(fields) is None


def test_naive_timestamp_is_taken_as_utc_and_bad_fields_dropped() -> None:
    event = parse_event(
        {"seq": 1, "state": "completed", "at": "2025-01-02T03:04:05", "exit_code": "0", "node": 5}
    )
    assert event is not None
    assert event.at.tzinfo is UTC
    assert event.exit_code is None
    assert event.node is None


@pytest.mark.parametrize(
    ("state", "terminal"),
    [
        ("idle", False),
        ("running", False),
        ("held", False),
        ("completed", True),
        ("failed", True),
        ("cancelled", True),
        ("removed", True),
    ],
)
def test_terminal_detection(state: str, terminal: bool) -> None:
    assert is_terminal(state) is terminal


def test_latest_and_next_seq_follow_seq_not_file_order() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    events = [EventRecord(2, "running", at), EventRecord(1, "idle", at)]
    last = latest(events)
    assert last is not None and last.state == "running"
    assert next_seq(events) == 3
    assert latest([]) is None
    assert next_seq([]) == 1


def test_declared_entry_is_normalised() -> None:
    entry = parse_declared(
        {
            "name": "out.root",
            "location": "/data",
            "size": 12,
            "parents": ["in.root", 3, ""],
            "software_version": "v1",
            "metadata": {"n": 3, "nested": {"a": 1}, "ok": True},
            "experiment": "dune",
        }
    )
    assert entry == DeclaredEntry(
        name="out.root",
        location="/data",
        size=12,
        parents=["in.root"],
        software_version="v1",
        metadata={"n": 3, "nested": '{"a": 1}', "ok": True},
        experiment="dune",
    )


def test_declared_lines_skip_nameless_and_partial_entries() -> None:
    data = line(name="a.root") + line(location="/x") + b'{"name":"b.ro'
    entries, consumed = parse_declared_lines(data)
    assert [e.name for e in entries] == ["a.root"]
    assert consumed == len(data) - len(b'{"name":"b.ro')


def test_declared_files_group_by_experiment_with_default() -> None:
    entries = [DeclaredEntry("a", experiment="dune"), DeclaredEntry("b"), DeclaredEntry("c")]
    groups = group_by_experiment(entries, "demo")
    assert {k: [e.name for e in v] for k, v in groups.items()} == {
        "dune": ["a"],
        "demo": ["b", "c"],
    }


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [("12", (12, None)), ("12@local", (12, None)), ("12.3", (12, 3)), ("12.3@local", (12, 3))],
)
def test_job_refs(ref: str, parsed: tuple[int, int | None]) -> None:
    assert parse_job_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", "x", "12.3@slurm", "12.", "-1"])
def test_bad_job_refs(ref: str) -> None:
    with pytest.raises(ValueError):
        parse_job_ref(ref)
