"""Compatibility methods: login setups and job types (reference §8.2, §8.5, §12.7).

A thin layer over ``adapters.templates`` (the functions ``/api/v1`` uses), so the same
permission checks and audit apply. Differences from the reference, on purpose:

* errors are always a 4xx JSON error (the reference did so only with ``pcl_call=1`` and
  otherwise put the message in the page); a template in use answers 409;
* ``job_type_edit`` checks MODIFY on the job type itself (the reference checked the
  login setup named by ``ae_launch_name``);
* an edit changes only the fields sent (``ae_active`` left out keeps the flag) and a new
  template is active unless ``ae_active`` says otherwise;
* ``test_template`` on ``job_type_edit`` is ignored (use ``POST /api/v1/job-types/<id>/test``);
* the ``*_rm`` methods delete what the caller may modify (owner rules of §9), found by
  name in the acting experiment (or by id: ``ae_launch_id`` / ``job_type_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.models import JobType, LoginSetup, RecoveryType
from poms_shared.domain.permissions import ANALYSIS, PRODUCTION, SHIFTER, Act, Actor
from poms_web import auth
from poms_web.adapters import templates
from poms_web.adapters.actions import BadRequest
from poms_web.compat.framework import (
    Json,
    Page,
    Params,
    Redirect,
    Reply,
    experiment_of,
    method,
)
from poms_web.context import actor, web_state

# form field -> /api/v1 field
LOGIN_FORM = {
    "ae_launch_name": "name",
    "ae_launch_host": "launch_host",
    "ae_launch_account": "launch_account",
    "ae_launch_setup": "launch_setup",
    "ae_active": "active",
}
JOB_FORM = {
    "ae_definition_name": "name",
    "ae_launch_script": "launch_script",
    "ae_definition_parameters": "definition_parameters",
    "ae_output_file_patterns": "output_file_patterns",
    "ae_input_files_per_job": "input_files_per_job",
    "ae_output_files_per_job": "output_files_per_job",
    "ae_definition_recovery": "recoveries",
    "ae_active": "active",
}
LITERALS = ("ae_definition_parameters", "ae_definition_recovery")
COUNTS = ("ae_input_files_per_job", "ae_output_files_per_job")
ACTIONS = ("add", "edit", "delete")


def _body(p: Params, form: Mapping[str, str]) -> dict[str, Any]:
    """The ``/api/v1`` body for the form fields sent (empty JSON fields count as absent)."""
    body: dict[str, Any] = {}
    for field, name in form.items():
        if not p.has(field):
            continue
        if field == "ae_active":
            body[name] = p.flag(field)
        elif field in COUNTS:
            body[name] = p.integer(field, required=False) or 0
        elif field in LITERALS:
            value = p.literal(field, required=False)
            if value is not None:
                body[name] = value
        else:
            body[name] = p.get(field) or ""
    return body


def _form_names(exc: BadRequest, form: Mapping[str, str]) -> BadRequest:
    """The error with each field called by its form name."""
    back = {name: field for field, name in form.items()}
    parts = []
    for part in str(exc).split("; "):
        field, sep, rest = part.partition(":")
        parts.append(f"{back.get(field, field)}{sep}{rest}")
    return BadRequest("; ".join(parts))


def _by_id_or_name(
    session: Session, p: Params, kind: templates.Kind, ids: tuple[str, ...], name_field: str
) -> Any:
    for field in ids:
        found = p.integer(field, required=False)
        if found is not None:
            return templates.get(session, kind, found)
    return templates.find(session, kind, experiment_of(session), p.required(name_field))


def _edit(
    session: Session, p: Params, kind: templates.Kind, form: Mapping[str, str], row: Any
) -> Any:
    """``action=add|edit|delete``; the message for the page."""
    action = (p.get("action") or "").lower()
    try:
        if action == "add":
            made = templates.create(session, kind, _body(p, form))
            return made, f"The {kind.label} '{made.name}' has been added."
        if action == "edit":
            body = _body(p, form)
            if body.get("name") == row.name:
                del body["name"]
            changed = templates.edit(session, row, body)
            return row, f"The {kind.label} '{row.name}' changed: {', '.join(changed) or 'nothing'}."
        if action == "delete":
            name = row.name
            templates.delete(session, row)
            return None, f"The {kind.label} '{name}' has been deleted."
    except BadRequest as exc:
        raise _form_names(exc, form) from None
    if action:
        raise BadRequest(f"action: one of {', '.join(ACTIONS)}, not {action!r}")
    return None, None


def _either(first: bool, second: bool) -> bool | None:
    return None if first == second else first


def _view(p: Params, acting: Actor) -> templates.Filters:
    """The listing filters of the view flags (§12.7); defaults without ``update_view``."""
    if not p.has("update_view"):
        roles = {
            ANALYSIS: ANALYSIS,
            PRODUCTION: PRODUCTION,
            SHIFTER: PRODUCTION,
        }
        return templates.Filters(active=True, creator_role=roles.get(acting.role))

    def on(name: str) -> bool:
        return bool(p.get(name))

    analysis = _either(on("view_analysis"), on("view_production"))
    return templates.Filters(
        active=_either(on("view_active"), on("view_inactive")),
        mine=_either(on("view_mine"), on("view_others")),
        creator_role=None if analysis is None else ANALYSIS if analysis else PRODUCTION,
    )


def _listing(session: Session, p: Params, kind: templates.Kind) -> dict[str, Any]:
    acting = auth.authorize(session, Act.VIEW)
    filters = _view(p, acting)
    query = templates.listing(kind, templates.acting_experiment(acting), filters, actor())
    items = [templates.info(row, creator, acting) for row, creator in session.execute(query)]
    return {
        "curr_experiment": templates.acting_experiment(acting),
        "items": items,
        "authorized": [item["may_modify"] for item in items],
        "view": {
            "active": filters.active,
            "mine": filters.mine,
            "creator_role": filters.creator_role,
        },
    }


@method("login_setup_edit", "launch_template_edit")
def login_setup_edit(p: Params) -> Reply:
    """Add, edit or delete a login setup (``ae_launch_*``), then the listing; with
    ``test_template`` a saved one is test-launched and the answer redirects to its log."""
    log_name = None
    with web_state().db.transaction() as session:
        row = None
        if (p.get("action") or "").lower() in ("edit", "delete"):
            row = _by_id_or_name(session, p, templates.LOGIN, ("ae_launch_id",), "ae_launch_name")
        done, message = _edit(session, p, templates.LOGIN, LOGIN_FORM, row)
        if done is not None and p.get("test_template"):
            log_name = templates.start_login_test(session, done)
        data = _listing(session, p, templates.LOGIN)
        data["templates"] = data.pop("items")
    if done is not None and log_name is not None:
        web_state().wake()
        return Redirect(templates.login_test_url(done.login_setup_id, log_name))
    data["message"] = message
    if done is not None:
        data["login_setup_id"] = done.login_setup_id
    return Page(data)


@method("login_setup_rm")
def login_setup_rm(p: Params) -> Json:
    """Delete the login setup ``ae_launch_name`` (if the caller may change it and no stage
    uses it)."""
    with web_state().db.transaction() as session:
        row: LoginSetup = _by_id_or_name(
            session, p, templates.LOGIN, ("ae_launch_id",), "ae_launch_name"
        )
        name = row.name
        templates.delete(session, row)
    return Json({"message": f"The login setup '{name}' has been deleted."})


@method("get_loginsetup_id")
def get_loginsetup_id(p: Params) -> Json:
    """The id of the acting experiment's login setup ``name``, or null."""
    return Json(_id_of(p, templates.LOGIN))


def _id_of(p: Params, kind: templates.Kind) -> int | None:
    name = p.required("name")
    with web_state().db.transaction() as session:
        row = templates.by_name(session, kind, experiment_of(session), name)
        if row is None:
            auth.authorize(session, Act.VIEW)
            return None
        auth.may(session, Act.VIEW, row)
        return kind.id_of(row)


@method("loginsetup_list")
def loginsetup_list(p: Params) -> Json:
    """``[{"name"}…]`` of the acting experiment; with ``full`` also host, account, setup."""
    full = bool(p.get("full")) and p.get("full", "").lower() not in ("0", "false", "no")
    columns = ["name", "launch_host", "launch_account", "launch_setup"] if full else ["name"]
    return Json(_names(templates.LOGIN, columns))


def _names(kind: templates.Kind, columns: list[str]) -> list[dict[str, Any]]:
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        model = kind.model
        rows = session.scalars(
            select(model)
            .where(model.experiment == templates.acting_experiment(acting))
            .order_by(model.name)
        )
        return [{c: getattr(row, c) for c in columns} for row in rows]


@method("job_type_edit", "campaign_definition_edit")
def job_type_edit(p: Params) -> Page:
    """Add, edit or delete a job type (``ae_definition_*``), then the listing."""
    with web_state().db.transaction() as session:
        row = None
        if (p.get("action") or "").lower() in ("edit", "delete"):
            ids = ("ae_campaign_definition_id", "job_type_id")
            row = _by_id_or_name(session, p, templates.JOB, ids, "ae_definition_name")
        done, message = _edit(session, p, templates.JOB, JOB_FORM, row)
        data = _listing(session, p, templates.JOB)
        data["definitions"] = data.pop("items")
        data["rtypes"] = [
            [r.name, r.description]
            for r in session.scalars(select(RecoveryType).order_by(RecoveryType.name))
        ]
    data["message"] = message
    if done is not None:
        data["job_type_id"] = done.job_type_id
    return Page(data)


@method("job_type_rm")
def job_type_rm(p: Params) -> Json:
    """Delete the job type ``ae_definition_name`` with its recovery list."""
    with web_state().db.transaction() as session:
        ids = ("ae_campaign_definition_id", "job_type_id")
        row: JobType = _by_id_or_name(session, p, templates.JOB, ids, "ae_definition_name")
        name = row.name
        templates.delete(session, row)
    return Json({"message": f"The job type '{name}' has been deleted."})


@method("modify_job_type_recoveries")
def modify_job_type_recoveries(p: Params) -> Json:
    """Merge ``recoveries`` (``[[type, [[key, value]…]]…]``) into the job type's list;
    the new list."""
    job_type_id = p.need_int("job_type_id")
    value = p.literal("recoveries")
    with web_state().db.transaction() as session:
        row: JobType = templates.get(session, templates.JOB, job_type_id)
        return Json(templates.merge_recoveries(session, row, value))


@method("get_jobtype_id")
def get_jobtype_id(p: Params) -> Json:
    """The id of the acting experiment's job type ``name``, or null."""
    return Json(_id_of(p, templates.JOB))


@method("jobtype_list")
def jobtype_list(p: Params) -> Json:
    """``[{"name"}…]`` of the acting experiment's job types."""
    return Json(_names(templates.JOB, ["name"]))
