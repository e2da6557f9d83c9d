"""Read a stored campaign back as a ``CampaignSpec`` (export, §7.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.campaign_base import (
    STAGE_COLUMNS,
    CampaignNotFound,
    campaign_stages,
    find_campaign,
)
from poms_shared.db.models import CampaignDependency, CampaignStage, JobType, LoginSetup
from poms_shared.ini.model import (
    CampaignSpec,
    DependencySpec,
    JobTypeSpec,
    LoginSetupSpec,
    StageFields,
    StageSpec,
    freeze_pairs,
)


def load_campaign_spec(session: Session, *, experiment: str, name: str) -> CampaignSpec:
    """The stored campaign as a spec, with the job types and login setups its stages use."""
    campaign = find_campaign(session, experiment, name)
    if campaign is None:
        raise CampaignNotFound(f"Campaign '{name}' was not found for '{experiment}' experiment")
    rows = campaign_stages(session, campaign.campaign_id)
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


def _xy(where: Any) -> tuple[float, float]:
    # Positions are stored as {"x": .., "y": ..} like the original editor; accept [x, y] too.
    x, y = (where["x"], where["y"]) if isinstance(where, Mapping) else where
    return float(x), float(y)


def _stage_fields(row: CampaignStage) -> StageFields:
    values = {key: getattr(row, column) for column, key in STAGE_COLUMNS}
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
