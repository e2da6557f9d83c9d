"""One page of a list: ``?page=`` (from 1) and ``?per_page=`` (1–1000, default 100)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from poms_web.adapters.actions import BadRequest

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
MAX_PAGE = 2**31 - 1  # so the offset stays within what the database counts in


def paging() -> tuple[int, int]:
    """(page, per_page) from the query; BadRequest naming a bad one."""
    values = []
    limits = (("page", 1, MAX_PAGE), ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE))
    for name, default, most in limits:
        raw = request.args.get(name, "").strip()
        if not raw:
            values.append(default)
            continue
        if not raw.isdecimal() or not 1 <= int(raw) <= most:
            raise BadRequest(f"{name}: a whole number from 1 to {most}, not {raw!r}")
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


def page_query(
    session: Session, statement: Select[Any], row: Callable[[Any], Any]
) -> dict[str, Any]:
    """The requested page of a query, counted and cut in the database (for long lists):
    ``row`` turns each result row into its JSON form. The query must be ordered."""
    page, per_page = paging()
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    total = int(total or 0)
    rows = session.execute(statement.limit(per_page).offset((page - 1) * per_page))
    return {
        "items": [row(r) for r in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-total // per_page)),
    }
