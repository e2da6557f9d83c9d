"""What the ``poms`` command line prints: aligned tables and ``key: value`` blocks for
people, the server's JSON unchanged with ``--json``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_CELL = 60
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
Column = tuple[str, str]  # (key in the JSON object, header)


@dataclass(frozen=True)
class Shown:
    """A command's result: ``data`` for ``--json``, ``text`` for people."""

    data: Any
    text: str


def cell(value: Any, width: int = MAX_CELL) -> str:
    """One value as table text: ``-`` for nothing, yes/no, lists joined, long text cut."""
    if value is None or value == "":
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, list | tuple) and value and all(is_pair(v) for v in value):
        text = " ".join(f"{k}{v}" for k, v in value)  # overrides read as a command line
    elif isinstance(value, list | tuple):
        text = ", ".join(cell(v, width) for v in value) or "-"
    elif isinstance(value, str) and TIMESTAMP.match(value):
        text = local_time(value)
    elif isinstance(value, dict):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    text = " ".join(text.split())  # one line per row
    return text if len(text) <= width else text[: width - 1] + "…"


def is_pair(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, str) for v in value)
    )


def local_time(stamp: str) -> str:
    """An ISO timestamp as local time to the second (the JSON keeps the original)."""
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S")


def pick(item: Any, key: str) -> Any:
    """``item[key]``, following dots into nested objects (``schedule.cron``)."""
    for part in key.split("."):
        if not isinstance(item, dict):
            return None
        item = item.get(part)
    return item


def table(rows: Iterable[Any], columns: Sequence[Column], *, empty: str = "(none)") -> str:
    """Rows of JSON objects as an aligned table with a header line."""
    cells = [[cell(pick(row, key)) for key, _ in columns] for row in rows]
    if not cells:
        return empty
    headers = [header for _, header in columns]
    widths = [max(len(r[i]) for r in [headers, *cells]) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *cells]
    ]
    return "\n".join(lines)


def fields(item: Any, keys: Sequence[Column] | None = None) -> str:
    """``label: value`` lines (every scalar field when ``keys`` is None)."""
    if keys is None:
        keys = [(k, k) for k, v in item.items() if not isinstance(v, dict | list) or not v]
    width = max((len(label) for _, label in keys), default=0)
    return "\n".join(f"{label + ':':<{width + 1}} {cell(pick(item, k), 200)}" for k, label in keys)


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def listing(columns: Sequence[Column], *, empty: str = "(none)") -> Callable[[Any], Shown]:
    """A renderer for list answers (``{"items": [...]}`` or a bare list)."""

    def render(data: Any) -> Shown:
        rows = data.get("items", []) if isinstance(data, dict) else data
        text = table(rows, columns, empty=empty)
        if isinstance(data, dict) and data.get("pages", 1) > 1 and "total" in data:
            text += (
                f"\n(page {data['page']} of {data['pages']}, {data['total']} in all;"
                " --page N or --all-pages for more)"
            )
        return Shown(data, text)

    return render


def sections(*parts: tuple[str, str]) -> str:
    """Titled blocks separated by a blank line (empty blocks left out)."""
    return "\n\n".join(f"{title}\n{body}" if title else body for title, body in parts if body)
