"""What the permission rules need to know about an object: experiment, creator, role."""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage, Experimenter, JobType, LoginSetup
from poms_shared.db.tables import Submission
from poms_shared.domain.permissions import Owner

Owned: TypeAlias = Campaign | CampaignStage | JobType | LoginSetup


def owner(session: Session, item: Owned) -> Owner:
    creator = session.get(Experimenter, item.creator_id) if item.creator_id else None
    return Owner(
        item.experiment,
        creator=creator.username if creator else None,
        creator_role=item.creator_role,
    )


def submission_owner(session: Session, submission: Submission) -> Owner:
    """A submission belongs to its stage (reference §9.3)."""
    return owner(session, submission.stage)
