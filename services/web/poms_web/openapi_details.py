"""What the OpenAPI document says an endpoint takes: request bodies and query parameters of
``/api/v1`` (``DETAILS``) and the form fields of the compatibility methods
(``COMPAT_FIELDS``). Each entry follows the checks its view makes (see the view and the
adapter it calls); ``openapi`` adds paths, path parameters and responses from the app.
"""

from __future__ import annotations

from typing import Any

from poms_shared.domain.permissions import CREATOR_ROLES, ROLES
from poms_shared.domain.recovery import ALIASES, RECOVERY_TYPES
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.ini.model import COMPLETION_TYPES, STAGE_TYPES
from poms_web.adapters.stage_edit import COLUMN_FIELDS, TEXT_FIELDS

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _q(name: str, schema: dict[str, Any], doc: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": doc}


STR = {"type": "string"}
INT = {"type": "integer", "minimum": 1}
BOOL = {"type": "boolean"}
PAGES = [_q("page", INT, "page number, from 1"), _q("per_page", INT, "items per page, 1–1000")]
PAIRS = {"type": "array", "items": {"type": "array", "items": STR, "minItems": 2, "maxItems": 2}}


def _body(
    properties: dict[str, Any], required: tuple[str, ...] = (), *, closed: bool = False
) -> dict[str, Any]:
    """A JSON object body; ``closed`` when the view refuses fields it does not know."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return {"required": True, "content": {JSON: {"schema": schema}}}


RAW_INI: dict[str, Any] = {"required": True, "content": {"text/plain": {"schema": STR}}}

# ---- building blocks ------------------------------------------------------------------

NO_BODY = None  # DETAILS "body": NO_BODY — the view reads no request body
ID = {"type": "integer", "minimum": 0}
COUNT = {"type": "integer", "minimum": 0}
NUMBER = {"type": "number"}
TEXT_ID = {"type": "string", "description": "an id, as text"}
TRUTHS = ("1", "0", "true", "false", "yes", "no", "on", "off")
FLAG = {"type": "string", "enum": list(TRUTHS), "description": "true or false"}
ROLE = {"type": "string", "enum": list(ROLES)}
CREATOR_ROLE = {"type": "string", "enum": list(CREATOR_ROLES)}
RECOVERY_TYPE = {"type": "string", "enum": [*RECOVERY_TYPES, *ALIASES]}
STATUS = {"type": "string", "enum": [s.label for s in SubmissionStatus]}
PLAIN_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}
EXPERIMENT = _q("experiment", STR, "the experiment whose campaign the path names")
EDITS = {
    "type": "array",
    "items": {
        "type": "array",
        "items": {"type": "string", "nullable": True},
        "minItems": 2,
        "maxItems": 2,
    },
    "description": "[key, value] pairs: a value replaces or adds, an empty or null one removes",
}
RECOVERY_ENTRY = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"recovery_type": RECOVERY_TYPE, "param_overrides": PAIRS},
            "required": ["recovery_type"],
            "additionalProperties": False,
        },
        {
            "type": "array",
            "items": {"oneOf": [RECOVERY_TYPE, PAIRS]},
            "minItems": 1,
            "maxItems": 2,
            "description": "[recovery type, [[key, value]…]] (the original client's form)",
        },
    ]
}
RECOVERY_LIST = {"type": "array", "items": RECOVERY_ENTRY}

# PATCH /stages/<id> fields (adapters.stage_edit.FIELDS and the template names)
STAGE_FIELDS: dict[str, Any] = {
    "split_type": {**STR, "nullable": True},
    "test_split_type": {**STR, "nullable": True},
    "dataset": STR,
    "software_version": STR,
    "vo_role": STR,
    "completion_type": {"type": "string", "enum": list(COMPLETION_TYPES)},
    "completion_pct": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 100},
    "param_overrides": PAIRS,
    "test_param_overrides": {**PAIRS, "nullable": True},
    "merge_overrides": BOOL,
    "default_clear_cronjob": BOOL,
    "stage_type": {"type": "string", "enum": list(STAGE_TYPES)},
    "output_ancestor_depth": {"type": "integer", "minimum": 1},
    "failed_ratio": {"type": "number", "minimum": 0, "nullable": True},
    "located_after_hours": {"type": "number", "minimum": 0, "nullable": True},
    "login_setup": {**STR, "description": "a login setup's name"},
    "job_type": {**STR, "description": "a job type's name"},
}
NEW_STAGE_FIELDS: dict[str, Any] = {
    "name": STR,
    **STAGE_FIELDS,
    "login_setup_id": ID,
    "job_type_id": ID,
    "depends_on": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"stage": STR, "file_patterns": STR},
            "required": ["stage"],
        },
    },
}
LAUNCH = _body(
    {
        "test": BOOL,
        "dataset": STR,
        "commands_only": BOOL,
        "as_user": STR,
        "param_overrides": PAIRS,
        "parent_submission_id": ID,
    }
)
LOGIN_SETUP: dict[str, Any] = {
    "name": STR,
    "launch_host": STR,
    "launch_account": STR,
    "launch_setup": STR,
    "active": BOOL,
}
JOB_TYPE: dict[str, Any] = {
    "name": STR,
    "launch_script": STR,
    "definition_parameters": PAIRS,
    "output_file_patterns": STR,
    "input_files_per_job": COUNT,
    "output_files_per_job": COUNT,
    "active": BOOL,
    "recoveries": RECOVERY_LIST,
}
TEMPLATE_FILTERS = [
    _q("q", STR, "part of the name"),
    _q("mine", FLAG),
    _q("active", FLAG),
    _q("creator_role", ROLE),
    _q("shared", FLAG, "also the shared experiment's"),
    *PAGES,
]
NAME_ONLY = _body({"name": STR}, ("name",), closed=True)
CLONE_NAME = _body({"to": STR, "rename": STR}, ("to",), closed=True)
JOB_EVENT = {
    "type": "object",
    "properties": {
        "source": STR,
        "backend": STR,
        "batch_job_id": STR,
        "submission_id": ID,
        "state": {
            "type": "string",
            "enum": ["idle", "running", "held", "completed", "failed", "cancelled", "removed"],
        },
        "seq": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "exit_code": {"type": "integer", "nullable": True},
        "node": {**STR, "nullable": True},
        "log_path": {**STR, "nullable": True},
        "site": {**STR, "nullable": True},
        "cpu_seconds": {"type": "number", "minimum": 0, "nullable": True},
        "wall_seconds": {"type": "number", "minimum": 0, "nullable": True},
        "memory_mb": {"type": "integer", "minimum": 0, "nullable": True},
        "memory_requested_mb": {"type": "integer", "minimum": 0, "nullable": True},
    },
    "required": ["source", "backend", "batch_job_id", "submission_id", "state", "seq", "at"],
    "additionalProperties": False,
}
DECLARED_FILE = {
    "type": "object",
    "properties": {
        "name": STR,
        "location": {**STR, "nullable": True},
        "size": {"type": "integer", "minimum": 0, "nullable": True},
        "parents": {"type": "array", "items": STR},
        "software_version": {**STR, "nullable": True},
        "metadata": {
            "type": "object",
            "additionalProperties": {
                "oneOf": [STR, {"type": "number"}, BOOL],
                "nullable": True,
            },
        },
    },
    "required": ["name"],
    "additionalProperties": False,
}
INPUT_REPORT = {
    "type": "object",
    "properties": {
        "name": STR,
        "status": {"type": "string", "enum": ["delivered", "consumed", "failed", "skipped"]},
    },
    "required": ["name", "status"],
    "additionalProperties": False,
}

# "METHOD /path" -> {"query": [...], "body": requestBody (NO_BODY: none)}
DETAILS: dict[str, dict[str, Any]] = {
    "PUT /me": {"body": _body({"experiment": STR, "role": ROLE}, ("experiment",))},
    # ---- campaigns
    "GET /campaigns": {
        "query": [
            _q("experiment", STR),
            _q("active", {"type": "string", "enum": ["all", *TRUTHS]}, "default true"),
            _q("mine", FLAG, "only the requester's"),
            _q("creator_role", CREATOR_ROLE),
            _q("tag", STR, "carrying this tag"),
            _q("q", STR, "part of the name"),
            *PAGES,
        ]
    },
    "POST /campaigns": {"body": _body({"name": STR, "role": CREATOR_ROLE}, ("name",), closed=True)},
    "GET /campaigns/{name}": {"query": [EXPERIMENT]},
    "PATCH /campaigns/{name}": {
        "body": _body({"active": BOOL, "clear_cron": BOOL}, ("active",), closed=True)
    },
    "POST /campaigns/active": {
        "body": _body(
            {
                "campaigns": {"type": "array", "items": STR, "minItems": 1},
                "active": BOOL,
                "clear_cron": BOOL,
            },
            ("campaigns", "active"),
            closed=True,
        )
    },
    "POST /campaigns/{name}/rename": {"body": _body({"to": STR}, ("to",), closed=True)},
    "POST /campaigns/{name}/clone": {"body": CLONE_NAME},
    "POST /campaigns/{name}/launch": {"query": [EXPERIMENT], "body": _body({"test": BOOL})},
    "POST /campaigns/{name}/{action}": {"query": [EXPERIMENT], "body": NO_BODY},
    "POST /campaigns/{name}/jobs/{action}": {"query": [EXPERIMENT], "body": NO_BODY},
    "POST /campaigns/ini": {
        "query": [_q("experiment", STR, "else the file's, else the acting experiment")],
        "body": {
            "required": True,
            "content": {
                **RAW_INI["content"],
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        },
    },
    "GET /campaigns/{name}/ini": {
        "query": [EXPERIMENT, _q("full", {"type": "string", "enum": ["0", "1"]})]
    },
    "POST /campaigns/{name}/stages": {
        "query": [EXPERIMENT],
        "body": _body(NEW_STAGE_FIELDS, ("name",), closed=True),
    },
    "PUT /campaigns/{name}/tags/{tag}": {"body": NO_BODY},
    "DELETE /campaigns/{name}/tags/{tag}": {
        "query": [_q("delete_unused", FLAG, "delete the tag when no campaign carries it")]
    },
    "GET /tags": {"query": [_q("q", STR, "part of the name"), *PAGES]},
    "GET /sample-campaigns": {"query": PAGES},
    "POST /sample-campaigns/{name}/clone": {"body": CLONE_NAME},
    # ---- stages
    "GET /stages": {
        "query": [EXPERIMENT, _q("campaign", STR, "only this campaign's stages"), *PAGES]
    },
    "PATCH /stages/{stage_id}": {"body": _body(STAGE_FIELDS, closed=True)},
    "POST /stages/{stage_id}/clone": {"body": _body({"name": STR}, ("name",))},
    "POST /stages/{stage_id}/param-overrides": {
        "body": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {
                        "type": "object",
                        "properties": {"param_overrides": EDITS, "test_param_overrides": EDITS},
                        "minProperties": 1,
                        "additionalProperties": False,
                    }
                }
            },
        }
    },
    "POST /stages/{stage_id}/launch": {"body": LAUNCH},
    "POST /stages/{stage_id}/{action}": {"body": NO_BODY},
    "POST /stages/{stage_id}/jobs/{action}": {"body": NO_BODY},
    "PUT /stages/{stage_id}/schedule": {
        "body": _body({"cron": {**STR, "description": "5 fields: m h dom mon dow"}}, ("cron",))
    },
    "POST /stages/{stage_id}/split": {
        "body": _body({"reset": BOOL, "position": {"type": "integer", "minimum": 0}})
    },
    "POST /launches/{action}": {"body": NO_BODY},
    "GET /held-launches": {"query": [_q("stage_id", ID, "only this stage's"), *PAGES]},
    # ---- login setups, job types, recovery types
    "GET /login-setups": {"query": TEMPLATE_FILTERS},
    "POST /login-setups": {
        "body": _body(LOGIN_SETUP, ("name", "launch_host", "launch_account"), closed=True)
    },
    "PATCH /login-setups/{login_setup_id}": {"body": _body(LOGIN_SETUP, closed=True)},
    "POST /login-setups/{login_setup_id}/clone": {"body": NAME_ONLY},
    "POST /login-setups/{login_setup_id}/test": {"body": NO_BODY},
    "GET /login-setups/{login_setup_id}/tests/{name}": {
        "query": [_q("tail", COUNT, "only the last N lines")]
    },
    "GET /job-types": {"query": TEMPLATE_FILTERS},
    "POST /job-types": {"body": _body(JOB_TYPE, ("name", "launch_script"), closed=True)},
    "PATCH /job-types/{job_type_id}": {"body": _body(JOB_TYPE, closed=True)},
    "POST /job-types/{job_type_id}/clone": {"body": NAME_ONLY},
    "PUT /job-types/{job_type_id}/recoveries": {
        "body": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {
                        "oneOf": [
                            RECOVERY_LIST,
                            {
                                "type": "object",
                                "properties": {"recoveries": RECOVERY_LIST},
                                "required": ["recoveries"],
                                "additionalProperties": False,
                            },
                        ]
                    }
                }
            },
        }
    },
    "POST /job-types/{job_type_id}/test": {"body": LAUNCH},
    "GET /recovery-types": {"query": PAGES},
    # ---- submissions
    "GET /submissions": {
        "query": [
            _q("campaign", STR, "campaign name"),
            _q("stage", ID, "stage id"),
            {
                **_q(
                    "status",
                    {"type": "array", "items": STATUS},
                    "status labels, repeated or comma-separated",
                ),
                "style": "form",
                "explode": True,
            },
            _q("tmin", STR, "created from: 2026-01-31[ 12:00[:00]]"),
            _q("tmax", STR, "created until"),
            _q("tdays", {"type": "number", "exclusiveMinimum": True, "minimum": 0}, "days"),
            _q("mine", FLAG, "launched or registered by the requester"),
            *PAGES,
        ]
    },
    "POST /submissions": {
        "body": _body(
            {
                "stage_id": ID,
                "command_executed": STR,
                "input_dataset": STR,
                "parent_submission_id": ID,
                "submission_id": ID,
                "user": STR,
                "test": BOOL,
            },
            ("stage_id",),
            closed=True,
        )
    },
    "PATCH /submissions/{submission_id}": {
        "body": _body(
            {
                "batch_id": STR,
                "status": STATUS,
                "project": STR,
                "pct_complete": {"type": "number", "minimum": 0, "maximum": 100, "nullable": True},
            },
            closed=True,
        )
    },
    "GET /submissions/{submission_id}/history": {"query": PAGES},
    "GET /submissions/{submission_id}/jobs": {"query": PAGES},
    "GET /submissions/{submission_id}/log": {"query": [_q("tail", COUNT, "the last N lines")]},
    "POST /submissions/{submission_id}/{action}": {"body": NO_BODY},
    "POST /submissions/{submission_id}/{decision}": {"body": NO_BODY},
    "POST /submissions/{submission_id}/abort": {"body": NO_BODY},
    "POST /submissions/{submission_id}/condor-log": {
        "query": [
            _q("schedd", PLAIN_NAME, "the jobs' schedd (ids become <cluster>.<proc>@<schedd>)"),
            _q("backend", PLAIN_NAME, "default jobsub"),
        ],
        "body": {"required": True, "content": {"text/plain": {"schema": STR}}},
    },
    "GET /submissions/{submission_id}/recovery-preview": {
        "query": [_q("type", RECOVERY_TYPE, "one recovery type, on this submission")]
    },
    "POST /submissions/{submission_id}/recover": {
        "body": _body({"recovery_type": RECOVERY_TYPE}, ("recovery_type",))
    },
    "POST /job-events": {
        "body": _body(
            {"events": {"type": "array", "items": JOB_EVENT, "maxItems": 5000}}, ("events",)
        )
    },
    "POST /files": {
        "body": _body(
            {
                "experiment": STR,
                "submission_id": {**ID, "nullable": True},
                "batch_job_id": {**STR, "nullable": True},
                "files": {"type": "array", "items": DECLARED_FILE, "maxItems": 5000},
                "inputs": {"type": "array", "items": INPUT_REPORT, "maxItems": 5000},
            },
            ("experiment",),
            closed=True,
        )
    },
    # ---- identity, audit
    "GET /tokens": {"query": PAGES},
    "POST /tokens": {
        "body": _body(
            {
                "name": STR,
                "expires_days": {
                    "type": "number",
                    "exclusiveMinimum": True,
                    "minimum": 0,
                    "maximum": 366,
                },
                "experiment": STR,
                "role": ROLE,
            },
            ("name",),
        )
    },
    "GET /experiments": {"query": PAGES},
    "GET /experiments/{experiment}/members": {"query": PAGES},
    "PUT /experiments/{experiment}/members/{username}": {
        "body": _body({"role": ROLE, "active": BOOL}, ("role",))
    },
    "GET /audit": {
        "query": [
            _q("experiment", STR),
            _q("actor", STR),
            _q("entity", STR),
            _q("entity_id", STR),
            _q("action", STR),
            *PAGES,
        ]
    },
}

# ---- compatibility methods: form fields (query fields mean the same) ---------------------

IDS = {"type": "string", "description": "ids, comma-separated"}
LITERAL = {"type": "string", "description": "a JSON or Python literal"}
CHECKBOX = {"type": "string", "description": "a ticked box (any value but 0/false/off)"}
STAGE_REF = {"type": "string", "description": "a stage id, [campaign, stage] or a stage name"}
VIEW_FLAGS = (
    "view_active",
    "view_inactive",
    "view_mine",
    "view_others",
    "view_analysis",
    "view_production",
)
VIEWS = {"update_view": STR, **{f: CHECKBOX for f in VIEW_FLAGS}}
CHECKED_VIEWS = {"update_view": STR, **{f: FLAG for f in VIEWS if f != "update_view"}}
REDIRECT = {"redirect": {"type": "string", "description": "0: answer the location as text"}}
LAUNCH_FORM = {
    "campaign_stage_id": STAGE_REF,
    "test_launch": FLAG,
    "dataset_override": STR,
    "launcher": {"type": "string", "description": "a user name or experimenter id"},
    "parent_submission_id": ID,
    **REDIRECT,
}
LOGIN_FORM = {
    "ae_launch_id": ID,
    "ae_launch_name": STR,
    "ae_launch_host": STR,
    "ae_launch_account": STR,
    "ae_launch_setup": STR,
}
JOB_FORM = {
    "ae_campaign_definition_id": ID,
    "job_type_id": ID,
    "ae_definition_name": STR,
    "ae_launch_script": STR,
    "ae_definition_parameters": LITERAL,
    "ae_output_file_patterns": STR,
    "ae_input_files_per_job": COUNT,
    "ae_output_files_per_job": COUNT,
    "ae_definition_recovery": LITERAL,
}
EDIT_ACTION = {"type": "string", "enum": ["add", "edit", "delete"]}
# stage fields by their names in update_campaign_stage (text as sent, the others literals)
STAGE_FORM = {
    **{name: STR if name in TEXT_FIELDS else LITERAL for name in STAGE_FIELDS},
    **{column: STR for column in COLUMN_FIELDS},
}
LOGIN_EDIT = {
    "action": EDIT_ACTION,
    **LOGIN_FORM,
    "ae_active": FLAG,
    "test_template": STR,
    **VIEWS,
    **REDIRECT,
}
JOB_EDIT = {"action": EDIT_ACTION, **JOB_FORM, "ae_active": FLAG, "test_template": STR, **VIEWS}
REGISTER = {
    "campaign_stage_id": {"type": "string", "description": "a stage id or part of a name"},
    "campaign": STR,
    "submission_id": ID,
    "task_id": ID,
    "command_executed": STR,
    "input_dataset": STR,
    "parent_submission_id": ID,
    "parent_task_id": ID,
    "user": STR,
    "test": STR,
}

# method name -> form field -> schema (besides fmt, experiment and role, which every one takes)
COMPAT_FIELDS: dict[str, dict[str, Any]] = {
    # the session's experiment and role
    "update_session_experiment": {"session_experiment": STR},
    "update_session_role": {"session_role": ROLE},
    # campaigns
    "show_campaigns": {
        "action": {"type": "string", "enum": ["delete"]},
        "del_campaign_name": STR,
        "del_campaign_id": ID,
        **VIEWS,
    },
    "campaign_add_name": {"campaign_name": STR},
    "campaign_list_json": {},
    "get_campaign_id": {"campaign_name": STR},
    "get_campaign_name": {"campaign_id": ID},
    "campaign_deps_ini": {"name": STR, "campaign_name": STR, "full": FLAG},
    "ini_to_campaign": {"upload": {**STR, "description": "the .ini text"}, "replace": STR},
    "mark_campaign_active": {
        "campaign_id": IDS,
        "camp_l": IDS,
        "campaign_name": STR,
        "is_active": {**STR, "description": "true, active or 1: active"},
        "clear_cron": FLAG,
    },
    "launch_campaign": {"campaign_id": IDS, "campaign_name": STR, "test_launch": FLAG, **REDIRECT},
    "link_tags": {"campaign_id": IDS, "campaign_name": STR, "tag_name": STR},
    "delete_campaigns_tags": {
        "campaign_id": IDS,
        "campaign_name": STR,
        "tag_id": ID,
        "tag_name": STR,
        "delete_unused_tag": FLAG,
    },
    "search_all_tags": {"cl": IDS},
    "auto_complete_tags_search": {"q": STR},
    # stages
    "show_campaign_stages": {"campaign_ids": IDS, "campaign_name": STR, **CHECKED_VIEWS},
    "get_campaign_stage_id": {"campaign_name": STR, "campaign_stage_name": STR},
    "get_campaign_stage_name": {"campaign_stage_id": ID},
    "update_campaign_stage": {"campaign_stage": STAGE_REF, **STAGE_FORM},
    "update_stage_param_overrides": {
        "campaign_stage": STAGE_REF,
        "param_overrides": LITERAL,
        "test_param_overrides": LITERAL,
    },
    "launch_jobs": LAUNCH_FORM,
    "launch_jobs_commands": LAUNCH_FORM,
    "launch_recovery_for": {
        "campaign_stage_id": STAGE_REF,
        "submission_id": ID,
        "recovery_type": STR,
        **REDIRECT,
    },
    "mark_campaign_hold": {
        "ids2HR": IDS,
        "is_hold": {
            "type": "string",
            "enum": ["Hold", "Queue", "Release", "hold", "queue", "release"],
        },
        "clear_cron": FLAG,
        **REDIRECT,
    },
    "held_launches": {"campaign_stage_id": ID},
    "held_launches_remove": {
        "held_launch_id": IDS,
        "createds": {**STR, "description": "a held launch's created time (repeatable)"},
        "campaign_stage_id": ID,
    },
    "reset_campaign_split": {"campaign_stage_id": ID, **REDIRECT},
    "update_campaign_split": {
        "campaign_stage_id": ID,
        "campaign_stage_snapshot_id": ID,
        "last_split_custom_val": STR,
        **REDIRECT,
    },
    "update_launch_schedule": {
        "campaign_stage_id": ID,
        "delete": STR,
        "minlist": STR,
        "hourlist": STR,
        "domlist": STR,
        "dowlist": STR,
        **REDIRECT,
    },
    # submissions
    "submission_details": {"submission_id": ID},
    "session_status_history": {"submission_id": ID},
    "update_submission": {
        "submission_id": ID,
        "status": STR,
        "jobsub_job_id": STR,
        "project": STR,
        "pct_complete": NUMBER,
        **REDIRECT,
    },
    "get_submission_id_for": REGISTER,
    "get_task_id_for": REGISTER,
    "running_submissions": {"campaign_id_list": IDS},
    "force_locate_submission": {"submission_id": ID},
    "abort_launch": {"submission_id": ID},
    "kill_jobs": {
        "submission_id": ID,
        "campaign_stage_id": ID,
        "campaign_id": ID,
        "act": {"type": "string", "enum": ["kill", "cancel", "hold", "release"]},
        "confirm": STR,
    },
    "campaign_stage_submissions": {
        "campaign_stage_id": ID,
        "campaign_id": ID,
        "campaign_name": STR,
        "stage_name": STR,
        "tmin": STR,
        "tmax": STR,
        "tdays": NUMBER,
    },
    # login setups and job types
    "login_setup_edit": LOGIN_EDIT,
    "launch_template_edit": LOGIN_EDIT,
    "login_setup_rm": {"ae_launch_id": ID, "ae_launch_name": STR},
    "get_loginsetup_id": {"name": STR},
    "loginsetup_list": {"full": STR},
    "job_type_edit": JOB_EDIT,
    "campaign_definition_edit": JOB_EDIT,
    "job_type_rm": {"ae_campaign_definition_id": ID, "job_type_id": ID, "ae_definition_name": STR},
    "modify_job_type_recoveries": {"job_type_id": ID, "recoveries": LITERAL},
    "get_jobtype_id": {"name": STR},
    "jobtype_list": {},
}
