"""Job ordering, submission roll-up (reference §2.5) and guards (reference §2.3)."""

import pytest

from poms_shared.domain.statuses import JobState
from poms_shared.domain.statuses import SubmissionStatus as S
from poms_tracker.domain.completion import (
    LocatedEvidence,
    catalog_unavailable,
    decide_located,
    needs_counts,
)
from poms_tracker.domain.rules import (
    JobCounts,
    JobView,
    accept_job_event,
    ended_by_person,
    next_status,
    rollup_status,
)


@pytest.mark.parametrize(
    ("current", "state", "seq", "accepted"),
    [
        (None, JobState.IDLE, 1, True),
        (JobView(JobState.IDLE, 1), JobState.RUNNING, 2, True),
        (JobView(JobState.RUNNING, 2), JobState.IDLE, 1, False),  # out of order
        (JobView(JobState.RUNNING, 2), JobState.RUNNING, 2, False),  # duplicate
        (JobView(JobState.COMPLETED, 3), JobState.RUNNING, 9, False),  # finished is final
        (JobView(JobState.RUNNING, 2), JobState.HELD, 3, True),
        # an ending from a source that numbers lower (a poller after a job log) still ends it
        (JobView(JobState.RUNNING, 17_000_000_001), JobState.COMPLETED, 3, True),
        (JobView(JobState.RUNNING, 17_000_000_001), JobState.FAILED, 3, True),
        (JobView(JobState.FAILED, 3), JobState.COMPLETED, 17_000_000_005, False),
    ],
)
def test_job_events_never_move_a_job_backwards(current, state, seq, accepted):
    assert accept_job_event(current, state, seq) is accepted


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (JobCounts(), None),
        (JobCounts(idle=3), S.IDLE),
        (JobCounts(idle=2, running=1), S.RUNNING),
        (JobCounts(running=1, held=1), S.HELD),
        (JobCounts(completed=3), S.COMPLETED),
        (JobCounts(completed=2, failed=1), S.COMPLETED),
        (JobCounts(completed=1, failed=1), S.FAILED),
        (JobCounts(cancelled=2), S.CANCELLED),
        (JobCounts(cancelled=1), S.COMPLETED),
        (JobCounts(completed=1, running=1), S.RUNNING),
    ],
)
def test_rollup_derives_submission_status_from_job_counts(counts, expected):
    assert rollup_status(counts) == expected


@pytest.mark.parametrize(
    ("current", "proposed", "recovery", "automatic", "expected"),
    [
        (S.NEW, S.IDLE, False, True, S.IDLE),
        (S.RUNNING, S.RUNNING, False, True, None),
        (S.COMPLETED, S.RUNNING, False, True, None),
        (S.COMPLETED, S.LOCATED, False, True, S.LOCATED),
        (S.LOCATED, S.RUNNING, False, True, None),
        (S.REMOVED, S.COMPLETED, False, False, S.COMPLETED),  # a person may kick it
        (S.RUNNING, S.FAILED, True, True, S.COMPLETED),  # recovery failing again is done
        (S.LAUNCH_FAILED, S.RUNNING, False, True, S.RUNNING),  # slow launch reports late
    ],
)
def test_status_guards(current, proposed, recovery, automatic, expected):
    assert next_status(current, proposed, is_recovery=recovery, automatic=automatic) == expected


def _evidence(**kw):
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
    ("evidence", "located"),
    [
        (_evidence(completion_type="complete"), True),
        (_evidence(located_outputs=3), True),
        (_evidence(located_outputs=2), False),
        (_evidence(inputs=10, inputs_with_outputs=9), True),
        (_evidence(inputs=10, inputs_with_outputs=8, located_outputs=50), False),
        (_evidence(jobs=0), False),  # nothing to judge by: never located by default
        (_evidence(jobs=0, is_recovery=True), True),
        (_evidence(forced=True), True),
    ],
)
def test_located_needs_the_completion_percentage_of_real_counts(evidence, located):
    assert decide_located(evidence).located is located


def test_the_decision_explains_why_a_submission_is_not_located_yet():
    why = decide_located(_evidence(inputs=500, inputs_with_outputs=412)).why
    assert why == "412 of 500 input files have located outputs matching %.root, needs 90% (450)"


@pytest.mark.parametrize(
    ("counts", "ratio", "expected"),
    [
        (JobCounts(completed=3, failed=2), None, S.FAILED),  # None is the reference's 0.5
        (JobCounts(completed=4, failed=2), None, S.COMPLETED),  # 2 × 2 > 4 is false
        (JobCounts(completed=3, failed=2), 1.0, S.COMPLETED),
        (JobCounts(completed=3, failed=4), 1.0, S.FAILED),
        (JobCounts(completed=9, failed=1), 0.0, S.FAILED),  # any failure fails the batch
        (JobCounts(completed=9), 0.0, S.COMPLETED),
        (JobCounts(cancelled=3), 0.0, S.CANCELLED),
        (JobCounts(completed=100, failed=29), 0.29, S.COMPLETED),  # 0.29 × 100 is a tie
        (JobCounts(completed=100, failed=30), 0.29, S.FAILED),
        (JobCounts(completed=1, failed=5, running=1), 0.0, S.RUNNING),  # not finished yet
    ],
)
def test_the_stage_failed_ratio_decides_when_a_finished_batch_is_failed(counts, ratio, expected):
    assert rollup_status(counts, ratio) == expected


@pytest.mark.parametrize(
    ("evidence", "located", "why_starts"),
    [
        (_evidence(located_after_hours=48, hours_completed=49), True, "located by time"),
        (_evidence(located_after_hours=48, hours_completed=48), True, "located by time"),
        (_evidence(located_after_hours=48, hours_completed=47.9), False, "0 of 3 outputs"),
        (_evidence(located_after_hours=0, hours_completed=0), True, "located by time"),
        (_evidence(hours_completed=1000), False, "0 of 3 outputs"),  # no limit: counts only
        (_evidence(located_outputs=3, located_after_hours=48, hours_completed=1), True, "3 of 3"),
    ],
)
def test_a_stage_time_limit_makes_a_completed_submission_located_and_says_so(
    evidence, located, why_starts
):
    decision = decide_located(evidence)
    assert decision.located is located
    assert decision.why.startswith(why_starts)


def test_the_why_says_when_the_time_limit_will_locate_it():
    why = decide_located(_evidence(located_after_hours=24, hours_completed=5.04)).why
    assert why.endswith("; or by time after 24 h Completed (5.0 h)")
    by_time = decide_located(_evidence(located_after_hours=24, hours_completed=30)).why
    assert by_time == (
        "located by time: Completed for 30.0 h, the stage allows 24 h; "
        "0 of 3 outputs located for jobs matching %.root, needs 90% (3)"
    )


# ---- which decisions need the catalog, and what happens when it is down ---------------


@pytest.mark.parametrize(
    ("ev", "needed"),
    [
        (_evidence(), True),
        (_evidence(completion_type="complete"), False),
        (_evidence(forced=True), False),
        (_evidence(stage_type="approval"), False),
        (_evidence(stage_type="datatransfer"), False),
        (_evidence(stage_type="generator"), True),
    ],
)
def test_only_located_stages_ask_the_catalog(ev, needed):
    assert needs_counts(ev) is needed
    if not needed:  # and their decision is made without any count
        assert decide_located(ev).located


@pytest.mark.parametrize(
    ("ev", "located", "why_starts"),
    [
        (_evidence(), False, "the data catalog could not be asked (timeout)"),
        (_evidence(located_after_hours=2, hours_completed=1), False, "the data catalog could"),
        (_evidence(located_after_hours=2, hours_completed=3), True, "located by time"),
    ],
)
def test_without_the_catalog_only_the_time_limit_decides(ev, located, why_starts):
    decision = catalog_unavailable(ev, "timeout")
    assert decision.located is located
    assert decision.why.startswith(why_starts)


@pytest.mark.parametrize(
    ("counts", "action", "expected"),
    [
        (JobCounts(cancelled=1), "kill", S.REMOVED),  # alone it would roll up Completed
        (JobCounts(completed=3, cancelled=2), "kill", S.REMOVED),
        (JobCounts(cancelled=2), "cancel", S.CANCELLED),
        (JobCounts(running=1, cancelled=1), "kill", S.RUNNING),  # not every job is gone yet
        (JobCounts(cancelled=1), None, S.COMPLETED),  # nobody killed it: the counts decide
        (JobCounts(cancelled=1), "hold", S.COMPLETED),
    ],
)
def test_jobs_a_person_killed_end_the_submission_removed(counts, action, expected):
    assert ended_by_person(rollup_status(counts), counts, action) == expected
