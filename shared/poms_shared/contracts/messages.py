"""Commands (imperative) and events (past tense) exchanged by the services."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """Base of every payload; ``kind`` decides the routing-key prefix."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[Literal["command", "event"]]
    schema_version: ClassVar[int] = 1


class Command(Message):
    kind: ClassVar[Literal["command", "event"]] = "command"


class Event(Message):
    kind: ClassVar[Literal["command", "event"]] = "event"


# ---- commands -------------------------------------------------------------------------


class LaunchCampaign(Command):
    """Launch the unique leading stage of a campaign."""

    campaign_id: int
    launcher: str
    test: bool = False


class LaunchStage(Command):
    """Launch one stage, optionally on a given dataset (dependent launches).

    ``request_id`` names a ``launch_requests`` row in which the campaign manager records
    the outcome (submission id, held, or the error) for the caller waiting on it.
    """

    stage_id: int
    launcher: str
    dataset_override: str | None = None
    test: bool = False
    parent_submission_id: int | None = None
    param_overrides: list[tuple[str, str]] = Field(default_factory=list)
    commands_only: bool = False
    request_id: str | None = None
    recovery_type: str | None = None
    actor: str | None = None  # who asked, when launching as another user


class RecoverSubmission(Command):
    """A person asks for a recovery of one type for a Completed or Located submission."""

    submission_id: int
    recovery_type: str
    actor: str
    request_id: str | None = None


class LaunchSubmission(Command):
    """Run the launch of an already allocated submission.

    ``commands_only``: compose and store the runnable command, do not run it (a
    reservation made by "show commands").
    """

    submission_id: int
    commands_only: bool = False


class JobControl(Command):
    """Act on the batch jobs of submissions: kill → Removed, cancel → Cancelled."""

    submission_ids: list[int]
    action: Literal["kill", "cancel", "hold", "release"]
    actor: str


class SetSubmissionStatus(Command):
    """A person's status decision: approve (Completed), reject (Removed), kick, force-locate."""

    submission_id: int
    status: str
    actor: str
    reason: str = ""


class AbortLaunch(Command):
    """Kill a launch command that is still running (its whole process group)."""

    submission_id: int
    actor: str


class TestLoginSetup(Command):
    """Run a login setup on its host with a script that prints the environment (§6.14).

    No stage or submission is involved; the output goes to ``log_name`` under the login
    setup's ``template_tests_<id>`` log directory.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    login_setup_id: int
    actor: str
    log_name: str


# ---- events ---------------------------------------------------------------------------


class SubmissionLaunched(Event):
    submission_id: int
    batch_id: str | None
    backend: str
    command: str
    log_path: str


class LaunchFailed(Event):
    submission_id: int
    reason: str
    log_path: str | None = None


class JobEvent(BaseModel):
    """One observation of one batch job; ``seq`` orders observations from one source."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source: str
    backend: str
    batch_job_id: str
    submission_id: int
    state: Literal["idle", "running", "held", "completed", "failed", "cancelled", "removed"]
    seq: int
    at: datetime
    exit_code: int | None = None
    node: str | None = None
    log_path: str | None = None
    # Where the job ran and what it used so far (cumulative); None: not told.
    site: str | None = None
    cpu_seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    wall_seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    memory_mb: int | None = Field(default=None, ge=0)  # peak resident memory
    memory_requested_mb: int | None = Field(default=None, ge=0)


class JobEventsReported(Event):
    events: list[JobEvent]


class DeclaredFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    location: str | None = None
    size: int | None = None
    parents: list[str] = Field(default_factory=list)
    software_version: str | None = None
    metadata: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class InputReport(BaseModel):
    """What became of one input file of a submission, as its job reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    status: Literal["delivered", "consumed", "failed", "skipped"]


class FilesDeclared(Event):
    """Output files declared by a job (through the API or the local backend), and what
    became of its inputs. An output naming an input as parent marks that input consumed."""

    experiment: str
    submission_id: int | None = None
    batch_job_id: str | None = None
    files: list[DeclaredFile] = Field(default_factory=list)
    inputs: list[InputReport] = Field(default_factory=list)


class JobControlApplied(Event):
    """The batch backend carried out (or refused) a job-control action on a submission."""

    submission_id: int
    action: Literal["kill", "cancel", "hold", "release"]
    ok: bool
    detail: str = ""


class SubmissionStatusChanged(Event):
    submission_id: int
    stage_id: int
    campaign_id: int | None
    old_status: str | None
    new_status: str


class SubmissionCompleted(Event):
    submission_id: int
    stage_id: int
    campaign_id: int | None


class SubmissionLocated(Event):
    submission_id: int
    stage_id: int
    campaign_id: int | None


class CampaignCompleted(Event):
    campaign_id: int


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (
        LaunchCampaign,
        LaunchStage,
        RecoverSubmission,
        LaunchSubmission,
        JobControl,
        AbortLaunch,
        TestLoginSetup,
        SetSubmissionStatus,
        SubmissionLaunched,
        JobControlApplied,
        LaunchFailed,
        JobEventsReported,
        FilesDeclared,
        SubmissionStatusChanged,
        SubmissionCompleted,
        SubmissionLocated,
        CampaignCompleted,
    )
}
