"""Configuration tables: experiments, people, templates, campaigns and stages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from poms_shared.db.base import Base, utcnow


class Experiment(Base):
    __tablename__ = "experiments"
    experiment: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    logbook: Mapped[str | None] = mapped_column(Text)
    snow_url: Mapped[str | None] = mapped_column(Text)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Experimenter(Base):
    __tablename__ = "experimenters"
    experimenter_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    root: Mapped[bool] = mapped_column(Boolean, default=False)
    session_experiment: Mapped[str | None] = mapped_column(String(32))
    session_role: Mapped[str] = mapped_column(String(32), default="analysis")
    last_login: Mapped[datetime | None]


class Membership(Base):
    __tablename__ = "experiments_experimenters"
    experimenter_id: Mapped[int] = mapped_column(
        ForeignKey("experimenters.experimenter_id"), primary_key=True
    )
    experiment: Mapped[str] = mapped_column(ForeignKey("experiments.experiment"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), default="analysis")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    __table_args__ = (
        CheckConstraint(
            "role in ('analysis','production-shifter','production','superuser')", name="role"
        ),
    )


class ApiToken(Base):
    """A bearer token for scripts: only its SHA-256 is kept; the token is shown once."""

    __tablename__ = "api_tokens"
    token_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experimenter_id: Mapped[int] = mapped_column(
        ForeignKey("experimenters.experimenter_id"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # to recognise it in a list
    experiment: Mapped[str | None] = mapped_column(ForeignKey("experiments.experiment"))
    role: Mapped[str | None] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime | None]
    revoked: Mapped[datetime | None]
    last_used: Mapped[datetime | None]


class _Owned:
    """Ownership and audit columns shared by the configuration tables."""

    creator_id: Mapped[int | None] = mapped_column(ForeignKey("experimenters.experimenter_id"))
    creator_role: Mapped[str] = mapped_column(String(32), default="production")
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updater_id: Mapped[int | None] = mapped_column(ForeignKey("experimenters.experimenter_id"))
    updated: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class LoginSetup(_Owned, Base):
    __tablename__ = "login_setups"
    login_setup_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment: Mapped[str] = mapped_column(ForeignKey("experiments.experiment"))
    name: Mapped[str] = mapped_column(String(255))
    launch_host: Mapped[str] = mapped_column(Text)
    launch_account: Mapped[str] = mapped_column(Text)
    launch_setup: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    __table_args__ = (UniqueConstraint("experiment", "name"),)


class RecoveryType(Base):
    __tablename__ = "recovery_types"
    recovery_type_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class JobType(_Owned, Base):
    __tablename__ = "job_types"
    job_type_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment: Mapped[str] = mapped_column(ForeignKey("experiments.experiment"))
    name: Mapped[str] = mapped_column(String(255))
    launch_script: Mapped[str] = mapped_column(Text)
    definition_parameters: Mapped[list[Any]] = mapped_column(default=list)
    input_files_per_job: Mapped[int] = mapped_column(Integer, default=0)
    output_files_per_job: Mapped[int] = mapped_column(Integer, default=0)
    output_file_patterns: Mapped[str] = mapped_column(Text, default="%")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    recoveries: Mapped[list[JobTypeRecovery]] = relationship(
        order_by="JobTypeRecovery.recovery_order", cascade="all, delete-orphan"
    )
    __table_args__ = (UniqueConstraint("experiment", "name"),)


class JobTypeRecovery(Base):
    """One entry of a job type's ordered recovery plan."""

    __tablename__ = "job_type_recoveries"
    job_type_id: Mapped[int] = mapped_column(ForeignKey("job_types.job_type_id"), primary_key=True)
    recovery_order: Mapped[int] = mapped_column(Integer, primary_key=True)
    recovery_type_id: Mapped[int] = mapped_column(ForeignKey("recovery_types.recovery_type_id"))
    param_overrides: Mapped[list[Any]] = mapped_column(default=list)
    recovery_type: Mapped[RecoveryType] = relationship(lazy="joined")


class Campaign(_Owned, Base):
    __tablename__ = "campaigns"
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment: Mapped[str] = mapped_column(ForeignKey("experiments.experiment"))
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    campaign_type: Mapped[str | None] = mapped_column(String(16))
    defaults: Mapped[dict[str, Any]] = mapped_column(default=dict)
    positions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    campaign_keywords: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stages: Mapped[list[CampaignStage]] = relationship(
        back_populates="campaign", order_by="CampaignStage.campaign_stage_id"
    )
    tags: Mapped[list[Tag]] = relationship(secondary="campaigns_tags")
    __table_args__ = (
        UniqueConstraint("experiment", "name"),
        CheckConstraint("campaign_type is null or campaign_type = 'test'", name="type"),
    )


class Tag(Base):
    __tablename__ = "tags"
    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment: Mapped[str] = mapped_column(ForeignKey("experiments.experiment"))
    tag_name: Mapped[str] = mapped_column(String(100))
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("experimenters.experimenter_id"))
    creator_role: Mapped[str] = mapped_column(String(32), default="production")
    __table_args__ = (UniqueConstraint("experiment", "tag_name"),)


class CampaignTag(Base):
    __tablename__ = "campaigns_tags"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.campaign_id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.tag_id"), primary_key=True)


class CampaignStage(_Owned, Base):
    __tablename__ = "campaign_stages"
    campaign_stage_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.campaign_id"))
    experiment: Mapped[str] = mapped_column(ForeignKey("experiments.experiment"))
    name: Mapped[str] = mapped_column(String(255))
    job_type_id: Mapped[int] = mapped_column(ForeignKey("job_types.job_type_id"))
    login_setup_id: Mapped[int] = mapped_column(ForeignKey("login_setups.login_setup_id"))
    vo_role: Mapped[str] = mapped_column(String(32), default="Production")
    software_version: Mapped[str] = mapped_column(Text, default="")
    dataset: Mapped[str] = mapped_column(Text, default="")
    cs_split_type: Mapped[str | None] = mapped_column(Text)
    cs_last_split: Mapped[int | None] = mapped_column(Integer)
    test_split_type: Mapped[str | None] = mapped_column(Text)
    param_overrides: Mapped[list[Any]] = mapped_column(default=list)
    test_param_overrides: Mapped[list[Any] | None] = mapped_column(default=None)
    merge_overrides: Mapped[bool] = mapped_column(Boolean, default=False)
    completion_type: Mapped[str] = mapped_column(String(16), default="located")
    completion_pct: Mapped[float] = mapped_column(Float, default=95.0)
    campaign_stage_type: Mapped[str] = mapped_column(String(16), default="regular")
    output_ancestor_depth: Mapped[int] = mapped_column(Integer, default=1)
    default_clear_cronjob: Mapped[bool] = mapped_column(Boolean, default=True)
    # Failed when failed jobs > failed_ratio × completed jobs; None: the reference's 0.5
    failed_ratio: Mapped[float | None] = mapped_column(Float, default=None)
    # Located anyway this many hours after Completed; None: never by time alone
    located_after_hours: Mapped[float | None] = mapped_column(Float, default=None)
    hold_experimenter_id: Mapped[int | None] = mapped_column(
        ForeignKey("experimenters.experimenter_id")
    )
    role_held_with: Mapped[str | None] = mapped_column(String(32))
    campaign: Mapped[Campaign | None] = relationship(back_populates="stages")
    job_type: Mapped[JobType] = relationship(lazy="joined")
    login_setup: Mapped[LoginSetup] = relationship(lazy="joined")
    __table_args__ = (
        UniqueConstraint("campaign_id", "name"),
        CheckConstraint("completion_type in ('located','complete')", name="completion_type"),
        CheckConstraint("completion_pct > 0 and completion_pct <= 100", name="completion_pct"),
        CheckConstraint(
            "campaign_stage_type in ('test','generator','approval','regular','datatransfer')",
            name="stage_type",
        ),
    )


class CampaignDependency(Base):
    """Edge upstream → downstream; downstream is launched on upstream outputs."""

    __tablename__ = "campaign_dependencies"
    campaign_dep_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upstream_stage_id: Mapped[int] = mapped_column(ForeignKey("campaign_stages.campaign_stage_id"))
    downstream_stage_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_stages.campaign_stage_id")
    )
    file_patterns: Mapped[str] = mapped_column(Text, default="%")
    upstream: Mapped[CampaignStage] = relationship(foreign_keys=[upstream_stage_id])
    downstream: Mapped[CampaignStage] = relationship(foreign_keys=[downstream_stage_id])
