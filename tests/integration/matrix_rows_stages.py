"""Permission-matrix rows for the stages endpoints (see test_auth.py for the format)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ROWS: dict[str, tuple[str, str, Any]] = {
    # /api/v1
    "add stage": ("modify", "POST /campaigns/{campaign}/stages", {"name": "added"}),
    "clone stage": ("modify", "POST /stages/{stage}/clone", {"name": "cloned"}),
    # the matrix stage has a submission: the allowed get 409
    "delete stage": ("modify", "DELETE /stages/{stage}", None),
    "merge stage overrides": (
        "modify",
        "POST /stages/{stage}/param-overrides",
        {"param_overrides": [["--x ", "1"]]},
    ),
    "unschedule stage": ("modify", "DELETE /stages/{stage}/schedule", None),
    # compatibility methods
    "compat update_campaign_stage": (
        "modify",
        "FORM /update_campaign_stage",
        {"campaign_stage": "{stage}", "completion_pct": "80"},
    ),
    "compat update_stage_param_overrides": (
        "modify",
        "FORM /update_stage_param_overrides",
        {"campaign_stage": "{stage}", "param_overrides": "[('--x ', '1')]"},
    ),
    "compat launch_jobs": ("do", "FORM /launch_jobs", {"campaign_stage_id": "{stage}"}),
    "compat launch_recovery_for": (
        "do",
        "FORM /launch_recovery_for",
        {
            "campaign_stage_id": "{stage}",
            "submission_id": "{submission}",
            "recovery_type": "added_files",
        },
    ),
    "compat launch_jobs_commands": (
        "do",
        "FORM /launch_jobs_commands",
        {"campaign_stage_id": "{stage}", "output_commands": "True"},
    ),
    "compat mark_campaign_hold": (
        "do",
        "FORM /mark_campaign_hold",
        {"ids2HR": "{stage}", "is_hold": "Hold"},
    ),
    "compat held_launches_remove": (
        "do",
        "FORM /held_launches_remove",
        {"campaign_stage_id": "{stage}", "createds": "2000-01-01 00:00:00"},
    ),
    "compat reset_campaign_split": (
        "modify",
        "FORM /reset_campaign_split",
        {"campaign_stage_id": "{stage}"},
    ),
    "compat update_campaign_split": (
        "modify",
        "FORM /update_campaign_split",
        {"campaign_stage_id": "{stage}", "last_split_custom_val": "0"},
    ),
    "compat update_launch_schedule": (
        "modify",
        "FORM /update_launch_schedule",
        {"campaign_stage_id": "{stage}", "minlist": "0", "hourlist": "3"},
    ),
}
BODIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
