"""Read campaign .ini text (§7 of the reference) into a ``CampaignSpec``, validating it."""

from __future__ import annotations

import configparser
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from poms_shared.ini.model import (
    STAGE_FIELD_NAMES,
    CampaignSpec,
    StageFields,
    StageSpec,
    clean_text,
)
from poms_shared.ini.sections import (
    converted,
    dependencies,
    job_types,
    login_setups,
    section_items,
)
from poms_shared.ini.values import (
    UNSET_WORDS,
    IniError,
    as_bool,
    as_choice_completion,
    as_choice_stage_type,
    as_depth,
    as_keywords,
    as_pairs,
    as_percent,
    as_position,
    as_split_type,
    as_state,
)

__all__ = ["IniError", "parse_ini"]

_SINGLE_KINDS = ("campaign", "campaign_defaults", "node_positions")
_NAMED_KINDS = ("campaign_stage", "login_setup", "job_type", "dependencies")
_CAMPAIGN_KEYS = ("experiment", "poms_role", "name", "state", "campaign_keywords")
_FIELD_PARSERS: dict[str, Callable[[str], Any]] = {
    "completion_type": as_choice_completion,
    "completion_pct": as_percent,
    "param_overrides": as_pairs,
    "test_param_overrides": as_pairs,
    "merge_overrides": as_bool,
    "stage_type": as_choice_stage_type,
    "output_ancestor_depth": as_depth,
    "default_clear_cronjob": as_bool,
}
# text keys that are still checked (the text itself is kept, "None" included)
_TEXT_CHECKS: dict[str, Callable[[str], Any]] = {"cs_split_type": as_split_type}
_TEXT_KEYS = frozenset(STAGE_FIELD_NAMES) - _FIELD_PARSERS.keys()


class _Parser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        # Keys are case-sensitive names, e.g. job type parameter keys copied from other tools.
        return optionstr


@dataclass
class _Layout:
    """Section names found in the file, by kind; named kinds keep ``(section, name)``."""

    single: dict[str, str] = field(default_factory=dict)
    named: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: {kind: [] for kind in _NAMED_KINDS}
    )


def parse_ini(text: str) -> CampaignSpec:
    """Parse and validate campaign .ini text; raises ``IniError`` naming the section and key."""
    parser = _read(text)
    layout = _classify(parser)
    if "campaign" not in layout.single:
        raise IniError("no [campaign] section")
    if not layout.named["campaign_stage"]:
        raise IniError("no [campaign_stage <name>] section: a campaign needs at least one stage")
    head = _campaign(parser, layout.single["campaign"])
    defaults, legacy_keywords = _defaults(parser, layout.single.get("campaign_defaults"))
    stages = _stages(parser, layout.named["campaign_stage"], defaults)
    names = {stage.name for stage in stages}
    try:
        return CampaignSpec(
            name=head["name"],
            experiment=head.get("experiment"),
            poms_role=head.get("poms_role"),
            state_active=head.get("state", True),
            keywords=head.get("campaign_keywords", legacy_keywords),
            defaults=defaults,
            positions=_positions(parser, layout.single.get("node_positions")),
            stages=stages,
            login_setups=login_setups(parser, layout.named["login_setup"]),
            job_types=job_types(parser, layout.named["job_type"]),
            dependencies=dependencies(parser, layout.named["dependencies"], names),
        )
    except IniError:
        raise
    except ValueError as exc:  # an invariant of the model itself, e.g. an empty name
        raise IniError(str(exc)) from exc


def _read(text: str) -> _Parser:
    # No interpolation: values are verbatim, so % and %% survive as written. Only whole-line
    # '#' comments: ';' separates shell commands inside login setup text.
    parser = _Parser(
        interpolation=None,
        comment_prefixes=("#",),
        inline_comment_prefixes=None,
        default_section="\0no-default-section",
        empty_lines_in_values=False,
        strict=True,
    )
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise _format_error(exc) from exc
    return parser


def _format_error(exc: configparser.Error) -> IniError:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        detail = f"text before the first [section]: {exc.line.strip()!r}"
        return IniError(f"Bad file format at line {exc.lineno}: {detail}", line=exc.lineno)
    if isinstance(exc, configparser.ParsingError):
        lineno, line = exc.errors[0]
        detail = f"expected [section] or key=value, got {line.strip()!r}"
        return IniError(f"Bad file format at line {lineno}: {detail}", line=lineno)
    if isinstance(exc, configparser.DuplicateOptionError):
        message = f"Bad file format at line {exc.lineno}: key given twice"
        return IniError(message, section=exc.section, key=exc.option, line=exc.lineno)
    if isinstance(exc, configparser.DuplicateSectionError):
        message = f"Bad file format at line {exc.lineno}: section given twice"
        return IniError(message, section=exc.section, line=exc.lineno)
    return IniError(f"Bad file format: {exc.message}")


def _classify(parser: _Parser) -> _Layout:
    layout = _Layout()
    for section in parser.sections():
        kind, rest = [*section.split(None, 1), "", ""][:2]
        name = clean_text(rest)
        if kind in _SINGLE_KINDS and not name:
            if kind in layout.single:
                raise IniError("section given twice", section=section)
            layout.single[kind] = section
        elif kind in _NAMED_KINDS:
            if not name:
                raise IniError(f"a [{kind} <name>] section needs a name", section=section)
            layout.named[kind].append((section, name))
        else:
            kinds = ", ".join([*_SINGLE_KINDS, *(f"{k} <name>" for k in _NAMED_KINDS)])
            raise IniError(f"unknown kind of section (expected one of: {kinds})", section=section)
    return layout


def _campaign(parser: _Parser, section: str) -> dict[str, Any]:
    items = section_items(parser, section, _CAMPAIGN_KEYS, ignored=("campaign_stage_list",))
    if not clean_text(items.get("name", "")):
        raise IniError("missing required key", section=section, key="name")
    head: dict[str, Any] = dict(items)
    if "state" in items:
        head["state"] = converted(section, "state", items["state"], as_state)
    if "campaign_keywords" in items:
        raw = items["campaign_keywords"]
        head["campaign_keywords"] = converted(section, "campaign_keywords", raw, as_keywords)
    return head


def _defaults(parser: _Parser, section: str | None) -> tuple[StageFields, dict[str, Any]]:
    """Campaign defaults, plus keywords given there (where the original uploader read them)."""
    if section is None:
        return StageFields(), {}
    fields = _stage_fields(parser, section, ignored=("state",), extra=("campaign_keywords",))
    raw = parser.get(section, "campaign_keywords", fallback="")
    return fields, converted(section, "campaign_keywords", raw, as_keywords)


def _stage_fields(
    parser: _Parser, section: str, ignored: Collection[str] = (), extra: Collection[str] = ()
) -> StageFields:
    items = section_items(parser, section, STAGE_FIELD_NAMES, ignored=(*ignored, *extra))
    values: dict[str, Any] = {}
    for key, raw in items.items():
        if key in _TEXT_KEYS:
            if key in _TEXT_CHECKS and raw.strip() not in UNSET_WORDS:
                converted(section, key, raw, _TEXT_CHECKS[key])
            values[key] = raw
        elif raw.strip() not in UNSET_WORDS:
            values[key] = converted(section, key, raw, _FIELD_PARSERS[key])
    return StageFields(**values)


def _stages(
    parser: _Parser, sections: list[tuple[str, str]], defaults: StageFields
) -> tuple[StageSpec, ...]:
    stages: list[StageSpec] = []
    for section, name in sections:
        if any(stage.name == name for stage in stages):
            raise IniError(f"stage {name!r} is defined twice", section=section)
        fields = _stage_fields(parser, section, ignored=("state",))
        for key in ("login_setup", "job_type"):
            if getattr(fields, key) is None and getattr(defaults, key) is None:
                raise IniError("not set here nor in [campaign_defaults]", section=section, key=key)
        stages.append(StageSpec(name, fields))
    return tuple(stages)


def _positions(parser: _Parser, section: str | None) -> dict[str, tuple[float, float]]:
    positions: dict[str, tuple[float, float]] = {}
    if section is None:
        return positions
    for key, raw in parser.items(section):
        if not re.fullmatch(r"nxy[0-9]+", key):
            raise IniError("unknown key (expected nxy<N>)", section=section, key=key)
        label, x, y = converted(section, key, raw, as_position)
        if label in positions:
            raise IniError(f"node {label!r} is positioned twice", section=section, key=key)
        positions[label] = (x, y)
    return positions
