"""Recovery types and walking a job type's recovery list (reference §4.2–4.5).

Shared by the campaign manager (which launches recoveries) and the web (which previews
them), and by the catalog adapters (which build each type's file set).

Each list entry is evaluated exactly once.

The list belongs to the original submission. Entry 0 examines the original; every later
entry examines the submission that just finished (the previous recovery), so it only
looks at what that recovery still failed to do. The first entry whose file set is not
empty is launched and the walk stops until that recovery is Located; an exhausted list
lets the dependents go. (The reference evaluated entry 0 twice; here the position always
advances past the entry it evaluated.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

Pair = tuple[str, str]
T = TypeVar("T")

RECOVERY_TYPES = (
    "consumed_status",
    "process_status",
    "added_files",
    "delivered_not_consumed",
    "pending_files",
)
DEFAULT_RECOVERY = "consumed_status"
ALIASES = {"proj_status": "process_status"}  # the old name


def recovery_kind(recovery_type: str) -> str:
    """The canonical recovery type; unknown names recover like ``consumed_status``."""
    kind = ALIASES.get(recovery_type.strip(), recovery_type.strip())
    return kind if kind in RECOVERY_TYPES else DEFAULT_RECOVERY


def check_recovery_type(recovery_type: str) -> str:
    """The canonical name of a type a person asked for; ``ValueError`` if there is none."""
    name = recovery_type.strip()
    if name not in RECOVERY_TYPES and name not in ALIASES:
        raise ValueError(
            f"unknown recovery type {recovery_type!r} (known: {', '.join(RECOVERY_TYPES)})"
        )
    return recovery_kind(name)


def examined(index: int, original: T, current: T) -> T:
    """The submission a list entry looks at: the original for entry 0, then the latest."""
    return original if index == 0 else current


@dataclass(frozen=True)
class RecoveryStep:
    recovery_type: str
    param_overrides: tuple[Pair, ...] = ()


@dataclass(frozen=True)
class WalkResult:
    position: int  # the original's recovery_position after this walk
    launch: int | None  # index of the step to launch, None when the list is exhausted
    files: tuple[str, ...] = ()


def walk_recoveries(
    steps: Sequence[RecoveryStep],
    position: int,
    files_for: Callable[[int, RecoveryStep], Sequence[str]],
) -> WalkResult:
    """Evaluate steps from ``position`` on until one has files; never one twice."""
    while position < len(steps):
        index = position
        position += 1
        files = tuple(files_for(index, steps[index]))
        if files:
            return WalkResult(position, index, files)
    return WalkResult(position, None)


def recovery_dataset_name(token: str, submission_id: int, position: int) -> str:
    """``poms_recover_<token>_<SID>_<position>`` (the token makes each name new)."""
    return f"poms_recover_{token}_{submission_id}_{position}"
