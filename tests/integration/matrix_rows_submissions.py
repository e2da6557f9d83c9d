"""Permission-matrix rows for the submissions endpoints (see test_auth.py for the format)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ROWS: dict[str, tuple[str, str, Any]] = {
    "recover": ("do", "POST /submissions/{submission}/recover", {"recovery_type": "added_files"}),
    "register submission": ("do", "POST /submissions", "register"),
    "report on submission": (
        "do",
        "PATCH /submissions/{submission}",
        {"batch_id": "1@matrix", "project": "p", "status": "Idle"},
    ),
    "compat update_submission": (
        "do",
        "FORM /update_submission",
        {"submission_id": "{submission}", "jobsub_job_id": "2@matrix", "status": "Running"},
    ),
    "compat get_submission_id_for": (
        "do",
        "FORM /get_submission_id_for",
        {"campaign_stage_id": "{stage}", "command_executed": "jobsub_submit x"},
    ),
    "compat get_task_id_for": (
        "do",
        "FORM /get_task_id_for",
        {"campaign": "{stage}", "task_id": "{submission}"},
    ),
    "compat force_locate_submission": (
        "do",
        "FORM /force_locate_submission",
        {"submission_id": "{submission}"},
    ),
    "compat abort_launch": ("do", "FORM /abort_launch", {"submission_id": "{submission}"}),
    "compat kill_jobs submission": (
        "do",
        "FORM /kill_jobs",
        {"submission_id": "{submission}", "act": "kill", "confirm": "yes"},
    ),
    "compat kill_jobs stage": (
        "do",
        "FORM /kill_jobs",
        {"campaign_stage_id": "{stage}", "act": "hold", "confirm": "yes"},
    ),
}
BODIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "register": lambda ids: {"json": {"stage_id": ids["stage"], "command_executed": "run"}},
}
