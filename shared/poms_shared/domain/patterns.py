"""File-name patterns of dependencies and job types (SQL LIKE syntax, comma-separated)."""

from __future__ import annotations

import re
from functools import lru_cache


def split_patterns(patterns: str | None) -> tuple[str, ...]:
    """Split a comma list; blanks are dropped and an empty list means everything (``%``)."""
    items = tuple(p.strip() for p in (patterns or "").split(",") if p.strip())
    return items or ("%",)


@lru_cache(maxsize=1024)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def like(name: str, pattern: str) -> bool:
    """SQL LIKE match (``%`` any run, ``_`` one character), case-sensitive as in SAM."""
    return _like_regex(pattern).fullmatch(name) is not None


def matches_any(name: str, patterns: str | tuple[str, ...] | None) -> bool:
    """True if ``name`` matches one of the patterns.

    Patterns containing a blank are catalog query fragments (e.g. ``data_tier 'reco'``);
    the local catalog cannot evaluate them on a name, so they match every file.
    """
    items = patterns if isinstance(patterns, tuple) else split_patterns(patterns)
    return any(" " in p or like(name, p) for p in items)
