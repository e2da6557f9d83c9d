"""What saving and loading campaigns share: the errors, the stage columns and the lookups."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage


class CampaignError(Exception):
    """A campaign cannot be saved or loaded as asked; the message says why."""


class CampaignNotFound(CampaignError, LookupError):
    """No campaign of that name in that experiment."""


# Stage column ← .ini stage field; the value is stored as resolved (own value, else default).
STAGE_COLUMNS = (
    ("vo_role", "vo_role"),
    ("software_version", "software_version"),
    ("dataset", "dataset_or_split_data"),
    ("cs_split_type", "cs_split_type"),
    ("completion_type", "completion_type"),
    ("completion_pct", "completion_pct"),
    ("param_overrides", "param_overrides"),
    ("test_param_overrides", "test_param_overrides"),
    ("merge_overrides", "merge_overrides"),
    ("campaign_stage_type", "stage_type"),
    ("output_ancestor_depth", "output_ancestor_depth"),
    ("default_clear_cronjob", "default_clear_cronjob"),
)


def find_campaign(session: Session, experiment: str, name: str) -> Campaign | None:
    """The campaign of that name in the experiment, if there is one."""
    query = select(Campaign).where(Campaign.experiment == experiment, Campaign.name == name)
    return session.scalars(query).first()


def campaign_stages(session: Session, campaign_id: int) -> list[CampaignStage]:
    """The campaign's stages, oldest first."""
    query = select(CampaignStage).where(CampaignStage.campaign_id == campaign_id)
    return list(session.scalars(query.order_by(CampaignStage.campaign_stage_id)))
