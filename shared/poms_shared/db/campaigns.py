"""Store a ``CampaignSpec`` (editor save / .ini upload, §7.4) and read one back (export, §7.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from poms_shared.db.base import utcnow
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
    DependencySpec,
    JobTypeSpec,
    LoginSetupSpec,
    StageFields,
    StageSpec,
    freeze_pairs,
    thaw_pairs,
)

# Experiment whose login setups and job types every experiment may use (shared generic entries).
SHARED_EXPERIMENT = "samdev"

_Template = TypeVar("_Template", LoginSetup, JobType)


class CampaignError(Exception):
    """A campaign cannot be saved or loaded as asked; the message says why."""


class CampaignNotFound(CampaignError, LookupError):
    """No campaign of that name in that experiment."""


@dataclass(frozen=True)
class SaveResult:
    """What a save produced: the campaign id, stage ids by name, and warnings for the user."""

    campaign_id: int
    stage_ids: dict[str, int]
    warnings: list[str]


# Stage column ← .ini stage field; the value is stored as resolved (own value, else default).
_STAGE_COLUMNS = (
    ("vo_role", "vo_role"),
    ("software_version", "software_version"),
    ("dataset", "dataset_or_split_data"),
    ("cs_split_type", "cs_split_type"),
    ("completion_type", "completion_type"),
    ("completion_pct", "completion_pct"),
    ("param_overrides", "param_overrides"),
    ("test_param_overrides", "test_param_overrides"),
    ("merge_overrides", "merge_overrides"),
    ("campaign_stage_type", "stage_type"),
    ("output_ancestor_depth", "output_ancestor_depth"),
    ("default_clear_cronjob", "default_clear_cronjob"),
)
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


def load_campaign_spec(session: Session, *, experiment: str, name: str) -> CampaignSpec:
    """The stored campaign as a spec, with the job types and login setups its stages use."""
    campaign = _campaign(session, experiment, name)
    if campaign is None:
        raise CampaignNotFound(f"Campaign '{name}' was not found for '{experiment}' experiment")
    rows = _campaign_stages(session, campaign.campaign_id)
    # The original kept the default dataset under "dataset" (reference Appendix C #13).
    defaults = {"dataset_or_split_data": campaign.defaults.get("dataset"), **campaign.defaults}
    return CampaignSpec(
        name=campaign.name,
        experiment=campaign.experiment,
        poms_role=campaign.creator_role,
        state_active=campaign.active,
        keywords=dict(campaign.campaign_keywords or {}),
        defaults=StageFields.from_json(defaults),
        positions={k: _xy(v) for k, v in (campaign.positions or {}).items()},
        stages=tuple(StageSpec(row.name, _stage_fields(row)) for row in rows),
        login_setups=tuple(_login_setup_spec(t) for t in _used(rows, "login_setup", experiment)),
        job_types=tuple(_job_type_spec(t) for t in _used(rows, "job_type", experiment)),
        dependencies=_dependencies(session, rows),
    )


def _campaign(session: Session, experiment: str, name: str) -> Campaign | None:
    query = select(Campaign).where(Campaign.experiment == experiment, Campaign.name == name)
    return session.scalars(query).first()


def _campaign_stages(session: Session, campaign_id: int) -> list[CampaignStage]:
    query = select(CampaignStage).where(CampaignStage.campaign_id == campaign_id)
    return list(session.scalars(query.order_by(CampaignStage.campaign_stage_id)))


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
    campaign = _campaign(session, who.experiment, spec.name)
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
    existing = _campaign_stages(session, campaign.campaign_id)
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
    for column, key in _STAGE_COLUMNS:
        value = values.get(key, _EMPTY_COLUMNS.get(column))
        setattr(row, column, thaw_pairs(value) if isinstance(value, tuple) else value)


def _touch(row: Campaign | CampaignStage, who: _Who) -> None:
    row.updater_id = who.user.experimenter_id
    row.updated = utcnow()


def _xy(where: Any) -> tuple[float, float]:
    # Positions are stored as {"x": .., "y": ..} like the original editor; accept [x, y] too.
    x, y = (where["x"], where["y"]) if isinstance(where, Mapping) else where
    return float(x), float(y)


def _stage_fields(row: CampaignStage) -> StageFields:
    values = {key: getattr(row, column) for column, key in _STAGE_COLUMNS}
    values.update(login_setup=row.login_setup.name, job_type=row.job_type.name)
    return StageFields(**values)


def _used(rows: Sequence[CampaignStage], attr: str, experiment: str) -> list[Any]:
    """Distinct templates used by the stages, one per name (the experiment's own first)."""
    by_name: dict[str, Any] = {}
    for row in rows:
        template = getattr(row, attr)
        if template.name not in by_name or template.experiment == experiment:
            by_name[template.name] = template
    return [by_name[name] for name in sorted(by_name)]


def _login_setup_spec(row: LoginSetup) -> LoginSetupSpec:
    return LoginSetupSpec(row.name, row.launch_host, row.launch_account, row.launch_setup)


def _job_type_spec(row: JobType) -> JobTypeSpec:
    recoveries = tuple(
        (item.recovery_type.name, freeze_pairs(item.param_overrides or []) or ())
        for item in row.recoveries
    )
    parameters = freeze_pairs(row.definition_parameters or []) or ()
    patterns = row.output_file_patterns
    return JobTypeSpec(row.name, row.launch_script, parameters, patterns, recoveries)


def _dependencies(session: Session, rows: Sequence[CampaignStage]) -> tuple[DependencySpec, ...]:
    names = {row.campaign_stage_id: row.name for row in rows}
    query = select(CampaignDependency).where(CampaignDependency.downstream_stage_id.in_(names))
    deps = session.scalars(query.order_by(CampaignDependency.campaign_dep_id))
    # Edges from stages of other campaigns cannot be written in this campaign's file.
    return tuple(
        DependencySpec(names[d.upstream_stage_id], names[d.downstream_stage_id], d.file_patterns)
        for d in deps
        if d.upstream_stage_id in names
    )
