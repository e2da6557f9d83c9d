"""Permission-matrix rows for the submissions endpoints (see test_auth.py for the format)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ROWS: dict[str, tuple[str, str, Any]] = {}
BODIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
