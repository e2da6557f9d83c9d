"""The audit log: who changed what, when, with before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from poms_shared.db.tables import AuditEntry


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add an audit row in the caller's transaction (so it exists only if the change does)."""
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=before,
            after=after,
        )
    )
