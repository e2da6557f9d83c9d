"""Prometheus metrics of the tracker (the shared ones are in ``poms_shared.metrics``)."""

from __future__ import annotations

import bisect
import operator
import threading
from collections import Counter as Counter_
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from poms_shared.contracts.messages import JobEvent

LAG_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


class TallyHistogram(Collector):
    """A label-less histogram fed many equal observations at once: a job-event report
    carries hundreds of events that share their observation time, and one
    ``Histogram.observe`` per event cost the tracker more than writing the job rows.
    Exposed exactly as a ``Histogram`` of the same buckets would be."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = [float(b) for b in buckets]
        self._counts = [0] * (len(self.bounds) + 1)  # the last: above every bound
        self._sum = 0.0
        self._lock = threading.Lock()
        REGISTRY.register(self)

    def observe_many(self, tally: Mapping[float, int]) -> None:
        """Observe each value of ``tally`` as many times as it says."""
        with self._lock:
            for value, times in tally.items():
                self._counts[bisect.bisect_left(self.bounds, value)] += times
                self._sum += value * times

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative, running = [], 0
            for bound, count in zip(
                [*map(floatToGoString, self.bounds), "+Inf"], self._counts, strict=True
            ):
                running += count
                cumulative.append((bound, running))
            total = self._sum
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], cumulative, total)
        yield family


EVENT_LAG = TallyHistogram(
    "poms_tracker_event_lag_seconds",
    "Seconds from a job event's observation (its 'at') to its ingestion by the tracker",
    LAG_BUCKETS,
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


_STATE = operator.attrgetter("state")
_AT = operator.attrgetter("at")


def observe_job_events(events: Iterable[JobEvent], now: datetime | None = None) -> None:
    """Count the events by state and record how late each one arrived."""
    now = now or datetime.now(UTC)
    events = list(events)
    # Tallied by C-level loops: events of one report usually share their state and time.
    states = Counter_(map(_STATE, events))
    lags: Counter_[float] = Counter_()
    for at, n in Counter_(map(_AT, events)).items():
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        lags[max(0.0, (now - at).total_seconds())] += n  # clock skew is not lag
    EVENT_LAG.observe_many(lags)
    for state, n in states.items():
        EVENTS_INGESTED.labels(state).inc(n)
