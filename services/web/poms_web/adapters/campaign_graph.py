"""The campaign graph editor's JSON as campaign `.ini` text (pure: no database).

The editor saves by writing its graph as `.ini` text, which then takes the upload's path
(``parse_ini``, then ``campaign_admin.save_spec``): one validation, one way to store.
Errors found there name a section and key; ``locate`` turns those into the editor's
node and field so the page can show the message next to the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from poms_shared.ini.model import STAGE_FIELD_NAMES, clean_text
from poms_web.adapters.actions import BadRequest

NAME_LIMIT = 255
LOGIN_KEYS = ("host", "account", "setup")
JOB_KEYS = ("launch_script", "parameters", "output_file_patterns", "recoveries")
_WHERE = re.compile(r"^\[(?P<section>[^\]]+)\](?: (?P<key>[A-Za-z_0-9]+))?:")


@dataclass(frozen=True)
class GraphStage:
    """A stage node: its name, the name it was stored under (None: new), `.ini` values."""

    name: str
    was: str | None
    fields: dict[str, str]


@dataclass(frozen=True)
class Graph:
    """What the editor sends on save, with every value already `.ini` text."""

    name: str
    active: bool
    keywords: dict[str, Any]
    defaults: dict[str, str]
    stages: tuple[GraphStage, ...]
    dependencies: tuple[tuple[str, str, str], ...]  # (upstream, downstream, file patterns)
    login_setups: tuple[tuple[str, dict[str, str]], ...]  # templates to create
    job_types: tuple[tuple[str, dict[str, str]], ...]
    positions: dict[str, tuple[float, float]]


# ---- reading the editor's JSON ----------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: a JSON object, not {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{where}: a JSON list, not {type(value).__name__}")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{where}: a non-empty name is required")
    name = value.strip()
    if len(name) > NAME_LIMIT:
        raise BadRequest(f"{where}: at most {NAME_LIMIT} characters, not {len(name)}")
    if any(ord(ch) < 32 for ch in name) or "[" in name or "]" in name:
        raise BadRequest(f"{where}: {name!r} may not contain brackets or control characters")
    return name


def ini_value(value: Any, where: str) -> str | None:
    """One field as `.ini` value text; None when not set (empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise BadRequest(f"{where}: {value!r} is not a number")
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise BadRequest(f"{where}: may not contain a NUL character")
        return clean_text(value) or None  # an .ini value is one line, as the exporter writes
    raise BadRequest(f"{where}: text, a number, true/false or a list, not {value!r}")


def _fields(value: Any, where: str, known: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, raw in _object(value, where).items():
        if key not in known:
            raise BadRequest(f"{where}.{key}: not a field here (known: {', '.join(known)})")
        text = ini_value(raw, f"{where}.{key}")
        if text is not None:
            found[key] = text
    return found


def _position(value: Any, where: str) -> tuple[float, float]:
    ok = isinstance(value, list) and len(value) == 2
    numbers = value if ok else []
    if not ok or not all(
        isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in numbers
    ):
        raise BadRequest(f"{where}: [x, y] with finite numbers, not {value!r}")
    return float(numbers[0]), float(numbers[1])


def read_graph(body: Any) -> Graph:
    """The editor's JSON body, checked for shape (values are checked by the `.ini` path)."""
    top = _object(body, "body")
    campaign = _object(top.get("campaign"), "campaign")
    state = campaign.get("state", "Active")
    if state not in ("Active", "Inactive"):
        raise BadRequest(f"campaign.state: Active or Inactive, not {state!r}")
    stages = []
    for i, item in enumerate(_list(top.get("stages"), "stages")):
        node = _object(item, f"stages.{i}")
        was = node.get("was")
        stages.append(
            GraphStage(
                name=_name(node.get("name"), f"stages.{i}.name"),
                was=_name(was, f"stages.{i}.was") if was is not None else None,
                fields=_fields(node.get("fields"), f"stages.{i}.fields", STAGE_FIELD_NAMES),
            )
        )
    name = _name(campaign.get("name"), "campaign.name")
    if "/" in name:  # campaign names are parts of addresses (as when created or renamed)
        raise BadRequest(f"campaign.name: {name!r} may not contain '/'")
    defaults = _fields(campaign.get("defaults"), "campaign.defaults", STAGE_FIELD_NAMES)
    return Graph(
        name=name,
        active=state == "Active",
        keywords=_object(campaign.get("keywords"), "campaign.keywords"),
        defaults=defaults,
        stages=tuple(stages),
        dependencies=tuple(_dependencies(top.get("dependencies"), stages, defaults)),
        login_setups=_templates(top.get("login_setups"), "login_setups", LOGIN_KEYS),
        job_types=_templates(top.get("job_types"), "job_types", JOB_KEYS),
        positions=_positions(top.get("positions"), name),
    )


def _positions(value: Any, campaign: str) -> dict[str, tuple[float, float]]:
    """Node positions by label; the one campaign node's under ``campaign <name>`` with
    the name being saved (a renamed campaign's node keeps its place)."""
    found: dict[str, tuple[float, float]] = {}
    for label, xy in _object(value, "positions").items():
        key = _name(label, "positions")
        if key.startswith("campaign "):
            key = f"campaign {campaign}"
        found[key] = _position(xy, f"positions.{label}")
    return found


def _dependencies(
    value: Any, stages: list[GraphStage], defaults: dict[str, str]
) -> list[tuple[str, str, str]]:
    default = defaults.get("cs_split_type", "")
    splits = {s.name: s.fields.get("cs_split_type", default) for s in stages}
    edges: list[tuple[str, str, str]] = []
    for i, item in enumerate(_list(value, "dependencies")):
        edge = _object(item, f"dependencies.{i}")
        up = _name(edge.get("upstream"), f"dependencies.{i}.upstream")
        down = _name(edge.get("downstream"), f"dependencies.{i}.downstream")
        patterns = ini_value(edge.get("file_patterns"), f"dependencies.{i}.file_patterns")
        if up == down and splits.get(up, "").lower() in ("", "none", "draining"):
            raise BadRequest(
                f"dependencies.{i}: stage {up!r} depends on itself but its split type never "
                "runs out (None or draining), so it would launch forever"
            )
        if any((up, down) == (u, d) for u, d, _ in edges):
            raise BadRequest(f"dependencies.{i}: {up!r} -> {down!r} is given twice")
        edges.append((up, down, patterns or ""))
    return edges


def _templates(
    value: Any, where: str, keys: tuple[str, ...]
) -> tuple[tuple[str, dict[str, str]], ...]:
    found = []
    for i, item in enumerate(_list(value, where)):
        node = _object(item, f"{where}.{i}")
        fields = {k: v for k, v in node.items() if k not in ("name", "stored")}
        found.append((_name(node.get("name"), f"{where}.{i}.name"), _fields(fields, where, keys)))
    return tuple(found)


# ---- writing `.ini` text ----------------------------------------------------------------


def graph_ini(graph: Graph) -> str:
    """The graph as campaign `.ini` text in the layout the exporter writes (§7.2)."""
    sections: list[tuple[str, list[str]]] = [
        (
            "campaign",
            [
                f"name={graph.name}",
                f"state={'Active' if graph.active else 'Inactive'}",
                f"campaign_keywords={json.dumps(graph.keywords, sort_keys=True)}",
            ],
        )
    ]
    if graph.defaults:
        sections.append(("campaign_defaults", _lines(graph.defaults)))
    if graph.positions:
        sections.append(("node_positions", _position_lines(graph.positions)))
    sections += [(f"campaign_stage {s.name}", _lines(s.fields)) for s in graph.stages]
    sections += [(f"login_setup {name}", _lines(f)) for name, f in graph.login_setups]
    sections += [(f"job_type {name}", _lines(f)) for name, f in graph.job_types]
    sections += [
        (f"dependencies {down}", lines) for down, lines in _dependency_lines(graph).items()
    ]
    return "\n".join(f"[{name}]\n" + "".join(f"{ln}\n" for ln in lines) for name, lines in sections)


def _lines(fields: Mapping[str, str]) -> list[str]:
    """``key=value`` lines; stage fields in their declared order, others as given."""
    order = {key: i for i, key in enumerate(STAGE_FIELD_NAMES)}
    keys = sorted(fields, key=lambda k: order.get(k, len(order)))
    return [f"{key}={fields[key]}" for key in keys]


def _position_lines(positions: Mapping[str, tuple[float, float]]) -> list[str]:
    def number(v: float) -> int | float:
        return int(v) if v.is_integer() else round(v, 2)

    return [
        f"nxy{n}={json.dumps([label, number(x), number(y)])}"
        for n, (label, (x, y)) in enumerate(sorted(positions.items()))
    ]


def _dependency_lines(graph: Graph) -> dict[str, list[str]]:
    by_downstream: dict[str, list[str]] = {}
    for up, down, patterns in graph.dependencies:
        lines = by_downstream.setdefault(down, [])
        n = len(lines) // 2 + 1
        lines += [f"campaign_stage_{n} = {up}", f"file_pattern_{n} = {patterns}".rstrip()]
    return by_downstream


# ---- where an error is ------------------------------------------------------------------


def locate(graph: Graph | None, section: str | None, key: str | None) -> dict[str, Any] | None:
    """The editor node (and field) a section and key of the written `.ini` stand for."""
    if not section:
        return None
    kind, _, name = section.partition(" ")
    if kind == "campaign":
        return {"node": "campaign", "name": None, "field": "name" if key == "name" else key}
    if kind == "campaign_defaults":
        return {"node": "campaign", "name": None, "field": key}
    if kind in ("campaign_stage", "login_setup", "job_type"):
        node = "stage" if kind == "campaign_stage" else kind
        return {"node": node, "name": name, "field": key}
    if kind == "dependencies" and graph is not None:
        upstreams = [u for u, d, _ in graph.dependencies if d == name]
        suffix = (key or "").rpartition("_")[2]
        index = int(suffix) - 1 if suffix.isdecimal() else -1
        if 0 <= index < len(upstreams):
            field = "file_patterns" if (key or "").startswith("file_pattern") else None
            return {"node": "dependency", "name": [upstreams[index], name], "field": field}
        return {"node": "stage", "name": name, "field": None}
    return None


def locate_message(graph: Graph | None, message: str) -> dict[str, Any] | None:
    """``locate`` for a message that starts with ``[section] key:`` (save errors do)."""
    match = _WHERE.match(message)
    if match is None:
        return None
    return locate(graph, match["section"], match["key"])


# ---- the stage fields, as the forms and tables show them ----------------------------------

FIELDS: tuple[tuple[str, str, str], ...] = (
    ("vo_role", "VO role", "The VO role jobs are submitted with, e.g. Production."),
    ("software_version", "Software version", "Given to the launch as %(version)s."),
    ("cs_split_type", "Split type", "How the dataset is cut into one slice per launch."),
    (
        "dataset_or_split_data",
        "Dataset or split data",
        "The dataset to process, or the data the split type reads (a list, combinations…).",
    ),
    (
        "completion_type",
        "Completion type",
        "complete: done when its jobs are; located: also when their outputs are found.",
    ),
    ("completion_pct", "Completion %", "How much must be complete (or located): 0 < % ≤ 100."),
    ("param_overrides", "Parameter overrides", "Key/value pairs put on the launch command."),
    (
        "test_param_overrides",
        "Test parameter overrides",
        "Key/value pairs used instead on test launches.",
    ),
    (
        "merge_overrides",
        "Merge overrides",
        "True: the defaults' parameter overrides come first, then the stage's own.",
    ),
    ("login_setup", "Login setup", "Where and as whom the launch runs."),
    ("job_type", "Job type", "The launch script, its parameters and recovery plan."),
    ("stage_type", "Stage type", "regular, test, generator, approval or datatransfer."),
    (
        "output_ancestor_depth",
        "Output ancestor depth",
        "How many generations back an output's input ancestor is looked for.",
    ),
    (
        "default_clear_cronjob",
        "Clear schedule at the end",
        "True: when the splits run out, the stage's launch schedule is removed.",
    ),
)
