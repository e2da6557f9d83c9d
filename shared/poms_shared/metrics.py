"""Prometheus metrics common to every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter(
    "poms_messages_consumed_total", "Messages handled and acknowledged", ["queue", "type"]
)
MESSAGES_PUBLISHED = Counter(
    "poms_messages_published_total", "Messages confirmed by the bus", ["routing_key"]
)
MESSAGES_DEAD_LETTERED = Counter(
    "poms_messages_dead_lettered_total", "Messages sent to the dead-letter queue", ["queue"]
)
MESSAGES_REDELIVERED = Counter(
    "poms_messages_requeued_total", "Messages handed back for redelivery after errors", ["queue"]
)
DUPLICATES_SKIPPED = Counter(
    "poms_messages_duplicate_total", "Messages skipped because the inbox had them", ["consumer"]
)
HANDLER_SECONDS = Histogram(
    "poms_handler_seconds",
    "Time spent in message handlers",
    ["queue", "type"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUS_RECONNECTS = Counter("poms_bus_reconnects_total", "Broker reconnections", ["role"])
OUTBOX_PENDING = Gauge("poms_outbox_pending", "Outbox rows not yet relayed")
LOOP_ERRORS = Counter("poms_loop_errors_total", "Errors in periodic loops", ["loop"])
LOCATED_FOLLOW_UPS = Counter(
    "poms_located_follow_ups_total",
    "Located submissions whose lost or dead-lettered event the campaign manager handled late",
)
LAUNCHES = Counter("poms_launches_total", "Launches by outcome", ["outcome"])
SUBMISSION_TRANSITIONS = Counter(
    "poms_submission_transitions_total", "Submission status changes", ["status"]
)
JOB_EVENTS = Counter("poms_job_events_total", "Job events ingested", ["result"])
