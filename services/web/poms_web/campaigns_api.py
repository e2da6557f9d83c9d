"""``/api/v1``: the campaign list, creating, renaming, cloning, deleting, the active flag,
tags, sample campaigns and a campaign's dependency graph (logic in
``adapters.campaign_admin``, shared with the compatibility methods)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from poms_shared.domain.permissions import CREATOR_ROLES, Act
from poms_web import auth, paging
from poms_web.adapters import campaign_admin as admin
from poms_web.adapters import campaign_samples, campaign_tags
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.campaign_admin import Listing, SaveResult
from poms_web.adapters.queries import NotFound
from poms_web.context import web_state

bp = Blueprint("campaigns_api", __name__, url_prefix="/api/v1")
YES = frozenset({"1", "true", "yes", "on"})
NO = frozenset({"0", "false", "no", "off"})


def _body(*known: str) -> dict[str, Any]:
    """The JSON object sent; 400 naming a field this endpoint does not know."""
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise BadRequest("body: the request body is not JSON")
    if body is not None and not isinstance(body, dict):
        raise BadRequest("body: the request body must be a JSON object")
    unknown = sorted(set(body or {}) - set(known))
    if unknown:
        raise BadRequest(f"{unknown[0]}: not a field here (known: {', '.join(known)})")
    return body or {}


def _flag(name: str, *, default: bool = False) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in YES | NO:
        return raw in YES
    raise BadRequest(f"{name}: true or false, not {raw!r}")


def _bool_field(body: dict[str, Any], name: str, *, required: bool = False) -> bool:
    value = body.get(name)
    if value is None and not required:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{name}: true or false, not {value!r}")
    return value


def _saved(result: SaveResult, name: str) -> Any:
    return jsonify(
        {
            "campaign": name,
            "campaign_id": result.campaign_id,
            "stage_ids": result.stage_ids,
            "warnings": result.warnings,
        }
    ), 201


# ---- campaigns --------------------------------------------------------------------------


@bp.get("/campaigns")
def list_campaigns() -> Any:
    """``active`` (true, false or all; default true), ``mine``, ``creator_role``, ``tag``,
    ``q`` (part of the name). The filter is not ``role``: that names the acting role."""
    active = request.args.get("active", "true").strip().lower()
    shown = {"all": {True, False}, **{v: {True} for v in YES}, **{v: {False} for v in NO}}
    if active not in shown:
        raise BadRequest(f"active: true, false or all, not {active!r}")
    role = request.args.get("creator_role", "").strip()
    if role and role not in CREATOR_ROLES:
        raise BadRequest(f"creator_role: {' or '.join(CREATOR_ROLES)}, not {role!r}")
    mine = _flag("mine")
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        show = Listing(
            experiment=acting.experiment,
            me=auth.person(session).experimenter_id,
            active=frozenset(shown[active]),
            others=not mine,
            roles=frozenset({role} if role else CREATOR_ROLES),
            tag=request.args.get("tag", "").strip() or None,
            q=request.args.get("q", "").strip() or None,
        )
        query = admin.listing_query(show)
        return jsonify(
            paging.page_query(session, query, lambda row: admin.campaign_item(session, *row))
        )


@bp.post("/campaigns")
def create_campaign() -> Any:
    """A new campaign with its default stage ``stage0`` (201); 409 if the name is taken."""
    body = _body("name", "role")
    with web_state().db.transaction() as session:
        experiment = admin.experiment_here(session)
        name, result = admin.create_campaign(
            session, experiment, body.get("name"), body.get("role")
        )
    return _saved(result, name)


@bp.patch("/campaigns/<name>")
def patch_campaign(name: str) -> Any:
    """``{"active": bool, "clear_cron"?: bool}``."""
    body = _body("active", "clear_cron")
    if "active" not in body:
        raise BadRequest('active: nothing to change (send {"active": true|false})')
    active = _bool_field(body, "active", required=True)
    clear_cron = _bool_field(body, "clear_cron")
    with web_state().db.transaction() as session:
        campaign = admin.find(session, admin.experiment_here(session), name)
        result = admin.set_active(session, [campaign], active, clear_cron=clear_cron)
    return jsonify({"campaign": name, **result.as_json(active)})


@bp.post("/campaigns/active")
def bulk_active() -> Any:
    """``{"campaigns": [names], "active": bool}``: those the caller may modify are set; the
    answer names the changed, the unchanged and the refused (403 when all are refused)."""
    body = _body("campaigns", "active", "clear_cron")
    names = body.get("campaigns")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise BadRequest("campaigns: a non-empty list of campaign names")
    active = _bool_field(body, "active", required=True)
    clear_cron = _bool_field(body, "clear_cron")
    with web_state().db.transaction() as session:
        experiment = admin.experiment_here(session)
        found = {n: admin.named(session, experiment, n, "campaigns") for n in names}
        campaigns = [c for c in found.values() if c is not None]
        missing = [n for n, c in found.items() if c is None]
        if missing:
            raise NotFound(f"campaigns: no campaign {', '.join(missing)} in {experiment}")
        result = admin.set_active(session, campaigns, active, clear_cron=clear_cron)
    return jsonify(result.as_json(active))


@bp.post("/campaigns/<name>/rename")
def rename_campaign(name: str) -> Any:
    body = _body("to")
    with web_state().db.transaction() as session:
        campaign = admin.find(session, admin.experiment_here(session), name)
        admin.rename_campaign(session, campaign, body.get("to"))
        new = campaign.name
    return jsonify({"campaign": new, "renamed_from": name})


@bp.post("/campaigns/<name>/clone")
def clone_campaign(name: str) -> Any:
    """``{"to": new name}``, or ``{"to": text, "rename": part of the name it replaces}``."""
    body = _body("to", "rename")
    with web_state().db.transaction() as session:
        campaign = admin.find(session, admin.experiment_here(session), name)
        new, result = admin.clone_campaign(session, campaign, body.get("to"), body.get("rename"))
    return _saved(result, new)


@bp.delete("/campaigns/<name>")
def delete_campaign(name: str) -> Any:
    """Only a campaign that was never submitted (409 otherwise)."""
    with web_state().db.transaction() as session:
        campaign = admin.find(session, admin.experiment_here(session), name)
        message = admin.delete_campaign(session, campaign)
    return jsonify({"deleted": name, "message": message})


@bp.get("/campaigns/<name>/dependencies")
def campaign_dependencies(name: str) -> Any:
    with web_state().db.transaction() as session:
        campaign = admin.find(session, admin.experiment_here(session), name)
        return jsonify(admin.dependencies(session, campaign))


# ---- tags -------------------------------------------------------------------------------


@bp.get("/tags")
def list_tags() -> Any:
    """Tags of the experiment whose name contains ``q``, with the campaigns carrying them."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        query = campaign_tags.tags_matching(acting.experiment, request.args.get("q", "").strip())
        return jsonify(
            paging.page_query(session, query, lambda row: campaign_tags.tag_item(session, row[0]))
        )


@bp.put("/campaigns/<name>/tags/<tag>")
def tag_campaign(name: str, tag: str) -> Any:
    with web_state().db.transaction() as session:
        campaign = admin.find(session, admin.experiment_here(session), name)
        row, linked = campaign_tags.link_tag(session, [campaign], tag)
        answer = {"campaign": name, "tag_id": row.tag_id, "tag": row.tag_name}
    return jsonify({**answer, "linked": bool(linked)})


@bp.delete("/campaigns/<name>/tags/<tag>")
def untag_campaign(name: str, tag: str) -> Any:
    """``?delete_unused=1`` also deletes the tag when no campaign carries it any more."""
    delete_unused = _flag("delete_unused")
    with web_state().db.transaction() as session:
        campaign = admin.find(session, admin.experiment_here(session), name)
        auth.may(session, Act.MODIFY, campaign)
        row = campaign_tags.find_tag(session, campaign.experiment, tag)
        if tag not in (t.tag_name for t in campaign.tags):
            raise NotFound(f"campaign {name!r} has no tag {tag!r}")
        answer = campaign_tags.unlink_tag(session, [campaign], row, delete_unused=delete_unused)
    return jsonify({"campaign": name, **answer})


# ---- sample campaigns -------------------------------------------------------------------


@bp.get("/sample-campaigns")
def list_samples() -> Any:
    return jsonify(
        paging.page_of([campaign_samples.sample_item(n) for n in campaign_samples.sample_names()])
    )


@bp.get("/sample-campaigns/<name>")
def sample_ini(name: str) -> Any:
    return Response(
        campaign_samples.sample_text(name),
        mimetype="text/plain",
        headers={"Content-Disposition": f'inline; filename="{name}.ini"'},
    )


@bp.post("/sample-campaigns/<name>/clone")
def clone_sample(name: str) -> Any:
    """``{"to": text}`` replaces the word 'sample' in the sample's name (or
    ``{"to": ..., "rename": part}`` replaces another part); 201, 409 if the name is taken."""
    body = _body("to", "rename")
    rename = body.get("rename", "sample")
    with web_state().db.transaction() as session:
        new, result = admin.clone_sample(session, name, body.get("to"), rename)
    return _saved(result, new)
