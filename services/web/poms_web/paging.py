"""One page of a list: ``?page=`` (from 1) and ``?per_page=`` (1–1000, default 100)."""

from __future__ import annotations

from typing import Any

from flask import request

from poms_web.adapters.actions import BadRequest

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000


def paging() -> tuple[int, int]:
    """(page, per_page) from the query; BadRequest naming a bad one."""
    values = []
    for name, default, most in (("page", 1, None), ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)):
        raw = request.args.get(name, "").strip()
        if not raw:
            values.append(default)
            continue
        if not raw.isdigit() or int(raw) < 1 or (most is not None and int(raw) > most):
            limit = f" to {most}" if most else " or more"
            raise BadRequest(f"{name}: a whole number from 1{limit}, not {raw!r}")
        values.append(int(raw))
    return values[0], values[1]


def page_of(items: list[Any]) -> dict[str, Any]:
    """The requested page of ``items`` with the totals a client needs to page on."""
    page, per_page = paging()
    start = (page - 1) * per_page
    return {
        "items": items[start : start + per_page],
        "total": len(items),
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-len(items) // per_page)),
    }
