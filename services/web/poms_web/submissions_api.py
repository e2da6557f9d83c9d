"""``/api/v1``: submissions."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("submissions_api", __name__, url_prefix="/api/v1")
