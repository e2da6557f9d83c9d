"""Which located decisions need the catalog's counts, and what happens when it is down."""

from __future__ import annotations

import pytest

from poms_tracker.domain.completion import (
    LocatedEvidence,
    catalog_unavailable,
    decide_located,
    needs_counts,
)


def evidence(**kw) -> LocatedEvidence:
    base = dict(
        completion_type="located",
        completion_pct=90,
        is_recovery=False,
        inputs=0,
        inputs_with_outputs=0,
        jobs=3,
        located_outputs=0,
        patterns="%.root",
    )
    return LocatedEvidence(**{**base, **kw})


@pytest.mark.parametrize(
    ("ev", "needed"),
    [
        (evidence(), True),
        (evidence(completion_type="complete"), False),
        (evidence(forced=True), False),
        (evidence(stage_type="approval"), False),
        (evidence(stage_type="datatransfer"), False),
        (evidence(stage_type="generator"), True),
    ],
)
def test_only_located_stages_ask_the_catalog(ev, needed):
    assert needs_counts(ev) is needed
    if not needed:  # and their decision is made without any count
        assert decide_located(ev).located


@pytest.mark.parametrize(
    ("ev", "located", "why_starts"),
    [
        (evidence(), False, "the data catalog could not be asked (timeout)"),
        (evidence(located_after_hours=2, hours_completed=1), False, "the data catalog could"),
        (evidence(located_after_hours=2, hours_completed=3), True, "located by time"),
    ],
)
def test_without_the_catalog_only_the_time_limit_decides(ev, located, why_starts):
    decision = catalog_unavailable(ev, "timeout")
    assert decision.located is located
    assert decision.why.startswith(why_starts)
