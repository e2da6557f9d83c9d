"""The fields of login setups and job types and their checks: each check returns the
clean value or raises ValueError saying what is wrong (the caller names the field), and
``checked`` names every bad or missing field of a body at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.models import JobType, LoginSetup, RecoveryType
from poms_shared.domain.recovery import check_recovery_type
from poms_web.adapters.actions import MAX_INT, BadRequest
from poms_web.adapters.stage_edit import pairs

Template: TypeAlias = LoginSetup | JobType
Check = Callable[[Any], Any]


# ---- field checks (ValueError says what is wrong; the caller names the field) -------------


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, got {value!r}")
    return value.strip()


def _required_text(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must not be empty")
    return text


def template_name(value: Any) -> str:
    text = _required_text(value)
    if len(text) > 255:
        raise ValueError("must be at most 255 characters")
    if any(not ch.isprintable() for ch in text):
        raise ValueError("must not contain control characters or line breaks")
    return text


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"must be true or false, got {value!r}")


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise ValueError(f"must be a whole number from 0 to {MAX_INT}, got {value!r}")
    return value


def _patterns(value: Any) -> str:
    return _text(value) or "%"  # every output file, as the reference defaults


Recovery = tuple[RecoveryType, list[list[str]]]


def _recovery(session: Session, item: Any) -> Recovery:
    if isinstance(item, dict):
        extra = sorted(set(item) - {"recovery_type", "param_overrides"})
        if extra:
            raise ValueError(f"unknown key(s) {', '.join(extra)}")
        name, overrides = item.get("recovery_type"), item.get("param_overrides") or []
    elif isinstance(item, list | tuple) and len(item) in (1, 2):
        name, overrides = item[0], (item[1] if len(item) == 2 else None) or []
    else:
        raise ValueError("expected {recovery_type, param_overrides} or [type, overrides]")
    if not isinstance(name, str):
        raise ValueError(f"recovery_type must be text, got {name!r}")
    kind = check_recovery_type(name)
    row = session.scalar(select(RecoveryType).where(RecoveryType.name == kind))
    if row is None:
        raise ValueError(f"recovery type {kind!r} is not set up in this database")
    try:
        return row, pairs(overrides)
    except ValueError as exc:
        raise ValueError(f"param_overrides {exc}") from None


def recoveries(session: Session, value: Any) -> list[Recovery]:
    """The ordered recovery list: ``[{recovery_type, param_overrides}]`` (or the client's
    ``[[type, [[key, value]…]]…]``), each type one of the known ones."""
    if not isinstance(value, list):
        raise ValueError("must be a list of {recovery_type, param_overrides} entries")
    found, problems = [], []
    for index, item in enumerate(value):
        try:
            found.append(_recovery(session, item))
        except ValueError as exc:
            problems.append(f"entry {index}: {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return found


# ---- the two kinds --------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    model: type[LoginSetup] | type[JobType]
    entity: str  # audit entity and id column prefix
    label: str
    fields: Mapping[str, Check]
    required: tuple[str, ...]

    def id_of(self, row: Template) -> int:
        return row.login_setup_id if isinstance(row, LoginSetup) else row.job_type_id


LOGIN = Kind(
    LoginSetup,
    "login_setup",
    "login setup",
    {
        "name": template_name,
        "launch_host": _required_text,
        "launch_account": _required_text,
        "launch_setup": _text,
        "active": _flag,
    },
    ("name", "launch_host", "launch_account"),
)
JOB = Kind(
    JobType,
    "job_type",
    "job type",
    {
        "name": template_name,
        "launch_script": _required_text,
        "definition_parameters": pairs,
        "output_file_patterns": _patterns,
        "input_files_per_job": _count,
        "output_files_per_job": _count,
        "active": _flag,
    },
    ("name", "launch_script"),
)
RECOVERIES = "recoveries"


def kind_of(row: Template) -> Kind:
    return LOGIN if isinstance(row, LoginSetup) else JOB


def checked(
    session: Session, kind: Kind, body: Mapping[str, Any], *, creating: bool
) -> dict[str, Any]:
    """The body's fields, checked; BadRequest naming every bad or missing one."""
    allowed = set(kind.fields) | ({RECOVERIES} if kind is JOB else set())
    unknown = sorted(set(body) - allowed)
    problems = [f"{f}: unknown field (known: {', '.join(sorted(allowed))})" for f in unknown]
    if creating:
        problems += [f"{f}: is required" for f in kind.required if body.get(f) is None]
    values: dict[str, Any] = {}
    for field, value in body.items():
        if field in unknown or (creating and value is None and field in kind.required):
            continue  # already reported
        try:
            if field == RECOVERIES:
                values[field] = recoveries(session, value)
            else:
                values[field] = kind.fields[field](value)
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
    if problems:
        raise BadRequest("; ".join(problems))
    return values
