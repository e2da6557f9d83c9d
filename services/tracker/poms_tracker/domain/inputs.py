"""What became of a submission's input files: statuses that only move forward."""

from __future__ import annotations

from collections.abc import Iterable

# Progress order: a report never moves an input back down this list, so a late or
# duplicated report is harmless. A consumed file stays consumed even if another job
# later says it failed on it (the output exists).
INPUT_STATUSES = ("delivered", "skipped", "failed", "consumed")
_RANK = {status: rank for rank, status in enumerate(INPUT_STATUSES)}


def rank(status: str) -> int:
    """Position of a status in the progress order (-1 for a status outside it)."""
    return _RANK.get(status, -1)


def at_least(status: str) -> tuple[str, ...]:
    """Statuses an input must not already have for ``status`` to replace it."""
    return INPUT_STATUSES[rank(status) :] if status in _RANK else ()


def input_targets(
    output_parents: Iterable[str], reports: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """The strongest status each named input reaches through one declaration.

    Every parent of a declared output was consumed; each ``(name, status)`` report says so
    explicitly. When one declaration says several things of a file, the furthest wins.
    """
    wanted: dict[str, str] = {}
    claims = [(name, "consumed") for name in output_parents]
    for name, status in [*claims, *reports]:
        if status not in _RANK:
            continue
        if name not in wanted or rank(status) > rank(wanted[name]):
            wanted[name] = status
    return wanted


def by_status(targets: dict[str, str]) -> dict[str, list[str]]:
    """Names grouped by the status they should reach (one update per group)."""
    groups: dict[str, list[str]] = {}
    for name, status in sorted(targets.items()):
        groups.setdefault(status, []).append(name)
    return groups
