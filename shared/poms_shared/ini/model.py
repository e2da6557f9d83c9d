"""Campaign description shared by the .ini reader, the .ini writer and the repository.

Every spec is kept in one normal form (see ``CampaignSpec.__post_init__``) so that writing a spec
and reading it back gives an equal spec: the .ini format cannot tell apart values that the normal
form merges, so the model merges them up front.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

Scalar = str | int | float | bool | None
Pair = tuple[str, Scalar]
Pairs = tuple[Pair, ...]
Recovery = tuple[str, Pairs]

COMPLETION_TYPES = ("located", "complete")
STAGE_TYPES = ("test", "generator", "approval", "regular", "datatransfer")


def clean_text(value: str) -> str:
    """Strip a value and turn line breaks into ``;`` the way the original exporter did."""
    lines = [line.strip() for line in value.splitlines()]
    out = ""
    for line in (ln for ln in lines if ln):
        # An .ini value is one line; a line break inside shell text is a command separator.
        out = line if not out else out + (" " if out.endswith(";") else "; ") + line
    return out


def freeze_pairs(pairs: Iterable[Sequence[Any]] | None) -> Pairs | None:
    """Lists of ``[key, value]`` as an immutable tuple of pairs (``None`` stays ``None``)."""
    if pairs is None:
        return None
    return tuple((str(key), value) for key, value in pairs)


def thaw_pairs(pairs: Pairs) -> list[list[Any]]:
    """Pairs as JSON-ready lists of ``[key, value]``."""
    return [list(pair) for pair in pairs]


def _optional_text(value: str | None) -> str | None:
    if value is None:
        return None
    text = clean_text(value)
    return text or None


_TEXT_FIELDS = (
    "vo_role",
    "software_version",
    "dataset_or_split_data",
    "cs_split_type",
    "completion_type",
    "login_setup",
    "job_type",
    "stage_type",
)
# Keys every exported stage carries even when they equal the campaign defaults (§7.2).
ALWAYS_WRITTEN = ("merge_overrides", "stage_type", "default_clear_cronjob")


@dataclass(frozen=True)
class StageFields:
    """Stage settings; ``None`` means "not set here" (use the campaign default)."""

    vo_role: str | None = None
    software_version: str | None = None
    dataset_or_split_data: str | None = None
    cs_split_type: str | None = None
    completion_type: str | None = None
    completion_pct: float | None = None
    param_overrides: Pairs | None = None
    test_param_overrides: Pairs | None = None
    merge_overrides: bool | None = None
    login_setup: str | None = None
    job_type: str | None = None
    stage_type: str | None = None
    output_ancestor_depth: int | None = None
    default_clear_cronjob: bool | None = None

    def __post_init__(self) -> None:
        for name in _TEXT_FIELDS:
            object.__setattr__(self, name, _optional_text(getattr(self, name)))
        for name in ("param_overrides", "test_param_overrides"):
            object.__setattr__(self, name, freeze_pairs(getattr(self, name)))
        if self.completion_pct is not None:
            object.__setattr__(self, "completion_pct", float(self.completion_pct))

    def items(self) -> list[tuple[str, Any]]:
        """The fields that are set, as ``(name, value)`` in declaration order."""
        pairs = ((f.name, getattr(self, f.name)) for f in fields(self))
        return [(name, value) for name, value in pairs if value is not None]

    def to_json(self) -> dict[str, Any]:
        """The fields that are set, JSON-ready (pairs as lists)."""
        return {k: thaw_pairs(v) if isinstance(v, tuple) else v for k, v in self.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageFields:
        """Fields from ``to_json`` output; unknown keys and nulls are ignored."""
        return cls(**{k: data[k] for k in STAGE_FIELD_NAMES if data.get(k) is not None})

    def over(self, fallback: StageFields) -> StageFields:
        """These fields, with unset ones taken from ``fallback``."""
        return replace(fallback, **dict(self.items()))


STAGE_FIELD_NAMES = tuple(f.name for f in fields(StageFields))

# Values a stage gets when neither it nor the campaign defaults set a field (the DB defaults).
FALLBACKS = StageFields(
    vo_role="Production",
    default_clear_cronjob=True,
    completion_type="located",
    completion_pct=95.0,
    param_overrides=(),
    merge_overrides=False,
    stage_type="regular",
    output_ancestor_depth=1,
)


@dataclass(frozen=True)
class StageSpec:
    """One ``[campaign_stage <name>]`` section."""

    name: str
    fields: StageFields = field(default_factory=StageFields)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _required_name(self.name, "stage"))


@dataclass(frozen=True)
class LoginSetupSpec:
    """One ``[login_setup <name>]`` section."""

    name: str
    host: str
    account: str
    setup: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _required_name(self.name, "login setup"))
        for name in ("host", "account", "setup"):
            object.__setattr__(self, name, clean_text(getattr(self, name)))


@dataclass(frozen=True)
class JobTypeSpec:
    """One ``[job_type <name>]`` section; recoveries are ``(recovery type, overrides)``."""

    name: str
    launch_script: str
    parameters: Pairs = ()
    output_file_patterns: str = "%"
    recoveries: tuple[Recovery, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _required_name(self.name, "job type"))
        object.__setattr__(self, "launch_script", clean_text(self.launch_script))
        object.__setattr__(self, "output_file_patterns", clean_text(self.output_file_patterns))
        object.__setattr__(self, "parameters", freeze_pairs(self.parameters))
        recoveries = tuple((clean_text(kind), freeze_pairs(o) or ()) for kind, o in self.recoveries)
        object.__setattr__(self, "recoveries", recoveries)


@dataclass(frozen=True)
class DependencySpec:
    """Edge upstream → downstream: the downstream stage is launched on upstream outputs."""

    upstream: str
    downstream: str
    file_patterns: str = "%"

    def __post_init__(self) -> None:
        object.__setattr__(self, "upstream", _required_name(self.upstream, "upstream stage"))
        object.__setattr__(self, "downstream", _required_name(self.downstream, "downstream"))
        object.__setattr__(self, "file_patterns", clean_text(self.file_patterns))


@dataclass(frozen=True)
class CampaignSpec:
    """A whole campaign as described by one .ini file, in normal form."""

    name: str
    experiment: str | None = None
    poms_role: str | None = None
    state_active: bool = True
    keywords: dict[str, Any] = field(default_factory=dict)
    defaults: StageFields = field(default_factory=StageFields)
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    stages: tuple[StageSpec, ...] = ()
    login_setups: tuple[LoginSetupSpec, ...] = ()
    job_types: tuple[JobTypeSpec, ...] = ()
    dependencies: tuple[DependencySpec, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "name", _required_name(self.name, "campaign"))
        set_(self, "experiment", _optional_text(self.experiment))
        set_(self, "poms_role", _optional_text(self.poms_role))
        # A JSON round trip turns tuples into lists and keys into strings, as a file would.
        set_(self, "keywords", json.loads(json.dumps(dict(self.keywords))))
        positions = {clean_text(k): (float(x), float(y)) for k, (x, y) in self.positions.items()}
        set_(self, "positions", positions)
        stages = tuple(_normal_stage(s, self.defaults) for s in self.stages)
        names = {s.name for s in stages}
        if len(names) != len(stages):
            raise ValueError(f"campaign {self.name!r} has two stages with the same name")
        for dep in self.dependencies:
            if not {dep.upstream, dep.downstream} <= names:
                edge = f"{dep.upstream!r} -> {dep.downstream!r}"
                raise ValueError(f"dependency {edge} names a stage not in the campaign")
        edges = [(d.upstream, d.downstream) for d in self.dependencies]
        order = dependency_order([s.name for s in stages], edges)
        set_(self, "stages", tuple(sorted(stages, key=lambda s: order.index(s.name))))
        rank = {name: i for i, name in enumerate(order)}
        deps = sorted(self.dependencies, key=lambda d: rank.get(d.downstream, len(rank)))
        set_(self, "dependencies", tuple(deps))
        set_(self, "login_setups", tuple(self.login_setups))
        set_(self, "job_types", tuple(self.job_types))

    def resolved(self, stage: StageSpec) -> StageFields:
        """A stage's effective settings: its own, else the campaign default, else the fallback."""
        return stage.fields.over(self.defaults.over(FALLBACKS))


def _required_name(value: str, what: str) -> str:
    name = clean_text(value)
    if not name:
        raise ValueError(f"a {what} needs a non-empty name")
    return name


def _normal_stage(stage: StageSpec, defaults: StageFields) -> StageSpec:
    """Unset what equals the default; set the always-written keys to their effective value."""
    effective = stage.fields.over(defaults.over(FALLBACKS))
    values: dict[str, Any] = {}
    for name in STAGE_FIELD_NAMES:
        own = getattr(stage.fields, name)
        if name in ALWAYS_WRITTEN:
            values[name] = getattr(effective, name)
        elif own is not None and own != getattr(defaults, name):
            values[name] = own
    return StageSpec(stage.name, StageFields(**values))


def dependency_order(names: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """Names ordered so upstream stages come first; ties and cycles keep the given order."""
    index = {name: i for i, name in enumerate(names)}
    preds: dict[str, set[str]] = {name: set() for name in names}
    for up, down in edges:
        if up in index and down in index and up != down:
            preds[down].add(up)
    group = _cycle_groups(names, preds)
    done: set[str] = set()
    result: list[str] = []
    while len(result) < len(names):
        for name in names:
            if name in done:
                continue
            members = [m for m in names if group[m] == group[name]]
            if all(p in done or group[p] == group[name] for m in members for p in preds[m]):
                result.extend(members)
                done.update(members)
                break
        else:  # pragma: no cover - the groups form a DAG, so some group is always ready
            raise RuntimeError("dependency ordering made no progress")
    return result


def _cycle_groups(names: Sequence[str], preds: Mapping[str, set[str]]) -> dict[str, str]:
    """Map each name to the first-listed member of its dependency cycle (itself if none)."""
    ancestors = {name: _reach(name, preds) for name in names}
    return {
        name: next(m for m in names if m == name or (m in ancestors[name] and name in ancestors[m]))
        for name in names
    }


def _reach(start: str, preds: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(preds[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(preds[name])
    return seen
