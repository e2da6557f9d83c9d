"""Permission-matrix rows for the templates endpoints (see test_auth.py for the format).

The target's login setup and job type are used by its stage: an allowed delete answers
409 (in use), which the matrix counts as allowed. Creating rows make a new name; the
allowed after the first get 409 (name taken).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LOGIN = {"launch_host": "h.example", "launch_account": "acct"}
RECOVERIES = '[["added_files", [["-Omem=", "2GB"]]]]'  # no braces: form values are formatted

ROWS: dict[str, tuple[str, str, Any]] = {
    # /api/v1 login setups
    "create login setup": ("create", "POST /login-setups", {"name": "mx_login", **LOGIN}),
    "edit login setup": ("modify", "PATCH /login-setups/{login_setup}", {"launch_setup": "x"}),
    "delete login setup": ("modify", "DELETE /login-setups/{login_setup}", None),
    "clone login setup": ("create", "POST /login-setups/{login_setup}/clone", {"name": "mx_copy"}),
    # /api/v1 job types
    "create job type": ("create", "POST /job-types", {"name": "mx_job", "launch_script": "r"}),
    "edit job type": ("modify", "PATCH /job-types/{job_type}", {"input_files_per_job": 3}),
    "delete job type": ("modify", "DELETE /job-types/{job_type}", None),
    "clone job type": ("create", "POST /job-types/{job_type}/clone", {"name": "mx_copy"}),
    "replace recoveries": (
        "modify",
        "PUT /job-types/{job_type}/recoveries",
        "recoveries",
    ),
    # compatibility methods
    "compat add login setup": (
        "create",
        "FORM /login_setup_edit",
        {
            "action": "add",
            "pcl_call": "1",
            "ae_launch_name": "mx_compat",
            "ae_launch_host": "h",
            "ae_launch_account": "a",
        },
    ),
    "compat add launch template": (
        "create",
        "FORM /launch_template_edit",
        {
            "action": "add",
            "ae_launch_name": "mx_lt",
            "ae_launch_host": "h",
            "ae_launch_account": "a",
        },
    ),
    "compat edit login setup": (
        "modify",
        "FORM /login_setup_edit",
        {"action": "edit", "ae_launch_id": "{login_setup}", "ae_launch_setup": "y"},
    ),
    "compat delete login setup": (
        "modify",
        "FORM /login_setup_edit",
        {"action": "delete", "ae_launch_id": "{login_setup}"},
    ),
    "compat login_setup_rm": ("modify", "FORM /login_setup_rm", {"ae_launch_id": "{login_setup}"}),
    "compat add job type": (
        "create",
        "FORM /job_type_edit",
        {
            "action": "add",
            "pcl_call": "1",
            "ae_definition_name": "mx_compat",
            "ae_launch_script": "r",
            "ae_definition_recovery": RECOVERIES,
        },
    ),
    "compat add campaign definition": (
        "create",
        "FORM /campaign_definition_edit",
        {"action": "add", "ae_definition_name": "mx_cd", "ae_launch_script": "r"},
    ),
    "compat edit job type": (
        "modify",
        "FORM /job_type_edit",
        {"action": "edit", "ae_campaign_definition_id": "{job_type}", "ae_launch_script": "s"},
    ),
    "compat delete job type": (
        "modify",
        "FORM /job_type_edit",
        {"action": "delete", "ae_campaign_definition_id": "{job_type}"},
    ),
    "compat job_type_rm": ("modify", "FORM /job_type_rm", {"job_type_id": "{job_type}"}),
    "compat modify recoveries": (
        "modify",
        "FORM /modify_job_type_recoveries",
        {"job_type_id": "{job_type}", "recoveries": RECOVERIES},
    ),
}
BODIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "recoveries": lambda ids: {
        "json": [{"recovery_type": "pending_files", "param_overrides": [["-Ox=", "1"]]}]
    },
}
