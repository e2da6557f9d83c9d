"""Permission-matrix rows for the campaigns endpoints (see test_auth.py for the format).

The matrix knows campaigns by name only, so the compatibility rows name them with
``campaign_name`` (accepted wherever the original takes campaign ids).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ROWS: dict[str, tuple[str, str, Any]] = {
    # /api/v1
    "create campaign": ("create", "POST /campaigns", {"name": "made_in_matrix"}),
    "deactivate campaign": ("modify", "PATCH /campaigns/{campaign}", {"active": False}),
    "deactivate campaigns": ("modify", "POST /campaigns/active", "bulk_inactive"),
    "rename campaign": ("modify", "POST /campaigns/{campaign}/rename", "rename"),
    "clone campaign": ("create", "POST /campaigns/{campaign}/clone", "clone"),
    "delete campaign": ("modify", "DELETE /campaigns/{campaign}", None),
    "tag campaign": ("modify", "PUT /campaigns/{campaign}/tags/matrix", None),
    "untag campaign": ("modify", "DELETE /campaigns/{campaign}/tags/matrix?delete_unused=1", None),
    "clone sample": ("create", "POST /sample-campaigns/sample_chain/clone", {"to": "matrix"}),
    # compatibility methods
    "compat campaign_add_name": (
        "create",
        "FORM /campaign_add_name",
        {"campaign_name": "added_in_matrix"},
    ),
    "compat delete campaign": (
        "modify",
        "FORM /show_campaigns",
        {"action": "delete", "pcl_call": "1", "del_campaign_name": "{campaign}", "fmt": "json"},
    ),
    "compat ini_to_campaign": ("modify", "FORM /ini_to_campaign", {"upload": "{ini}"}),
    "compat mark_campaign_active": (
        "modify",
        "FORM /mark_campaign_active",
        {"campaign_name": "{campaign}", "is_active": "False"},
    ),
    "compat link_tags": (
        "modify",
        "FORM /link_tags",
        {"campaign_name": "{campaign}", "tag_name": "matrix"},
    ),
    "compat delete_campaigns_tags": (
        "modify",
        "FORM /delete_campaigns_tags",
        {"campaign_name": "{campaign}", "tag_name": "matrix", "delete_unused_tag": "1"},
    ),
    "compat launch_campaign": (
        "do",
        "FORM /launch_campaign",
        {"campaign_name": "{campaign}", "test_launch": "1"},
    ),
}
BODIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "bulk_inactive": lambda ids: {"json": {"campaigns": [ids["campaign"]], "active": False}},
    "rename": lambda ids: {"json": {"to": f"{ids['campaign']}_renamed"}},
    "clone": lambda ids: {"json": {"to": f"{ids['campaign']}_copy"}},
}
