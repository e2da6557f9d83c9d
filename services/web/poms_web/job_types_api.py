"""``/api/v1``: job_types."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("job_types_api", __name__, url_prefix="/api/v1")
