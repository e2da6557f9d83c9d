"""Store a ``CampaignSpec`` (editor save / .ini upload, §7.4).

Reading one back (export, §7.2) is ``campaign_export.load_campaign_spec``, re-exported here
with the errors of ``campaign_base``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from poms_shared.db.base import utcnow
from poms_shared.db.campaign_base import (
    STAGE_COLUMNS,
    CampaignError,
    CampaignNotFound,
    campaign_stages,
    find_campaign,
)
from poms_shared.db.campaign_export import load_campaign_spec
from poms_shared.db.models import (
    Campaign,
    CampaignDependency,
    CampaignStage,
    Experiment,
    Experimenter,
    JobType,
    JobTypeRecovery,
    LoginSetup,
    RecoveryType,
)
from poms_shared.ini.model import (
    CampaignSpec,
    JobTypeSpec,
    LoginSetupSpec,
    StageFields,
    thaw_pairs,
)

__all__ = [
    "SHARED_EXPERIMENT",
    "CampaignError",
    "CampaignNotFound",
    "SaveResult",
    "load_campaign_spec",
    "save_campaign",
]

# Experiment whose login setups and job types every experiment may use (shared generic entries).
SHARED_EXPERIMENT = "samdev"

_Template = TypeVar("_Template", LoginSetup, JobType)


@dataclass(frozen=True)
class SaveResult:
    """What a save produced: the campaign id, stage ids by name, and warnings for the user."""

    campaign_id: int
    stage_ids: dict[str, int]
    warnings: list[str]


# Columns that are NOT NULL but whose field has no fallback value.
_EMPTY_COLUMNS = {"software_version": "", "dataset": ""}


@dataclass(frozen=True)
class _Who:
    """Who is saving: the target experiment, the author and the role they act in."""

    experiment: str
    user: Experimenter
    role: str

    def created(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "creator_id": self.user.experimenter_id,
            "creator_role": self.role,
            "updater_id": self.user.experimenter_id,
        }


def save_campaign(
    session: Session, spec: CampaignSpec, *, experiment: str, actor: str, role: str
) -> SaveResult:
    """Create or update a campaign from ``spec``; raises ``CampaignError`` and never commits."""
    if session.get(Experiment, experiment) is None:
        raise CampaignError(f"Experiment '{experiment}' does not exist")
    who = _Who(experiment, _experimenter(session, actor), role)
    warnings: list[str] = []
    if spec.experiment is not None and spec.experiment != experiment:
        warnings.append(f"the file names experiment '{spec.experiment}'; saved in '{experiment}'")
    for login_setup in spec.login_setups:
        _create_login_setup(session, login_setup, who, warnings)
    for job_type in spec.job_types:
        _create_job_type(session, job_type, who, warnings)
    session.flush()
    campaign = _upsert_campaign(session, spec, who)
    stage_ids = _save_stages(session, spec, campaign, who)
    for dep in spec.dependencies:
        session.add(
            CampaignDependency(
                upstream_stage_id=stage_ids[dep.upstream],
                downstream_stage_id=stage_ids[dep.downstream],
                file_patterns=dep.file_patterns,
            )
        )
    session.flush()
    return SaveResult(campaign.campaign_id, stage_ids, warnings)


def _experimenter(session: Session, username: str) -> Experimenter:
    user = session.scalars(select(Experimenter).where(Experimenter.username == username)).first()
    if user is None:
        # Until accounts are synchronised from the identity provider, a save creates its author.
        user = Experimenter(username=username)
        session.add(user)
        session.flush()
    return user


def _find(
    session: Session, model: type[_Template], experiment: str, name: str, shared: bool = True
) -> _Template | None:
    """A login setup or job type by name in the experiment, else in the shared experiment."""
    owners = (experiment, SHARED_EXPERIMENT) if shared else (experiment,)
    for owner in dict.fromkeys(owners):
        query = select(model).where(model.experiment == owner, model.name == name)
        found = session.scalars(query).first()
        if found is not None:
            return found
    return None


def _create_login_setup(
    session: Session, spec: LoginSetupSpec, who: _Who, warnings: list[str]
) -> None:
    # Existing templates are never changed by a campaign save; to change one, rename it (§7.4).
    if _find(session, LoginSetup, who.experiment, spec.name, shared=False):
        warnings.append(f"login setup '{spec.name}' already exists and will not change")
        return
    session.add(
        LoginSetup(
            name=spec.name,
            launch_host=spec.host,
            launch_account=spec.account,
            launch_setup=spec.setup,
            **who.created(),
        )
    )


def _create_job_type(session: Session, spec: JobTypeSpec, who: _Who, warnings: list[str]) -> None:
    if _find(session, JobType, who.experiment, spec.name, shared=False):
        warnings.append(f"job type '{spec.name}' already exists and will not change")
        return
    job_type = JobType(
        name=spec.name,
        launch_script=spec.launch_script,
        definition_parameters=thaw_pairs(spec.parameters),
        output_file_patterns=spec.output_file_patterns,
        **who.created(),
    )
    for order, (kind, overrides) in enumerate(spec.recoveries):
        recovery_type = session.scalars(select(RecoveryType).where(RecoveryType.name == kind))
        found = recovery_type.first()
        if found is None:
            message = f"[job_type {spec.name}] recoveries: unknown recovery type '{kind}'"
            raise CampaignError(message)
        item = JobTypeRecovery(recovery_order=order, recovery_type_id=found.recovery_type_id)
        item.param_overrides = thaw_pairs(overrides)
        job_type.recoveries.append(item)
    session.add(job_type)


def _template(
    session: Session, model: type[_Template], who: _Who, stage: str, key: str, name: str | None
) -> _Template:
    """The login setup or job type a stage names (own or default), or ``CampaignError``."""
    found = _find(session, model, who.experiment, name or "")
    if found is None:
        where = f"[campaign_stage {stage}] {key}"
        owners = f"'{who.experiment}' or '{SHARED_EXPERIMENT}'"
        raise CampaignError(f"{where}: {key.replace('_', ' ')} '{name}' not found in {owners}")
    return found


def _upsert_campaign(session: Session, spec: CampaignSpec, who: _Who) -> Campaign:
    campaign = find_campaign(session, who.experiment, spec.name)
    if campaign is None:
        campaign = Campaign(name=spec.name, **who.created())
        session.add(campaign)
    campaign.defaults = spec.defaults.to_json()
    campaign.positions = {label: {"x": x, "y": y} for label, (x, y) in spec.positions.items()}
    campaign.campaign_keywords = dict(spec.keywords)
    campaign.active = spec.state_active
    _touch(campaign, who)
    session.flush()
    return campaign


def _save_stages(
    session: Session, spec: CampaignSpec, campaign: Campaign, who: _Who
) -> dict[str, int]:
    """Update, create and detach stages; clears every dependency row touching them."""
    existing = campaign_stages(session, campaign.campaign_id)
    ids = [row.campaign_stage_id for row in existing]
    dep = CampaignDependency
    touching = or_(dep.upstream_stage_id.in_(ids), dep.downstream_stage_id.in_(ids))
    session.execute(delete(dep).where(touching))
    wanted = {stage.name for stage in spec.stages}
    by_name = {row.name: row for row in existing if row.name in wanted}
    for row in existing:
        if row.name not in wanted:
            # Detached, never deleted: its submissions and history keep pointing at it (§12.4).
            row.campaign_id = None
            _touch(row, who)
    for stage in spec.stages:
        fields = spec.resolved(stage)
        login_setup = _template(
            session, LoginSetup, who, stage.name, "login_setup", fields.login_setup
        )
        job_type = _template(session, JobType, who, stage.name, "job_type", fields.job_type)
        row = by_name.get(stage.name)
        if row is None:
            row = by_name[stage.name] = CampaignStage(name=stage.name, **who.created())
            row.campaign_id = campaign.campaign_id
            session.add(row)
        row.login_setup_id = login_setup.login_setup_id
        row.job_type_id = job_type.job_type_id
        _fill_stage(row, fields)
        _touch(row, who)
    session.flush()
    return {name: row.campaign_stage_id for name, row in by_name.items()}


def _fill_stage(row: CampaignStage, fields: StageFields) -> None:
    values = dict(fields.items())
    for column, key in STAGE_COLUMNS:
        value = values.get(key, _EMPTY_COLUMNS.get(column))
        setattr(row, column, thaw_pairs(value) if isinstance(value, tuple) else value)


def _touch(row: Campaign | CampaignStage, who: _Who) -> None:
    row.updater_id = who.user.experimenter_id
    row.updated = utcnow()
