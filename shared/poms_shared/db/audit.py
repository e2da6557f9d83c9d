"""The audit log: who changed what, when, with before and after, in which experiment."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage, JobType, LoginSetup, Tag
from poms_shared.db.tables import AuditEntry, Submission

# entity kind -> the table whose row (by id) knows the experiment
_OWNED: dict[str, type[Campaign | CampaignStage | JobType | LoginSetup | Tag | Submission]] = {
    "campaign": Campaign,
    "stage": CampaignStage,
    "campaign_stage": CampaignStage,
    "job_type": JobType,
    "login_setup": LoginSetup,
    "submission": Submission,
    "tag": Tag,
}


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    experiment: str | None = None,
) -> None:
    """Add an audit row in the caller's transaction (so it exists only if the change does).

    The experiment, when not given, is the entity's own (looked up by kind and id)."""
    session.add(
        AuditEntry(
            actor=actor,
            experiment=experiment or _experiment_of(session, entity, entity_id),
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=before,
            after=after,
        )
    )


def _experiment_of(session: Session, entity: str, entity_id: object) -> str | None:
    if entity == "experiment":
        return str(entity_id)
    table = _OWNED.get(entity)
    if table is None or not str(entity_id).isdigit() or int(str(entity_id)) > 2**31 - 1:
        return None
    row = session.get(table, int(str(entity_id)))
    if row is None:
        return None
    if isinstance(row, Submission):
        return row.stage.experiment if row.stage is not None else None
    return row.experiment
