"""Compatibility methods: campaigns, their tags and `.ini` files, campaign launches
(reference §8.2), over the same functions as ``/api/v1`` (``adapters.campaign_admin``).

Where the original takes campaign ids (``campaign_id``, ``camp_l``), ``campaign_name`` is
accepted too, and ``tag_name`` where it takes ``tag_id``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import request
from sqlalchemy.orm import Session

from poms_shared.db.campaigns import CampaignError, load_campaign_spec
from poms_shared.db.models import Campaign, Tag
from poms_shared.domain.permissions import ANALYSIS, PRODUCTION, SHIFTER, SUPERUSER, Act
from poms_shared.ini.parser import IniError, parse_ini
from poms_shared.ini.writer import write_ini
from poms_web import auth
from poms_web.adapters import campaign_admin as admin
from poms_web.adapters import campaign_tags, queries
from poms_web.adapters.actions import BadRequest
from poms_web.compat.framework import (
    FALSE,
    Json,
    Page,
    Params,
    Reply,
    Text,
    experiment_of,
    launch_reply,
    method,
)
from poms_web.context import web_state
from poms_web.errors import error_body

ACTIVE_WORDS = frozenset({"true", "active", "1"})  # is_active values meaning active


def _campaigns(p: Params, session: Session, *fields: str) -> list[Campaign]:
    """The campaigns named by id lists in ``fields`` (first present wins), else by
    ``campaign_name``; 400 when none is named."""
    for name in fields:
        if p.has(name):
            ids = p.int_list(name)
            if ids:
                return admin.by_ids(session, ids, name)
    name = p.get("campaign_name")
    if name:
        return [admin.find(session, experiment_of(session), name, "campaign_name")]
    raise BadRequest(f"Missing form field: {fields[0]}")


# ---- listing and deleting ---------------------------------------------------------------


def _view_flags(p: Params, role: str) -> dict[str, bool]:
    """§12.7 listing filters: given ones as sent; with ``update_view`` the missing ones
    are off, otherwise they take the defaults for the acting role."""
    defaults = {
        "view_active": True,
        "view_inactive": False,
        "view_mine": True,
        "view_others": True,
        "view_analysis": role in (ANALYSIS, SUPERUSER),
        "view_production": role in (PRODUCTION, SHIFTER, SUPERUSER),
    }
    explicit = p.has("update_view")
    flags = {}
    for name, default in defaults.items():
        raw = p.get(name)
        if raw is None:
            flags[name] = False if explicit else default
        else:  # a ticked box sends its name or "on"; an unticked one sends nothing
            flags[name] = raw.lower() not in FALSE
    return flags


def _delete(p: Params, session: Session) -> str:
    name = p.get("del_campaign_name")
    if name:
        experiment = experiment_of(session)
        campaign = admin.named(session, experiment, name, "del_campaign_name")
        if campaign is None:
            raise queries.NotFound(f"del_campaign_name: the campaign {name!r} does not exist")
    else:
        [campaign] = admin.by_ids(session, [p.need_int("del_campaign_id")])
    return admin.delete_campaign(session, campaign)


@method("show_campaigns")
def show_campaigns(p: Params) -> Reply:
    """The campaign table (``fmt=json``: its data); ``action=delete`` deletes one first."""
    with web_state().db.transaction() as session:
        msg = _delete(p, session) if p.get("action") == "delete" else ""
        acting = auth.authorize(session, Act.VIEW)
        view = _view_flags(p, acting.role)
        roles = {r for r in (ANALYSIS, PRODUCTION) if view[f"view_{r}"]}
        show = admin.Listing(
            experiment=acting.experiment,
            me=auth.person(session).experimenter_id,
            active=frozenset(
                a for a, on in ((True, view["view_active"]), (False, view["view_inactive"])) if on
            ),
            mine=view["view_mine"],
            others=view["view_others"],
            roles=frozenset(roles),
        )
        rows = session.execute(admin.listing_query(show)).all()
        return Page(
            {
                "campaigns": [admin.campaign_item(session, c, who) for c, who in rows],
                "msg": msg,
                "data": {
                    **view,
                    "authorized": [admin.allowed(session, Act.MODIFY, c) for c, _ in rows],
                    "authorized_shifter": [admin.allowed(session, Act.DO, c) for c, _ in rows],
                },
            }
        )


@method("campaign_add_name")
def campaign_add_name(p: Params) -> Reply:
    """A new campaign with its default stage (§12.1)."""
    with web_state().db.transaction() as session:
        _, result = admin.create_campaign(
            session, experiment_of(session), p.required("campaign_name")
        )
    return Json({"message": "ok", "campaign_id": result.campaign_id})


@method("campaign_list_json")
def campaign_list_json(p: Params) -> Reply:
    """Every stage of the experiments the caller is a member of (all, for an
    administrator); the reference lists every experiment's."""
    with web_state().db.transaction() as session:
        return Json(admin.stage_list(session))


@method("get_campaign_id")
def get_campaign_id(p: Params) -> Reply:
    with web_state().db.transaction() as session:
        name = p.required("campaign_name")
        campaign = admin.named(session, experiment_of(session), name, "campaign_name")
        if campaign is None:
            return Json(None)
        auth.may(session, Act.VIEW, campaign)
        return Json(campaign.campaign_id)


@method("get_campaign_name")
def get_campaign_name(p: Params) -> Reply:
    with web_state().db.transaction() as session:
        campaign = session.get(Campaign, p.need_int("campaign_id"))
        if campaign is None:
            return Text("None")
        auth.may(session, Act.VIEW, campaign)
        return Text(campaign.name)


# ---- .ini -------------------------------------------------------------------------------


@method("campaign_deps_ini")
def campaign_deps_ini(p: Params) -> Reply:
    """The campaign as `.ini` text (§7.2); ``full=1`` adds the editor's node positions."""
    with web_state().db.transaction() as session:
        name = p.required("name", "campaign_name")
        campaign = admin.find(session, experiment_of(session), name)
        auth.may(session, Act.VIEW, campaign)
        spec = load_campaign_spec(session, experiment=campaign.experiment, name=campaign.name)
    return Text(write_ini(spec, full=p.flag("full")))


def _upload_text() -> str:
    upload = request.files.get("upload")
    raw = upload.read() if upload else (request.form.get("upload") or "").encode()
    if not raw.strip():
        raise BadRequest("upload: Pick the file first!")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("upload: the file is not UTF-8 text") from None


def _ini_refused(message: str, **extra: Any) -> Reply:
    """The reference's status shape and this API's error shape, in one body."""
    body = {"status": "400 Bad Request", "message": message, **error_body(400, "bad_ini", message)}
    body["error"].update(extra)
    return Json(body, status=400)


@method("ini_to_campaign")
def ini_to_campaign(p: Params) -> Reply:
    """Save an `.ini` upload (field ``upload``, a file or text) in the experiment and role
    the request acts in (§7.3); ``replace`` is accepted and changes nothing, as there."""
    text = _upload_text()
    try:
        spec = parse_ini(text)
    except IniError as exc:
        return _ini_refused(str(exc), section=exc.section, key=exc.key)
    spec = dataclasses.replace(spec, experiment=None, poms_role=None)
    try:
        with web_state().db.transaction() as session:
            result = admin.save_spec(session, spec, text, experiment=experiment_of(session))
    except CampaignError as exc:
        return _ini_refused(str(exc))
    ids = sorted((sid, name) for name, sid in result.stage_ids.items())
    return Json(
        {
            "status": "201 Created",
            "message": result.warnings or "OK",
            "campaign_id": result.campaign_id,
            "campaign_stage_ids": [list(pair) for pair in ids],
        }
    )


# ---- active flag, launch ----------------------------------------------------------------


@method("mark_campaign_active")
def mark_campaign_active(p: Params) -> Reply:
    """Set the active flag of each listed campaign the caller may modify."""
    active = (p.get("is_active") or "").lower() in ACTIVE_WORDS
    with web_state().db.transaction() as session:
        campaigns = _campaigns(p, session, "campaign_id", "camp_l")
        result = admin.set_active(session, campaigns, active, clear_cron=p.flag("clear_cron"))
    return Json(result.as_json(active))


@method("launch_campaign")
def launch_campaign(p: Params) -> Reply:
    """Launch the campaign's leading stage: 303 to the launch log, whose last
    ``_``-separated token is the submission id (the client reads it from there)."""
    with web_state().db.transaction() as session:
        [campaign] = _campaigns(p, session, "campaign_id")
        request_id = admin.launch_leader(session, campaign, p.flag("test_launch"))
    web_state().wake()
    return launch_reply(request_id)


# ---- tags -------------------------------------------------------------------------------


@method("link_tags")
def link_tags(p: Params) -> Reply:
    with web_state().db.transaction() as session:
        campaigns = _campaigns(p, session, "campaign_id")
        tag, _ = campaign_tags.link_tag(session, campaigns, p.required("tag_name"), "tag_name")
        return Json(
            {
                "campaign_id": ",".join(str(c.campaign_id) for c in campaigns),
                "tag_id": tag.tag_id,
                "tag_name": tag.tag_name,
                "msg": "OK",
            }
        )


def _tag_for(p: Params, session: Session, experiment: str) -> Tag:
    tag_id = p.integer("tag_id", required=False)
    if tag_id is None:
        name = p.get("tag_name")
        if not name:
            raise BadRequest("Missing form field: tag_id")
        return campaign_tags.find_tag(session, experiment, admin.plain("tag_name", name))
    tag = campaign_tags.get_tag(session, tag_id)
    if tag.experiment != experiment:
        raise queries.NotFound(f"tag_id: tag {tag_id} is not a tag of experiment {experiment}")
    return tag


@method("delete_campaigns_tags")
def delete_campaigns_tags(p: Params) -> Reply:
    with web_state().db.transaction() as session:
        campaigns = _campaigns(p, session, "campaign_id")
        for campaign in campaigns:  # refuse before saying anything about the tag
            auth.may(session, Act.MODIFY, campaign)
        tag = _tag_for(p, session, campaigns[0].experiment)
        campaign_tags.unlink_tag(session, campaigns, tag, delete_unused=p.flag("delete_unused_tag"))
    return Json({"msg": "OK"})


@method("search_all_tags")
def search_all_tags(p: Params) -> Reply:
    """The tags any of the listed campaigns (``cl``) carries."""
    with web_state().db.transaction() as session:
        campaigns = admin.by_ids(session, p.int_list("cl"), "cl")
        for campaign in campaigns:
            auth.may(session, Act.VIEW, campaign)
        tags = campaign_tags.tags_of(session, campaigns)
        return Json({"result": [[t.tag_id, t.tag_name] for t in tags], "msg": "OK"})


@method("auto_complete_tags_search")
def auto_complete_tags_search(p: Params) -> Reply:
    """Tag names of the experiment containing ``q``."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW, experiment=experiment_of(session))
        tags = session.scalars(campaign_tags.tags_matching(acting.experiment, p.get("q") or ""))
        return Json({"results": [{"name": t.tag_name} for t in tags]})
