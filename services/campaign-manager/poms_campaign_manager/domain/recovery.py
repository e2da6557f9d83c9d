"""Walking a job type's recovery list (reference §4.3), each entry exactly once.

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

Pair = tuple[str, str]


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
