"""Configuration snapshots: the stage, job type and login setup as they were at a launch."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from poms_shared.db.base import Base
from poms_shared.db.tables import ConfigSnapshot


def row_to_dict(row: Base) -> dict[str, Any]:
    """Column values of an ORM row as JSON-ready data."""
    data: dict[str, Any] = {}
    for attr in inspect(row).mapper.column_attrs:
        value = getattr(row, attr.key)
        data[attr.key] = value.isoformat() if isinstance(value, datetime) else value
    return data


def snapshot(session: Session, kind: str, live_id: int, data: dict[str, Any]) -> int:
    """Id of a snapshot with exactly this content, created only when the content changed."""
    stable = {k: v for k, v in data.items() if k not in ("updated", "updater_id")}
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()
    existing = session.scalar(
        select(ConfigSnapshot.snapshot_id).where(
            ConfigSnapshot.kind == kind,
            ConfigSnapshot.live_id == live_id,
            ConfigSnapshot.content_hash == digest,
        )
    )
    if existing is not None:
        return existing
    row = ConfigSnapshot(kind=kind, live_id=live_id, content_hash=digest, data=data)
    session.add(row)
    session.flush()
    return row.snapshot_id
