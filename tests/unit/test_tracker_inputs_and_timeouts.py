"""Input file statuses only move forward; submissions stuck in New become LaunchFailed."""

from datetime import UTC, datetime, timedelta

import pytest

from poms_shared.settings import load_settings
from poms_tracker.bootstrap import LAUNCH_MARGIN, new_timeouts
from poms_tracker.domain.inputs import at_least, by_status, input_targets, rank
from poms_tracker.domain.launch_timeout import NewSubmission, NewTimeouts, launch_failed_reason

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIMITS = NewTimeouts(new_after=3600, launch_allowance=900)


def test_input_statuses_are_ordered_delivered_skipped_failed_consumed():
    ranks = [rank(s) for s in ("delivered", "skipped", "failed", "consumed")]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4
    assert rank("mystery") == -1


@pytest.mark.parametrize(
    ("status", "blocking"),
    [
        ("delivered", ("delivered", "skipped", "failed", "consumed")),
        ("skipped", ("skipped", "failed", "consumed")),
        ("failed", ("failed", "consumed")),
        ("consumed", ("consumed",)),
    ],
)
def test_an_input_already_at_or_past_a_status_is_not_updated_to_it(status, blocking):
    assert at_least(status) == blocking


@pytest.mark.parametrize(
    ("parents", "reports", "expected"),
    [
        ([], [], {}),
        (["a"], [], {"a": "consumed"}),
        ([], [("a", "failed"), ("b", "skipped")], {"a": "failed", "b": "skipped"}),
        (["a"], [("a", "failed")], {"a": "consumed"}),  # an output exists: consumed wins
        ([], [("a", "failed"), ("a", "skipped")], {"a": "failed"}),  # order does not matter
        ([], [("a", "skipped"), ("a", "failed")], {"a": "failed"}),
        ([], [("a", "bogus")], {}),
    ],
)
def test_one_declaration_sets_each_input_to_the_furthest_status_it_implies(
    parents, reports, expected
):
    assert input_targets(parents, reports) == expected


def test_inputs_are_grouped_by_target_status_for_one_update_each():
    groups = by_status({"b": "consumed", "a": "consumed", "c": "failed"})
    assert groups == {"consumed": ["a", "b"], "failed": ["c"]}


def _new(age_s: float, **kw):
    return NewSubmission(created=NOW - timedelta(seconds=age_s), **kw)


@pytest.mark.parametrize(
    ("sub", "reason"),
    [
        (_new(3599), None),
        (_new(3600), "still New 1 h after creation (limit 1 h): no launch was started"),
        (_new(7200, commands_only=True), None),  # the campaign manager expires reservations
        (_new(7200, launch_started=NOW - timedelta(seconds=899)), None),  # still running
        (
            _new(7200, launch_started=NOW - timedelta(seconds=1800)),
            "still New 2 h after creation (limit 1 h): the launch started 0.5 h ago and never"
            " finished",
        ),
        (
            _new(7200, launch_started=NOW - timedelta(hours=2), launch_finished=True),
            "still New 2 h after creation (limit 1 h): the launch ended without reporting a"
            " batch job",
        ),
        (
            _new(5400, launch_finished=True, batch_id="12.0@local"),
            "still New 1.5 h after creation (limit 1 h): launched as 12.0@local, but no job of"
            " it was ever reported",
        ),
    ],
)
def test_a_submission_stuck_in_new_is_launch_failed_unless_reserved_or_still_launching(sub, reason):
    assert launch_failed_reason(sub, NOW, LIMITS) == reason


def test_the_new_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("POMS_NEW_TIMEOUT", raising=False)
    settings = load_settings(launch_timeout=120.0)
    assert new_timeouts(settings) == NewTimeouts(3600.0, 120.0 + LAUNCH_MARGIN)
    monkeypatch.setenv("POMS_NEW_TIMEOUT", "900")
    assert new_timeouts(load_settings()).new_after == 900.0


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_new_timeout_is_refused_with_its_name(monkeypatch, value):
    monkeypatch.setenv("POMS_NEW_TIMEOUT", value)
    with pytest.raises(ValueError, match="POMS_NEW_TIMEOUT must be"):
        load_settings()
