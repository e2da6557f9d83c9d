"""Which launches a Located submission implies (reference §3.5–3.6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poms_shared.domain.dag import Edge


@dataclass(frozen=True)
class DependentLaunch:
    """One launch caused by a Located submission."""

    stage_id: int
    dataset_name: str | None  # None: self-dependency, the split type picks the next slice
    file_patterns: str


def dependency_dataset_name(submission_id: int, index: int, role: str, username: str) -> str:
    """``poms_depends_<SID>_<i>``; analysis stages carry the user name as SAM requires."""
    if role == "analysis":
        return f"poms_{username}_depends_{submission_id}_{index}"
    return f"poms_depends_{submission_id}_{index}"


def plan_dependent_launches(
    submission_id: int, stage_id: int, edges: Sequence[Edge], role: str, username: str
) -> list[DependentLaunch]:
    """Every downstream launch for a Located submission, ordered by downstream stage id."""
    plans: list[DependentLaunch] = []
    index = 0
    for edge in sorted((e for e in edges if e.upstream == stage_id), key=lambda e: e.downstream):
        if edge.downstream == stage_id:
            plans.append(DependentLaunch(stage_id, None, edge.file_patterns))
            continue
        index += 1
        name = dependency_dataset_name(submission_id, index, role, username)
        plans.append(DependentLaunch(edge.downstream, name, edge.file_patterns))
    return plans
