"""Reading .ini sections: checked keys, converted values, and the section readers of the
templates ([login_setup], [job_type]) and of the [dependencies] between stages.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from configparser import ConfigParser
from typing import Any

from poms_shared.ini.model import DependencySpec, JobTypeSpec, LoginSetupSpec, clean_text
from poms_shared.ini.values import IniError, as_pairs, as_recoveries


def section_items(
    parser: ConfigParser, section: str, allowed: Collection[str], ignored: Collection[str] = ()
) -> dict[str, str]:
    """The section's keys, refusing unknown ones so a misspelt key is not silently dropped."""
    items: dict[str, str] = {}
    for key, value in parser.items(section):
        if key in allowed:
            items[key] = value
        elif key not in ignored:
            expected = ", ".join(allowed)
            raise IniError(f"unknown key (expected one of: {expected})", section=section, key=key)
    return items


def converted(section: str, key: str, raw: str, convert: Callable[[str], Any]) -> Any:
    """``convert(raw)``; its ``ValueError`` becomes an ``IniError`` naming the section and key."""
    try:
        return convert(raw)
    except ValueError as exc:
        raise IniError(str(exc), section=section, key=key) from None


def login_setups(
    parser: ConfigParser, sections: list[tuple[str, str]]
) -> tuple[LoginSetupSpec, ...]:
    found: list[LoginSetupSpec] = []
    for section, name in sections:
        _refuse_duplicate(section, name, [item.name for item in found], "login setup")
        items = section_items(parser, section, ("host", "account", "setup"))
        _require(section, items, ("host", "account"))
        found.append(LoginSetupSpec(name, items["host"], items["account"], items.get("setup", "")))
    return tuple(found)


def job_types(parser: ConfigParser, sections: list[tuple[str, str]]) -> tuple[JobTypeSpec, ...]:
    keys = ("launch_script", "parameters", "output_file_patterns", "recoveries")
    found: list[JobTypeSpec] = []
    for section, name in sections:
        _refuse_duplicate(section, name, [item.name for item in found], "job type")
        items = section_items(parser, section, keys)
        _require(section, items, ("launch_script",))
        parameters = converted(section, "parameters", items.get("parameters", ""), as_pairs)
        recoveries = converted(section, "recoveries", items.get("recoveries", ""), as_recoveries)
        patterns = items.get("output_file_patterns", "%")
        script = items["launch_script"]
        found.append(JobTypeSpec(name, script, parameters or (), patterns, recoveries))
    return tuple(found)


def dependencies(
    parser: ConfigParser, sections: list[tuple[str, str]], stage_names: Collection[str]
) -> tuple[DependencySpec, ...]:
    deps: list[DependencySpec] = []
    for section, downstream in sections:
        if downstream not in stage_names:
            message = f"no [campaign_stage {downstream}] section in this file"
            raise IniError(message, section=section)
        deps.extend(_dependency_edges(parser, section, downstream, stage_names))
    return tuple(deps)


def _dependency_edges(
    parser: ConfigParser, section: str, downstream: str, stage_names: Collection[str]
) -> list[DependencySpec]:
    """``campaign_stage_N`` / ``file_pattern_N`` keys, paired by the suffix after the last ``_``."""
    upstreams: dict[str, tuple[str, str]] = {}
    patterns: dict[str, tuple[str, str]] = {}
    for key, raw in parser.items(section):
        prefix, _, suffix = key.rpartition("_")
        if prefix not in ("campaign_stage", "file_pattern") or not suffix:
            expected = "expected campaign_stage_<N> and file_pattern_<N>"
            raise IniError(f"unknown key ({expected})", section=section, key=key)
        (upstreams if prefix == "campaign_stage" else patterns)[suffix] = (key, raw)
    for suffix, (key, _) in patterns.items():
        if suffix not in upstreams:
            raise IniError(f"no matching campaign_stage_{suffix}", section=section, key=key)
    edges: list[DependencySpec] = []
    for suffix in sorted(upstreams, key=_suffix_order):
        key, raw = upstreams[suffix]
        upstream = clean_text(raw)
        if upstream not in stage_names:
            raise IniError(f"unknown stage {upstream!r}", section=section, key=key)
        if suffix not in patterns:
            raise IniError(f"no matching file_pattern_{suffix}", section=section, key=key)
        edges.append(DependencySpec(upstream, downstream, patterns[suffix][1]))
    return edges


def _suffix_order(suffix: str) -> tuple[int, int, str]:
    return (0, int(suffix), "") if suffix.isdecimal() else (1, 0, suffix)


def _require(section: str, items: dict[str, str], keys: Collection[str]) -> None:
    for key in keys:
        if key not in items:
            raise IniError("missing required key", section=section, key=key)


def _refuse_duplicate(section: str, name: str, seen: list[str], what: str) -> None:
    if name in seen:
        raise IniError(f"{what} {name!r} is defined twice", section=section)
