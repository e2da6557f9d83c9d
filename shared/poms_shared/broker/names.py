"""Every exchange, queue and routing key of the system, built in one place."""

from __future__ import annotations

from dataclasses import dataclass

EXCHANGE = "poms"
DEAD_LETTER_EXCHANGE = "poms.dlx"
DEAD_LETTER_QUEUE = "poms.dead-letter"


def routing_key(kind: str, message_type: str) -> str:
    """``command.LaunchSubmission`` / ``event.SubmissionLocated``."""
    return f"{kind}.{message_type}"


@dataclass(frozen=True)
class QueueSpec:
    """A durable queue owned by one (service, purpose) and the keys it is bound to."""

    service: str
    purpose: str
    bindings: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"poms.{self.service}.{self.purpose}"


CAMPAIGN_MANAGER_COMMANDS = QueueSpec(
    "campaign-manager",
    "commands",
    (
        routing_key("command", "LaunchCampaign"),
        routing_key("command", "LaunchStage"),
        routing_key("command", "RecoverSubmission"),
    ),
)
CAMPAIGN_MANAGER_EVENTS = QueueSpec(
    "campaign-manager",
    "events",
    (
        routing_key("event", "SubmissionStatusChanged"),
        routing_key("event", "SubmissionCompleted"),
        routing_key("event", "SubmissionLocated"),
        routing_key("event", "CampaignCompleted"),
    ),
)
LAUNCHER_COMMANDS = QueueSpec(
    "launcher",
    "commands",
    (
        routing_key("command", "LaunchSubmission"),
        routing_key("command", "JobControl"),
        routing_key("command", "AbortLaunch"),
        routing_key("command", "TestLoginSetup"),
    ),
)
TRACKER_LAUNCHES = QueueSpec(
    "tracker",
    "launches",
    (
        routing_key("event", "SubmissionLaunched"),
        routing_key("event", "LaunchFailed"),
        routing_key("event", "JobControlApplied"),
        routing_key("command", "SetSubmissionStatus"),
    ),
)
TRACKER_JOB_EVENTS = QueueSpec(
    "tracker",
    "job-events",
    (routing_key("event", "JobEventsReported"), routing_key("event", "FilesDeclared")),
)

ALL_QUEUES: tuple[QueueSpec, ...] = (
    CAMPAIGN_MANAGER_COMMANDS,
    CAMPAIGN_MANAGER_EVENTS,
    LAUNCHER_COMMANDS,
    TRACKER_LAUNCHES,
    TRACKER_JOB_EVENTS,
)
