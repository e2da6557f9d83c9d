"""Editing a stage's settings: every field checked before any is changed (all or nothing);
merging edits into its parameter overrides."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.audit import record_audit
from poms_shared.db.campaigns import SHARED_EXPERIMENT
from poms_shared.db.models import CampaignStage, JobType, LoginSetup
from poms_shared.domain.split_syntax import SplitError, parse_split_type
from poms_shared.ini.model import COMPLETION_TYPES, STAGE_TYPES
from poms_web.adapters.actions import MAX_INT, BadRequest


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value.strip()


def _nonempty(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must not be empty")
    return text


def _split(value: Any) -> str | None:
    if value is None:
        return None
    text = _text(value)
    if text.lower() in ("", "none"):
        return None
    try:
        parse_split_type(text)
    except SplitError as exc:
        raise ValueError(str(exc)) from None
    return text


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return str(value)

    return check


def _percent(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"must be a number between 0 and 100, got {value!r}")
    if not 0 < value <= 100:
        raise ValueError(f"must be a number between 0 and 100, got {value!r}")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _depth(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INT:
        raise ValueError(f"must be a whole number from 1 to {MAX_INT}, got {value!r}")
    return value


def pairs(value: Any) -> list[list[str]]:
    """A list of [key, value] pairs (both as text), or ValueError."""
    if not isinstance(value, list):
        raise ValueError("must be a list of [key, value] pairs")
    found: list[list[str]] = []
    for item in value:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or not all(isinstance(part, str | int | float) for part in item)
        ):
            raise ValueError(f"{item!r} is not a [key, value] pair")
        found.append([str(item[0]), str(item[1])])
    return found


def _optional_nonnegative(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"must be a number of at least 0, or null, got {value!r}")
    if value < 0:
        raise ValueError(f"must be a number of at least 0, or null, got {value!r}")
    return float(value)


def _optional_pairs(value: Any) -> list[list[str]] | None:
    return None if value is None else pairs(value)


# request field → (stage attribute, checker)
FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "split_type": ("cs_split_type", _split),
    "test_split_type": ("test_split_type", _split),
    "dataset": ("dataset", _text),
    "software_version": ("software_version", _text),
    "vo_role": ("vo_role", _nonempty),
    "completion_type": ("completion_type", _choice(COMPLETION_TYPES)),
    "completion_pct": ("completion_pct", _percent),
    "param_overrides": ("param_overrides", pairs),
    "test_param_overrides": ("test_param_overrides", _optional_pairs),
    "merge_overrides": ("merge_overrides", _flag),
    "default_clear_cronjob": ("default_clear_cronjob", _flag),
    "stage_type": ("campaign_stage_type", _choice(STAGE_TYPES)),
    "output_ancestor_depth": ("output_ancestor_depth", _depth),
    # Failed when failed jobs > failed_ratio × completed jobs (null: 0.5)
    "failed_ratio": ("failed_ratio", _optional_nonnegative),
    # Located anyway this long after Completed (null: never by time)
    "located_after_hours": ("located_after_hours", _optional_nonnegative),
}
TEMPLATES = ("login_setup", "job_type")
# fields whose value is text as sent (the others may arrive as literals: numbers, lists)
TEXT_FIELDS = frozenset(
    {"split_type", "test_split_type", "dataset", "software_version", "vo_role"}
    | {"completion_type", "stage_type", *TEMPLATES}
)
# stage column names (as the original client sends them) → field names here
COLUMN_FIELDS = {"cs_split_type": "split_type", "campaign_stage_type": "stage_type"}


def template_id(session: Session, field: str, experiment: str, value: Any) -> int:
    """The id of the login setup or job type named ``value``: the experiment's own, else the
    shared one of that name (reference §12.2)."""
    model: type[LoginSetup] | type[JobType] = LoginSetup if field == "login_setup" else JobType
    name = _nonempty(value)
    for owner in dict.fromkeys((experiment, SHARED_EXPERIMENT)):
        row = session.scalar(select(model).where(model.experiment == owner, model.name == name))
        if row is not None:
            return row.login_setup_id if isinstance(row, LoginSetup) else row.job_type_id
    what = field.replace("_", " ")
    raise ValueError(f"no {what} named {name!r} in experiment {experiment}")


def check_fields(session: Session, experiment: str, body: dict[str, Any]) -> dict[str, Any]:
    """The stage attributes ``body`` asks for, every field checked; BadRequest naming each
    bad field (and unknown ones)."""
    unknown = sorted(set(body) - set(FIELDS) - set(TEMPLATES))
    if unknown:
        known = ", ".join(sorted([*FIELDS, *TEMPLATES]))
        raise BadRequest(f"unknown stage field(s): {', '.join(unknown)} (editable: {known})")
    new: dict[str, Any] = {}
    problems: list[str] = []
    for field, value in body.items():
        try:
            if field in TEMPLATES:
                new[f"{field}_id"] = template_id(session, field, experiment, value)
            else:
                attribute, check = FIELDS[field]
                new[attribute] = check(value)
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
    if problems:
        raise BadRequest("; ".join(problems))
    return new


def edit_stage(
    session: Session, stage: CampaignStage, actor: str, body: dict[str, Any]
) -> list[str]:
    """Apply the changes in ``body``; returns the names of the fields that changed.

    A change of split type starts its iterator over (the old position means nothing to
    the new type).
    """
    new = check_fields(session, stage.experiment, body)
    before = {k: getattr(stage, k) for k in new if getattr(stage, k) != new[k]}
    if "cs_split_type" in before and stage.cs_last_split is not None:
        new["cs_last_split"] = None
        before["cs_last_split"] = stage.cs_last_split
    for attribute, value in new.items():
        setattr(stage, attribute, value)
    session.flush()
    session.expire(stage)  # reload the login setup / job type the new ids point at
    changed = sorted(before)
    if changed:
        record_audit(
            session,
            actor=actor,
            action="edit_stage",
            entity="campaign_stage",
            entity_id=stage.campaign_stage_id,
            before=before,
            after={k: new[k] for k in changed},
        )
    return changed


def merge_pairs(current: list[Any], edits: list[list[str]]) -> list[list[str]]:
    """``current`` with each edit applied in turn: a non-empty value replaces the key's
    value (or adds the key at the end), an empty value removes the key."""
    result = [[str(k), str(v)] for k, v in current]
    for key, value in edits:
        if not value:
            result = [pair for pair in result if pair[0] != key]
        elif any(pair[0] == key for pair in result):
            result = [[k, value if k == key else v] for k, v in result]
        else:
            result.append([key, value])
    return result


def _edits(value: Any) -> list[list[str]]:
    if isinstance(value, list):  # a null value deletes, as an empty one does
        value = [
            [item[0], ""]
            if isinstance(item, list | tuple) and len(item) == 2 and item[1] is None
            else item
            for item in value
        ]
    return pairs(value)


OVERRIDES = ("param_overrides", "test_param_overrides")


def merge_overrides(
    session: Session, stage: CampaignStage, actor: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Merge edits into the stage's parameter overrides (see ``merge_pairs``); the new lists."""
    unknown = sorted(set(changes) - set(OVERRIDES))
    if unknown:
        raise BadRequest(
            f"unknown field(s): {', '.join(unknown)} (send {' and/or '.join(OVERRIDES)})"
        )
    if not changes:
        raise BadRequest(f"param_overrides: send {' and/or '.join(OVERRIDES)}")
    new: dict[str, list[list[str]]] = {}
    problems = []
    for field, value in changes.items():
        try:
            new[field] = merge_pairs(getattr(stage, field) or [], _edits(value))
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
    if problems:
        raise BadRequest("; ".join(problems))
    before = {field: getattr(stage, field) for field in new}
    for field, value in new.items():
        setattr(stage, field, value)
    record_audit(
        session,
        actor=actor,
        action="merge_param_overrides",
        entity="campaign_stage",
        entity_id=stage.campaign_stage_id,
        before=before,
        after=dict(new),
    )
    return {
        "stage_id": stage.campaign_stage_id,
        "param_overrides": stage.param_overrides,
        "test_param_overrides": stage.test_param_overrides,
    }
