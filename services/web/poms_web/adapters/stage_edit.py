"""Editing a stage's settings: every field checked before any is changed (all or nothing)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.audit import record_audit
from poms_shared.db.models import CampaignStage, JobType, LoginSetup
from poms_shared.domain.split_syntax import SplitError, parse_split_type
from poms_shared.ini.model import COMPLETION_TYPES, STAGE_TYPES
from poms_web.adapters.actions import BadRequest


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
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a whole number of at least 1, got {value!r}")
    return value


def _pairs(value: Any) -> list[list[str]]:
    if not isinstance(value, list):
        raise ValueError("must be a list of [key, value] pairs")
    pairs: list[list[str]] = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, str | int | float) for part in item)
        ):
            raise ValueError(f"{item!r} is not a [key, value] pair")
        pairs.append([str(item[0]), str(item[1])])
    return pairs


def _optional_nonnegative(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"must be a number of at least 0, or null, got {value!r}")
    if value < 0:
        raise ValueError(f"must be a number of at least 0, or null, got {value!r}")
    return float(value)


def _optional_pairs(value: Any) -> list[list[str]] | None:
    return None if value is None else _pairs(value)


# request field → (stage attribute, checker)
FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "split_type": ("cs_split_type", _split),
    "test_split_type": ("test_split_type", _split),
    "dataset": ("dataset", _text),
    "software_version": ("software_version", _text),
    "vo_role": ("vo_role", _nonempty),
    "completion_type": ("completion_type", _choice(COMPLETION_TYPES)),
    "completion_pct": ("completion_pct", _percent),
    "param_overrides": ("param_overrides", _pairs),
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


def _template(session: Session, stage: CampaignStage, field: str, value: Any) -> int:
    model: type[LoginSetup] | type[JobType] = LoginSetup if field == "login_setup" else JobType
    name = _nonempty(value)
    row = session.scalar(
        select(model).where(model.experiment == stage.experiment, model.name == name)
    )
    if row is None:
        what = field.replace("_", " ")
        raise ValueError(f"no {what} named {name!r} in experiment {stage.experiment}")
    return row.login_setup_id if isinstance(row, LoginSetup) else row.job_type_id


def edit_stage(
    session: Session, stage: CampaignStage, actor: str, body: dict[str, Any]
) -> list[str]:
    """Apply the changes in ``body``; returns the names of the fields that changed.

    A change of split type starts its iterator over (the old position means nothing to
    the new type).
    """
    unknown = sorted(set(body) - set(FIELDS) - set(TEMPLATES))
    if unknown:
        known = ", ".join(sorted([*FIELDS, *TEMPLATES]))
        raise BadRequest(f"unknown stage field(s): {', '.join(unknown)} (editable: {known})")
    new: dict[str, Any] = {}
    problems: list[str] = []
    for field, value in body.items():
        try:
            if field in TEMPLATES:
                new[f"{field}_id"] = _template(session, stage, field, value)
            else:
                attribute, check = FIELDS[field]
                new[attribute] = check(value)
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
    if problems:
        raise BadRequest("; ".join(problems))
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
