"""Choosing the catalog adapter from settings (``POMS_CATALOG=local|samweb``)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.catalog.local import LocalCatalog
from poms_shared.catalog.samweb import SamwebCatalog
from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import Settings

# Submissions that never ran were given nothing (as in the local catalog).
NOT_LAUNCHED = (int(SubmissionStatus.LAUNCH_FAILED), int(SubmissionStatus.CANCELLED))


def handed_out_datasets(session: Session) -> Callable[[int], list[str]]:
    """The datasets launched submissions of a stage were given (for SAM draining)."""

    def datasets(stage_id: int) -> list[str]:
        params = session.scalars(
            select(Submission.submission_params)
            .where(
                Submission.campaign_stage_id == stage_id,
                Submission.status_id.not_in(NOT_LAUNCHED),
            )
            .order_by(Submission.submission_id)
        )
        names = (str(p.get("dataset") or "").strip() for p in params if isinstance(p, dict))
        return list(dict.fromkeys(n for n in names if n))

    return datasets


def make_catalog(
    settings: Settings, session: Session, *, experiment: str | None = None
) -> LocalCatalog | SamwebCatalog:
    """The configured adapter (both ports: ``Catalog`` and ``SubmissionCatalog``);
    ``experiment`` is the SAM instance for snapshot ids."""
    if settings.catalog == "samweb":
        return SamwebCatalog.from_settings(
            settings, experiment=experiment, handed_out=handed_out_datasets(session)
        )
    if settings.catalog == "local":
        return LocalCatalog(session)
    raise ValueError(f"POMS_CATALOG must be 'local' or 'samweb', not {settings.catalog!r}")
