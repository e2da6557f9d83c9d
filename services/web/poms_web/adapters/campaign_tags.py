"""Campaign tags, per experiment: find, link (made on first use), unlink (and delete once
unused), search and list. Permission checks and audit rows as in ``campaign_admin``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from poms_shared.db.audit import record_audit
from poms_shared.db.models import Campaign, CampaignTag, Tag
from poms_shared.domain.permissions import Act
from poms_web import auth
from poms_web.adapters.actions import BadRequest, experimenter
from poms_web.adapters.campaign_admin import plain, valid_name
from poms_web.adapters.queries import NotFound
from poms_web.context import actor

TAG_LIMIT = 100  # tags.tag_name


def find_tag(session: Session, experiment: str, name: str) -> Tag:
    plain("tag", name)
    tag = session.scalar(select(Tag).where(Tag.experiment == experiment, Tag.tag_name == name))
    if tag is None:
        raise NotFound(f"tag {name!r} does not exist in experiment {experiment!r}")
    return tag


def get_tag(session: Session, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise NotFound(f"tag_id: no tag {tag_id}")
    return tag


def _one_experiment(campaigns: list[Campaign]) -> str:
    experiments = {c.experiment for c in campaigns}
    if len(experiments) != 1:
        raise BadRequest("campaign_id: name campaigns of one experiment (tags are per experiment)")
    return experiments.pop()


def link_tag(
    session: Session, campaigns: list[Campaign], name: Any, field: str = "tag"
) -> tuple[Tag, list[str]]:
    """Tag every campaign (all may be modified, or nothing happens); the tag is made when
    its name is new in the experiment. Returns the tag and the campaigns newly tagged."""
    actings = [auth.may(session, Act.MODIFY, c) for c in campaigns]
    name = valid_name(field, name, TAG_LIMIT)
    experiment = _one_experiment(campaigns)
    tag = session.scalar(select(Tag).where(Tag.experiment == experiment, Tag.tag_name == name))
    if tag is None:
        tag = Tag(
            experiment=experiment,
            tag_name=name,
            creator_id=experimenter(session, actor()).experimenter_id,
            creator_role=auth.creator_role(actings[0], campaigns[0].creator_role),
        )
        session.add(tag)
        session.flush()
        record_audit(
            session,
            actor=actor(),
            action="create",
            entity="tag",
            entity_id=tag.tag_id,
            after={"tag": name},
        )
    linked = []
    for campaign in campaigns:
        if session.get(CampaignTag, (campaign.campaign_id, tag.tag_id)) is not None:
            continue
        session.add(CampaignTag(campaign_id=campaign.campaign_id, tag_id=tag.tag_id))
        record_audit(
            session,
            actor=actor(),
            action="tag",
            entity="campaign",
            entity_id=campaign.campaign_id,
            after={"tag": name},
        )
        linked.append(campaign.name)
    session.flush()
    return tag, linked


def unlink_tag(
    session: Session, campaigns: list[Campaign], tag: Tag, *, delete_unused: bool = False
) -> dict[str, Any]:
    """Untag the campaigns (all may be modified, or nothing happens); with
    ``delete_unused`` the tag itself goes when no campaign keeps it."""
    for campaign in campaigns:
        auth.may(session, Act.MODIFY, campaign)
    untagged = []
    for campaign in campaigns:
        link = session.get(CampaignTag, (campaign.campaign_id, tag.tag_id))
        if link is None:
            continue
        session.delete(link)
        record_audit(
            session,
            actor=actor(),
            action="untag",
            entity="campaign",
            entity_id=campaign.campaign_id,
            before={"tag": tag.tag_name},
        )
        untagged.append(campaign.name)
    session.flush()
    in_use = session.scalar(select(exists().where(CampaignTag.tag_id == tag.tag_id)))
    deleted = bool(delete_unused and not in_use)
    if deleted:
        record_audit(
            session,
            actor=actor(),
            action="delete",
            entity="tag",
            entity_id=tag.tag_id,
            before={"tag": tag.tag_name},
        )
        session.delete(tag)
    return {"tag_id": tag.tag_id, "tag": tag.tag_name, "untagged": untagged, "tag_deleted": deleted}


def tags_matching(experiment: str | None, q: str) -> Select[Any]:
    """Tags whose name contains ``q`` (any case), by name (for ``paging.page_query``)."""
    query = select(Tag).order_by(Tag.tag_name, Tag.tag_id)
    plain("q", q)
    if experiment:
        query = query.where(Tag.experiment == experiment)
    if q:
        query = query.where(Tag.tag_name.icontains(q, autoescape=True))
    return query


def tag_item(session: Session, tag: Tag) -> dict[str, Any]:
    names = session.scalars(
        select(Campaign.name)
        .join(CampaignTag, CampaignTag.campaign_id == Campaign.campaign_id)
        .where(CampaignTag.tag_id == tag.tag_id)
        .order_by(Campaign.name)
    )
    return {"tag_id": tag.tag_id, "tag_name": tag.tag_name, "campaigns": list(names)}


def tags_of(session: Session, campaigns: list[Campaign]) -> list[Tag]:
    """Every tag any of the campaigns carries, by name."""
    ids = [c.campaign_id for c in campaigns]
    tagged = select(CampaignTag.tag_id).where(CampaignTag.campaign_id.in_(ids))
    return list(session.scalars(select(Tag).where(Tag.tag_id.in_(tagged)).order_by(Tag.tag_name)))
