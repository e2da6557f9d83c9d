"""The ``tracker_ingest`` benchmark's rounds: the setting, and which pair is reported."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.append(str(Path(__file__).parents[2] / "bench"))  # the benchmarks are scripts

from tracker_ingest import EVENTS_ENV, ROUNDS_ENV, event_count, median_pair, round_count


def side(rate: float) -> dict[str, Any]:
    return {"rate": rate, "publish_s": 0.1, "cpu_s": 1.0, "complete": True}


def test_the_reported_pair_is_the_one_with_the_median_ratio_not_the_median_rates() -> None:
    pairs = [
        (side(90.0), side(100.0)),  # 0.9
        (side(60.0), side(100.0)),  # 0.6
        (side(80.0), side(50.0)),  # 1.6: the fastest tracker, yet not the median ratio
    ]
    assert median_pair(pairs) == 0
    assert median_pair(pairs[:1]) == 0
    tied = [(side(80.0), side(100.0)), (side(40.0), side(50.0)), (side(8.0), side(10.0))]
    assert median_pair(tied) == 1  # equal ratios: the middle one of them in run order


def test_rounds_default_to_three_and_take_an_odd_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROUNDS_ENV, raising=False)
    assert round_count() == 3
    monkeypatch.setenv(ROUNDS_ENV, " 5 ")
    assert round_count() == 5
    for bad, says in [("4", "odd"), ("0", "odd"), ("11", "odd"), ("three", "whole number")]:
        monkeypatch.setenv(ROUNDS_ENV, bad)
        with pytest.raises(ValueError, match=says) as refused:
            round_count()
        assert ROUNDS_ENV in str(refused.value)


def test_a_bad_event_count_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EVENTS_ENV, "lots")
    with pytest.raises(ValueError, match=f"{EVENTS_ENV} must be a whole number, not 'lots'"):
        event_count()
    monkeypatch.setenv(EVENTS_ENV, "250")
    assert event_count() == 200  # whole messages of 100 events
