"""The reconciler's rules: what drift is, when it counts, what is repaired, what only flagged."""

from datetime import UTC, datetime, timedelta

import pytest

from poms_shared.domain.statuses import JobState
from poms_tracker.bootstrap import reconcile_timing
from poms_tracker.domain.drift import (
    MISSED_TERMINAL,
    MISSING_OUTPUT,
    OPEN,
    REPAIRED,
    RESOLVED,
    SUSPECTED,
    UNKNOWN_JOB,
    UNREPORTED_JOB,
    BackendJob,
    Drift,
    Finding,
    Grace,
    TrackedJob,
    backend_name,
    cluster_of,
    compare_jobs,
    local_path,
    plan,
    read_findings,
    seen_for,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RUNNING = TrackedJob(JobState.RUNNING, 4)
DONE = BackendJob("completed", 0, "node1")
DEFAULT = Grace()


@pytest.mark.parametrize(
    ("tracked", "seen", "expected"),
    [
        ({"1.0@b": RUNNING}, {"1.0@b": BackendJob("running")}, []),
        ({"1.0@b": RUNNING}, {"1.0@b": DONE}, [(MISSED_TERMINAL, "1.0@b")]),
        ({"1.0@b": RUNNING}, {"1.0@b": BackendJob("removed")}, [(MISSED_TERMINAL, "1.0@b")]),
        ({"1.0@b": TrackedJob(JobState.IDLE, 1)}, {}, [(UNKNOWN_JOB, "1.0@b")]),
        ({"1.0@b": RUNNING}, {"1.0@b": None}, [(UNKNOWN_JOB, "1.0@b")]),
        # a job the tracker has seen end is never compared again
        ({"1.0@b": TrackedJob(JobState.FAILED, 3)}, {}, []),
        ({"1.0@b": TrackedJob(JobState.COMPLETED, 3)}, {"1.0@b": BackendJob("running")}, []),
        ({}, {"1.1@b": BackendJob("idle")}, [(UNREPORTED_JOB, "1.1@b")]),
        ({}, {"1.1@b": DONE}, [(UNREPORTED_JOB, "1.1@b")]),
        ({}, {"1.1@b": None}, []),  # nobody knows it: nothing to say
        # a non-terminal difference is the poller's to report, not drift
        ({"1.0@b": TrackedJob(JobState.IDLE, 1)}, {"1.0@b": BackendJob("running")}, []),
    ],
)
def test_jobs_disagree_only_on_endings_unknown_jobs_and_untracked_jobs(tracked, seen, expected):
    assert [(d.kind, d.subject) for d in compare_jobs(tracked, seen)] == expected


ANSWER = {
    "1.0@b": BackendJob("running"),
    "1.1@b": BackendJob("completed", 0),
    "1.2@b": None,
    "2.0@b": BackendJob("idle"),
}


@pytest.mark.parametrize(
    ("tracked", "cluster", "expected"),
    [
        # tracked jobs get the backend's word, None when it has none
        (["1.0@b", "3.0@b"], None, {"1.0@b": ANSWER["1.0@b"], "3.0@b": None}),
        # plus the jobs it knows of the submission's own cluster, and no other cluster's
        (["1.0@b"], ("1", "b"), {"1.0@b": ANSWER["1.0@b"], "1.1@b": ANSWER["1.1@b"]}),
        ([], ("2", "b"), {"2.0@b": ANSWER["2.0@b"]}),
        ([], ("1", "elsewhere"), {}),
    ],
)
def test_a_submission_sees_the_backends_word_on_its_jobs_and_its_own_cluster(
    tracked, cluster, expected
):
    assert seen_for(tracked, ANSWER, cluster) == expected


def after(passes: int, drifts: list[Drift], tracked=None, grace=DEFAULT, step=300.0):
    """Findings and repairs of ``passes`` passes ``step`` seconds apart; a repair ends its
    drift (the tracker then agrees with the backend)."""
    findings: tuple[Finding, ...] = ()
    repairs = []
    tracked = tracked or {"1.0@b": RUNNING}
    for n in range(passes):
        now = T0 + timedelta(seconds=n * step)
        result = plan(findings, drifts, tracked, set(tracked), now, grace)
        findings = result.findings
        repairs.append(result.repairs)
        drifts = [d for d in drifts if d.subject not in {r.job for r in result.repairs}]
    return list(findings), repairs


@pytest.mark.parametrize(
    ("drift", "passes", "status", "seen", "repaired_at"),
    [
        # certain: applied once confirmed by a second pass, then never again
        (Drift(MISSED_TERMINAL, "1.0@b", DONE), 1, SUSPECTED, 1, None),
        (Drift(MISSED_TERMINAL, "1.0@b", DONE), 2, REPAIRED, 2, 1),
        (Drift(UNREPORTED_JOB, "1.1@b", DONE), 4, REPAIRED, 2, 1),
        # uncertain: flagged, failed only after 3 passes and 600 s
        (Drift(UNKNOWN_JOB, "1.0@b"), 2, OPEN, 2, None),
        (Drift(UNKNOWN_JOB, "1.0@b"), 4, REPAIRED, 3, 2),
        (Drift(MISSING_OUTPUT, "out.root"), 9, OPEN, 9, None),
    ],
)
def test_drift_is_confirmed_then_repaired_or_flagged(drift, passes, status, seen, repaired_at):
    findings, repairs = after(passes, [drift])
    assert [(f.kind, f.subject, f.status, f.passes) for f in findings] == [
        (drift.kind, drift.subject, status, seen)
    ]
    assert findings[0].first_seen == T0
    assert findings[0].last_seen == T0 + timedelta(seconds=(seen - 1) * 300)
    done = [n for n, r in enumerate(repairs) if r]
    assert done == ([] if repaired_at is None else [repaired_at])


def test_a_missed_ending_is_applied_with_the_backends_state_above_the_trackers_seq():
    _, repairs = after(2, [Drift(MISSED_TERMINAL, "1.0@b", BackendJob("failed", 3, "n7"))])
    [repair] = repairs[1]
    assert (repair.job, repair.state, repair.exit_code, repair.node) == ("1.0@b", "failed", 3, "n7")
    assert repair.seq == RUNNING.seq + 1


def test_an_unreported_job_is_created_below_any_real_observation():
    _, repairs = after(2, [Drift(UNREPORTED_JOB, "1.1@b", BackendJob("running"))])
    [repair] = repairs[1]
    assert (repair.state, repair.seq) == ("running", 0)


@pytest.mark.parametrize(
    ("grace", "step", "failed_at"),
    [
        (Grace(passes=3, seconds=600), 300, 2),  # third pass, 600 s after the first
        (Grace(passes=3, seconds=600), 10, None),  # three quick passes are not enough time
        (Grace(passes=3, seconds=600), 200, 3),  # ... until the time has passed too
        (Grace(passes=5, seconds=0), 1, 4),
        (Grace(confirm=1, passes=1, seconds=0), 1, 0),
    ],
)
def test_an_unknown_job_fails_after_both_the_passes_and_the_seconds(grace, step, failed_at):
    _, repairs = after(5, [Drift(UNKNOWN_JOB, "1.0@b")], grace=grace, step=step)
    done = [n for n, r in enumerate(repairs) if r]
    assert done == ([] if failed_at is None else [failed_at])
    if failed_at is not None:
        [repair] = repairs[failed_at]
        assert (repair.state, repair.exit_code, repair.seq) == ("failed", None, 5)
        assert "unknown to the backend" in repair.reason


def test_a_suspicion_the_next_pass_does_not_confirm_is_forgotten():
    tracked = {"1.0@b": RUNNING}
    first = plan([], [Drift(UNKNOWN_JOB, "1.0@b")], tracked, {"1.0@b"}, T0, Grace())
    assert [f.status for f in first.findings] == [SUSPECTED]
    assert first.confirmed == ()
    second = plan(first.findings, [], tracked, {"1.0@b"}, T0, Grace())
    assert second.findings == () and second.confirmed == ()


def test_an_open_finding_no_longer_seen_is_resolved_and_counted_again_if_it_returns():
    findings, _ = after(2, [Drift(UNKNOWN_JOB, "1.0@b")])
    later = T0 + timedelta(hours=1)
    resolved = plan(findings, [], {"1.0@b": RUNNING}, {"1.0@b"}, later, Grace())
    [finding] = resolved.findings
    assert (finding.status, finding.last_seen) == (RESOLVED, later)
    again = plan(resolved.findings, [Drift(UNKNOWN_JOB, "1.0@b")], {}, set(), later, Grace())
    assert [(f.status, f.passes, f.first_seen) for f in again.findings] == [(SUSPECTED, 1, later)]


def test_a_finding_about_something_not_looked_at_is_left_as_it_was():
    findings, _ = after(2, [Drift(UNKNOWN_JOB, "1.0@b")])
    kept = plan(findings, [], {}, set(), T0 + timedelta(hours=1), Grace())
    assert list(kept.findings) == findings


def test_drift_is_counted_once_when_it_is_confirmed():
    confirmed = []
    findings: tuple[Finding, ...] = ()
    for _ in range(4):
        result = plan(findings, [Drift(MISSING_OUTPUT, "f")], {}, {"f"}, T0, Grace())
        findings = result.findings
        confirmed.append(len(result.confirmed))
    assert confirmed == [0, 1, 0, 0]
    assert result.open_by_kind()[MISSING_OUTPUT] == 1


def test_findings_are_stored_as_plain_values_and_read_back():
    findings, _ = after(2, [Drift(UNKNOWN_JOB, "1.0@b"), Drift(MISSING_OUTPUT, "a.root")])
    stored = [f.to_dict() for f in findings]
    by_kind = {s["finding"]: s for s in stored}
    assert {"job": "1.0@b", "status": OPEN, "passes": 2}.items() <= by_kind[UNKNOWN_JOB].items()
    assert by_kind[MISSING_OUTPUT]["file"] == "a.root" and "job" not in by_kind[MISSING_OUTPUT]
    assert by_kind[UNKNOWN_JOB]["first_seen"] == T0.isoformat()
    assert by_kind[UNKNOWN_JOB]["last_seen"] == (T0 + timedelta(seconds=300)).isoformat()
    junk = [None, {"finding": "bogus", "job": "x"}, {"finding": UNKNOWN_JOB, "job": "y"}]
    assert read_findings([*stored, *junk]) == findings
    assert read_findings("not a list") == []


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ("/data/out.root", "/data/out.root"),
        ("file:///data/out.root", "/data/out.root"),
        ("out.root", None),  # relative: relative to what?
        ("enstore:/pnfs/dune/out.root", None),
        ("root://eos.cern.ch//eos/out.root", None),
        ("", None),
        (None, None),
    ],
)
def test_only_locations_naming_a_path_on_this_host_are_checked(location, path):
    assert local_path(location) == path


@pytest.mark.parametrize(
    ("ref", "cluster"),
    [
        ("12@local", ("12", "local")),
        ("12.3@local", ("12", "local")),
        ("7_2@slurm", ("7", "slurm")),
        ("4242.1@jobsub01.fnal.gov", ("4242", "jobsub01.fnal.gov")),
        ("4242.0", ("4242", "")),
    ],
)
def test_jobs_belong_to_the_cluster_and_place_their_id_names(ref, cluster):
    assert cluster_of(ref) == cluster


@pytest.mark.parametrize(
    ("batch_id", "known", "name"),
    [
        ("5@local", ["local", "slurm"], "local"),
        ("5@slurm", ["local", "slurm"], "slurm"),
        ("4242@jobsub01.fnal.gov", ["local", "jobsub"], "jobsub"),
        ("4242@jobsub01.fnal.gov", ["local"], None),
        ("5@elsewhere", ["local"], None),
        ("5", ["local"], None),
    ],
)
def test_a_batch_id_names_its_backend(batch_id, known, name):
    assert backend_name(batch_id, known) == name


# ---- settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POMS_RECONCILE_INTERVAL", "soon"),
        ("POMS_RECONCILE_INTERVAL", "0"),
        ("POMS_RECONCILE_INTERVAL", "-5"),
        ("POMS_RECONCILE_INTERVAL", "nan"),
        ("POMS_RECONCILE_GRACE", "-1"),
        ("POMS_RECONCILE_GRACE", "inf"),
    ],
)
def test_a_bad_reconciler_setting_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a number of seconds.*{value!r}"):
        reconcile_timing({name: value})


def test_the_reconciler_settings_default_to_five_minutes_and_a_ten_minute_grace() -> None:
    assert reconcile_timing({}) == (300.0, Grace(seconds=600.0))
    assert reconcile_timing({"POMS_RECONCILE_GRACE": "0"})[1].seconds == 0.0
