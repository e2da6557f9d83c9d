"""Prometheus metrics of the tracker (the shared ones are in ``poms_shared.metrics``)."""

from __future__ import annotations

from collections import Counter as Counter_
from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from poms_shared.contracts.messages import JobEvent

EVENT_LAG = Histogram(
    "poms_tracker_event_lag_seconds",
    "Seconds from a job event's observation (its 'at') to its ingestion by the tracker",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
)
EVENTS_INGESTED = Counter(
    "poms_tracker_events_ingested_total",
    "Events ingested by the tracker: job events by job state, 'file' per declared output,"
    " 'input' per input report",
    ["kind"],
)
INPUT_UPDATES = Counter(
    "poms_tracker_input_status_updates_total",
    "Input files of submissions moved forward to a status",
    ["status"],
)
LAUNCHES_TIMED_OUT = Counter(
    "poms_tracker_launch_timeouts_total", "Submissions made LaunchFailed for staying New too long"
)

DRIFT_FOUND = Counter(
    "poms_tracker_drift_total",
    "Disagreements the reconciler found, once each when first seen: missed_terminal,"
    " unreported_job, unknown_job (batch side), missing_output (catalog side)",
    ["kind"],
)
DRIFT_REPAIRED = Counter(
    "poms_tracker_drift_repairs_total",
    "Job events the reconciler applied: a missed terminal state, an unreported job created,"
    " a job unknown to its backend past the grace failed",
    ["kind"],
)
DRIFT_OPEN = Gauge(
    "poms_tracker_drift_open",
    "Open (flagged, not repaired) findings after the last reconciler pass",
    ["kind"],
)
DESCRIBE_ERRORS = Counter(
    "poms_tracker_reconcile_backend_errors_total",
    "Reconciler passes that could not ask a batch backend (its jobs were left alone)",
    ["backend"],
)


def observe_job_events(events: Iterable[JobEvent], now: datetime | None = None) -> None:
    """Count the events by state and record how late each one arrived."""
    now = now or datetime.now(UTC)
    states: Counter_[str] = Counter_()
    for event in events:
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
        EVENT_LAG.observe(max(0.0, (now - at).total_seconds()))  # clock skew is not lag
        states[event.state] += 1
    for state, n in states.items():
        EVENTS_INGESTED.labels(state).inc(n)
