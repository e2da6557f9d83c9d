"""Launch command composition: parameters, overrides, substitution, environment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class CompositionError(ValueError):
    """The launch command cannot be built (bad override, unknown substitution key)."""


Pair = tuple[str, str]


@dataclass(frozen=True)
class LaunchSpec:
    """Everything composition needs, copied out of the configuration rows."""

    launch_script: str
    definition_parameters: Sequence[Pair] = ()
    stage_overrides: Sequence[Pair] = ()
    campaign_default_overrides: Sequence[Pair] = ()
    merge_overrides: bool = False
    test: bool = False
    test_overrides: Sequence[Pair] = ()
    extra_overrides: Sequence[Pair] = ()
    keywords: Mapping[str, str] = field(default_factory=dict)


def to_pairs(raw: Any, where: str) -> list[Pair]:
    """Validate a stored ``[[key, value], ...]`` list."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CompositionError(f"{where}: expected a list of [key, value] pairs")
    pairs: list[Pair] = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise CompositionError(f"{where}: {item!r} is not a [key, value] pair")
        pairs.append((str(item[0]), "" if item[1] is None else str(item[1])))
    return pairs


def merge_parameters(spec: LaunchSpec) -> list[Pair]:
    """Ordered key → value map; a later source replaces a value in place, new keys append."""
    merged: dict[str, str] = {}

    def update(pairs: Iterable[Pair]) -> None:
        for key, value in pairs:
            merged[key] = value

    update(spec.definition_parameters)
    stage: list[Pair] = []
    if spec.merge_overrides:
        stage.extend(spec.campaign_default_overrides)
    stage.extend(spec.stage_overrides)
    stage.extend(spec.extra_overrides)
    update(stage)
    if spec.test:
        update(spec.test_overrides)
    update(spec.extra_overrides)  # extras win over test overrides
    return list(merged.items())


def substitute(text: str, values: Mapping[str, str], where: str) -> str:
    """``%(key)s`` substitution with ``%%`` as a literal percent; unknown keys are errors."""
    try:
        return text % dict(values)
    except KeyError as exc:
        known = ", ".join(sorted(values))
        raise CompositionError(f"{where}: unknown substitution key {exc} (known: {known})") from exc
    except (ValueError, TypeError) as exc:
        raise CompositionError(f"{where}: bad %-substitution ({exc}); write %% for %") from exc


def compose_command(spec: LaunchSpec, substitutions: Mapping[str, str]) -> str:
    """The full launch command: script + parameters, substituted with keywords and values."""
    parts = [spec.launch_script, *(k + v for k, v in merge_parameters(spec))]
    values = {**spec.keywords, **substitutions}  # launch values win over campaign keywords
    return substitute(" ".join(p for p in parts if p), values, "launch command")


def substitution_values(
    *, dataset: str, version: str, experiment: str, launcher: str, keywords: Mapping[str, str]
) -> dict[str, str]:
    """The launch substitution dictionary; keyword references inside values are expanded."""
    expand = dict(keywords)
    dataset = substitute(dataset, expand, "dataset") if "%(" in dataset else dataset
    version = substitute(version, expand, "software_version") if "%(" in version else version
    group = "fermilab" if experiment == "samdev" else experiment
    return {
        "dataset": dataset,
        "parameter": dataset,
        "version": version,
        "group": group,
        "experimenter": launcher,
        "experiment": experiment,
    }


@dataclass(frozen=True)
class LaunchIdentity:
    """Ids and names exported to the launch environment."""

    submission_id: int
    stage_id: int
    stage_name: str
    stage_type: str
    campaign_id: int | None
    campaign_name: str
    job_type_id: int
    launcher: str
    experiment: str
    test: bool
    parent_submission_id: int | None = None


def legacy_campaign_name(campaign: str, stage: str) -> str:
    """``POMS_CAMPAIGN_NAME`` as older scripts expect it."""
    if stage == campaign:
        return stage
    if stage.startswith(campaign):
        return f"{campaign}__{stage[len(campaign) :].lstrip('_')}"
    return f"{campaign}__{stage}"


def poms_test_value(server_host: str) -> str:
    """``POMS_TEST``: which POMS instance the client tools talk to, from the server's name."""
    host = server_host.lower()
    if "poms" in host:
        return ""  # production
    if "fermicloudmwm" in host:
        return "int"  # integration
    return "1"  # development


def launch_environment(ident: LaunchIdentity, server_host: str = "localhost") -> dict[str, str]:
    """POMS4_* variables and their legacy names, as jobs and wrappers read them (§6.9)."""
    stage = ident.stage_name.replace(" ", "_")
    campaign = ident.campaign_name.replace(" ", "_")
    group = "fermilab" if ident.experiment == "samdev" else ident.experiment
    return {
        "POMS4_CAMPAIGN_STAGE_ID": str(ident.stage_id),
        "POMS4_CAMPAIGN_STAGE_NAME": stage,
        "POMS4_CAMPAIGN_STAGE_TYPE": ident.stage_type,
        "POMS4_CAMPAIGN_ID": "" if ident.campaign_id is None else str(ident.campaign_id),
        "POMS4_CAMPAIGN_NAME": campaign,
        "POMS4_SUBMISSION_ID": str(ident.submission_id),
        "POMS4_TEST_LAUNCH": "True" if ident.test else "False",
        "POMS4_EXPERIMENT": ident.experiment,
        "POMS_CAMPAIGN_ID": str(ident.stage_id),
        "POMS_CAMPAIGN_NAME": legacy_campaign_name(campaign, stage),
        "POMS_PARENT_TASK_ID": ""
        if ident.parent_submission_id is None
        else str(ident.parent_submission_id),
        "POMS_TASK_ID": str(ident.submission_id),
        "POMS_LAUNCHER": ident.launcher,
        "POMS_TEST": poms_test_value(server_host),
        "POMS_TASK_DEFINITION_ID": str(ident.job_type_id),
        "JOBSUB_GROUP": group,
        "GROUP": group,
        "EXPERIMENT": ident.experiment,
    }


def find_batch_ids(output: str) -> list[str]:
    """Batch ids reported by POMS's submit wrappers in the launch output."""
    marker = "POMS_BATCH_ID="
    return [
        line.split(marker, 1)[1].strip()
        for line in output.splitlines()
        if marker in line and line.split(marker, 1)[1].strip()
    ]
