"""Run-time tables: submissions, jobs, files, datasets, holds, schedules, audit, outbox, inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from poms_shared.db.base import Base, utcnow
from poms_shared.db.models import CampaignStage


class SubmissionStatusRow(Base):
    """Vocabulary of statuses with their ordered ids (seeded by the first migration)."""

    __tablename__ = "submission_statuses"
    status_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(32), unique=True)


class ConfigSnapshot(Base):
    """Frozen copy of a stage, job type or login setup as it was at a launch."""

    __tablename__ = "config_snapshots"
    snapshot_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    live_id: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    created: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("kind", "live_id", "content_hash"),)


class Submission(Base):
    __tablename__ = "submissions"
    submission_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_stage_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_stages.campaign_stage_id"), index=True
    )
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("experimenters.experimenter_id"))
    launcher: Mapped[str] = mapped_column(String(128), default="")
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime | None] = mapped_column(default=utcnow)
    # Current status, kept in the same transaction as each history row so that listing
    # and filtering never has to scan the history; the history stays the record.
    status_id: Mapped[int] = mapped_column(ForeignKey("submission_statuses.status_id"), index=True)
    submission_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    command_executed: Mapped[str | None] = mapped_column(Text)
    project: Mapped[str | None] = mapped_column(Text)
    batch_backend: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(255), index=True)
    launch_log: Mapped[str | None] = mapped_column(Text)
    files_consumed: Mapped[int | None] = mapped_column(Integer)
    files_generated: Mapped[int | None] = mapped_column(Integer)
    stage_snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("config_snapshots.snapshot_id")
    )
    job_type_snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("config_snapshots.snapshot_id")
    )
    login_setup_snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("config_snapshots.snapshot_id")
    )
    recovery_parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.submission_id"), index=True
    )
    recovery_position: Mapped[int | None] = mapped_column(Integer)
    stage: Mapped[CampaignStage] = relationship(lazy="joined")
    history: Mapped[list[SubmissionHistory]] = relationship(
        order_by="SubmissionHistory.history_id", cascade="all, delete-orphan"
    )


# Launches on a submission's output name it in their parameters; its page lists them.
Index("ix_submissions_parent", Submission.submission_params["parent"].as_integer())


class SubmissionHistory(Base):
    __tablename__ = "submission_histories"
    history_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.submission_id"), index=True)
    status_id: Mapped[int] = mapped_column(ForeignKey("submission_statuses.status_id"))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    __tablename__ = "jobs"
    job_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.submission_id"))
    backend: Mapped[str] = mapped_column(String(32))
    batch_job_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    node: Mapped[str | None] = mapped_column(Text)
    log_path: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated: Mapped[datetime] = mapped_column(default=utcnow)
    # Where it ran and what it used, as far as the batch system or the job told.
    site: Mapped[str | None] = mapped_column(Text)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    memory_mb: Mapped[int | None] = mapped_column(Integer)  # peak resident memory used
    memory_requested_mb: Mapped[int | None] = mapped_column(Integer)
    # Some readers (file declarations, the events API) name a job without its backend.
    # A submission's jobs in id order: its page reads them a page at a time without
    # walking the primary key past every older job.
    __table_args__ = (
        UniqueConstraint("backend", "batch_job_id"),
        Index("ix_jobs_batch_job_id", "batch_job_id"),
        Index("ix_jobs_submission_id_job_id", "submission_id", "job_id"),
    )


class File(Base):
    """A file known to the local catalog; ``location`` set means it is located."""

    __tablename__ = "files"
    file_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment: Mapped[str] = mapped_column(ForeignKey("experiments.experiment"))
    name: Mapped[str] = mapped_column(String(512))
    location: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    software_version: Mapped[str | None] = mapped_column(Text)
    file_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    producing_submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.submission_id"), index=True
    )
    producing_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.job_id"))
    __table_args__ = (UniqueConstraint("experiment", "name"),)


class FileParent(Base):
    __tablename__ = "file_parents"
    file_id: Mapped[int] = mapped_column(ForeignKey("files.file_id"), primary_key=True)
    parent_file_id: Mapped[int] = mapped_column(ForeignKey("files.file_id"), primary_key=True)
    __table_args__ = (Index("ix_file_parents_parent", "parent_file_id"),)


class SubmissionFile(Base):
    """An input file of a submission and what became of it."""

    __tablename__ = "submission_files"
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.submission_id"), primary_key=True
    )
    file_id: Mapped[int] = mapped_column(ForeignKey("files.file_id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="delivered")
    # the job that last reported on this input (a consumed file of a failed job is suspect)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.job_id"))
    updated: Mapped[datetime | None] = mapped_column(default=None)


class Dataset(Base):
    """A named dataset: a frozen list of files (the local catalog's definitions)."""

    __tablename__ = "datasets"
    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment: Mapped[str] = mapped_column(ForeignKey("experiments.experiment"))
    name: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(default=utcnow)
    creator: Mapped[str] = mapped_column(String(128), default="")
    __table_args__ = (UniqueConstraint("experiment", "name"),)


class DatasetFile(Base):
    __tablename__ = "dataset_files"
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.dataset_id"), primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.file_id"), primary_key=True)


class HeldLaunch(Base):
    __tablename__ = "held_launches"
    held_launch_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_stage_id: Mapped[int] = mapped_column(ForeignKey("campaign_stages.campaign_stage_id"))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    parent_submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.submission_id")
    )
    dataset: Mapped[str | None] = mapped_column(Text)
    param_overrides: Mapped[list[Any]] = mapped_column(default=list)
    launcher: Mapped[str] = mapped_column(String(128))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    # set for a held recovery: parent_submission_id is then the submission it recovers
    recovery_type: Mapped[str | None] = mapped_column(String(64))


class Schedule(Base):
    __tablename__ = "schedules"
    schedule_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_stage_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_stages.campaign_stage_id"), unique=True
    )
    cron: Mapped[str] = mapped_column(String(128))
    scheduled_by: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_fire: Mapped[datetime | None]
    last_fired: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    audit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    experiment: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(255))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class OutboxMessage(Base):
    """A message committed with the change that implies it; relayed to the bus after commit."""

    __tablename__ = "outbox"
    outbox_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    routing_key: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class InboxMessage(Base):
    """Message ids already applied by a consumer, written in the handler's transaction."""

    __tablename__ = "inbox"
    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class LaunchRequest(Base):
    """A launch asked for by a person or script, and what came of it.

    The web writes it with the ``LaunchStage`` command; the campaign manager fills in the
    outcome, so the caller can answer with the submission id, a hold, or the error.
    """

    __tablename__ = "launch_requests"
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    campaign_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_stages.campaign_stage_id")
    )
    actor: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.submission_id"))
    held_launch_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class SystemFlag(Base):
    """Switches that apply to the whole installation (e.g. the global launch hold)."""

    __tablename__ = "system_flags"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
