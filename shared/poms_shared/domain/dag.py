"""Campaign graph rules shared by the web (validation) and the campaign manager (decisions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class CampaignLaunchError(ValueError):
    """A launch request that cannot be honoured as asked."""


@dataclass(frozen=True)
class Edge:
    """Dependency: ``downstream`` is launched on the outputs of ``upstream``."""

    upstream: int
    downstream: int
    file_patterns: str


def leading_stages(stage_ids: Sequence[int], edges: Sequence[Edge]) -> list[int]:
    """Stages no other stage feeds (self-dependencies do not count)."""
    fed = {e.downstream for e in edges if e.upstream != e.downstream}
    return [sid for sid in stage_ids if sid not in fed]


def choose_leading_stage(campaign: str, stages: Mapping[int, str], edges: Sequence[Edge]) -> int:
    """The unique leading stage, or an error naming what was found."""
    leaders = leading_stages(sorted(stages), edges)
    if len(leaders) == 1:
        return leaders[0]
    if not leaders:
        raise CampaignLaunchError(f"campaign {campaign!r} has no leading stage (dependency loop?)")
    names = ", ".join(stages[s] for s in leaders)
    raise CampaignLaunchError(
        f"campaign {campaign!r} has {len(leaders)} leading stages ({names}); "
        "launch one of them as a stage"
    )


def campaign_done(stage_ids: Sequence[int], located: set[int], active: set[int]) -> bool:
    """Every stage has a Located submission and nothing is still in flight."""
    return bool(stage_ids) and set(stage_ids) <= located and not active
