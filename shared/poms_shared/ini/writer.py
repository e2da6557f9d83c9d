"""Write a ``CampaignSpec`` as campaign .ini text in the layout of §7.2 of the reference."""

from __future__ import annotations

import json
from typing import Any

from poms_shared.ini.model import (
    CampaignSpec,
    JobTypeSpec,
    LoginSetupSpec,
    StageFields,
    thaw_pairs,
)

# Key order inside a [campaign_stage] section, as the original exporter wrote it.
_STAGE_KEY_ORDER = (
    "vo_role",
    "software_version",
    "output_ancestor_depth",
    "dataset_or_split_data",
    "cs_split_type",
    "completion_type",
    "completion_pct",
    "param_overrides",
    "test_param_overrides",
    "login_setup",
    "job_type",
    "merge_overrides",
    "stage_type",
    "default_clear_cronjob",
)

# Key order inside [campaign_defaults], as the original exporter wrote it.
_DEFAULTS_KEY_ORDER = (
    "vo_role",
    "software_version",
    "dataset_or_split_data",
    "cs_split_type",
    "default_clear_cronjob",
    "completion_type",
    "completion_pct",
    "param_overrides",
    "test_param_overrides",
    "merge_overrides",
    "login_setup",
    "job_type",
    "stage_type",
    "output_ancestor_depth",
)

Section = tuple[str, list[str]]


def write_ini(spec: CampaignSpec, full: bool = True) -> str:
    """Campaign .ini text; ``full`` adds GUI node positions. ``parse_ini`` reads it back equal."""
    sections: list[Section] = [_campaign(spec)]
    if spec.defaults.items():
        sections.append(("campaign_defaults", _field_lines(spec.defaults, _DEFAULTS_KEY_ORDER)))
    if full and spec.positions:
        sections.append(_positions(spec))
    for stage in spec.stages:
        lines = _field_lines(stage.fields, _STAGE_KEY_ORDER)
        sections.append((f"campaign_stage {stage.name}", lines))
    sections.extend(_login_setup(item) for item in spec.login_setups)
    sections.extend(_job_type(item) for item in spec.job_types)
    sections.extend(_dependencies(spec))
    return "\n".join(f"[{name}]\n" + "".join(f"{ln}\n" for ln in lines) for name, lines in sections)


def _campaign(spec: CampaignSpec) -> Section:
    lines = []
    if spec.experiment is not None:
        lines.append(f"experiment={spec.experiment}")
    if spec.poms_role is not None:
        lines.append(f"poms_role={spec.poms_role}")
    lines += [
        f"name={spec.name}",
        f"state={'Active' if spec.state_active else 'Inactive'}",
        f"campaign_keywords={json.dumps(spec.keywords, sort_keys=True)}",
        f"campaign_stage_list={','.join(stage.name for stage in spec.stages)}",
    ]
    return "campaign", lines


def _field_lines(fields: StageFields, order: tuple[str, ...]) -> list[str]:
    values = dict(fields.items())
    return [f"{key}={_format(values[key])}" for key in order if key in values]


def _positions(spec: CampaignSpec) -> Section:
    # Sorted (campaign node first) so equal specs give the same text whatever the dict order.
    node = f"campaign {spec.name}"
    ordered = sorted(spec.positions.items(), key=lambda item: (item[0] != node, item[0]))
    lines = [
        f"nxy{n}={json.dumps([label, _number(x), _number(y)])}"
        for n, (label, (x, y)) in enumerate(ordered)
    ]
    return "node_positions", lines


def _login_setup(item: LoginSetupSpec) -> Section:
    lines = [f"host={item.host}", f"account={item.account}", f"setup={item.setup}"]
    return f"login_setup {item.name}", lines


def _job_type(item: JobTypeSpec) -> Section:
    recoveries = [[kind, thaw_pairs(overrides)] for kind, overrides in item.recoveries]
    lines = [
        f"launch_script={item.launch_script}",
        f"parameters={json.dumps(thaw_pairs(item.parameters))}",
        f"output_file_patterns={item.output_file_patterns}",
        f"recoveries = {json.dumps(recoveries)}",
    ]
    return f"job_type {item.name}", lines


def _dependencies(spec: CampaignSpec) -> list[Section]:
    by_downstream: dict[str, list[str]] = {}
    for dep in spec.dependencies:
        lines = by_downstream.setdefault(dep.downstream, [])
        n = len(lines) // 2 + 1
        pattern = f"file_pattern_{n} = {dep.file_patterns}".rstrip()  # "" = all files
        lines += [f"campaign_stage_{n} = {dep.upstream}", pattern]
    return [(f"dependencies {name}", lines) for name, lines in by_downstream.items()]


def _number(value: float) -> int | float:
    # Whole numbers are written without ".0", as people write them; they read back equal.
    return int(value) if value.is_integer() else value


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return str(_number(value))
    if isinstance(value, tuple):
        return json.dumps(thaw_pairs(value))
    return str(value)
