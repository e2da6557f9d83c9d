"""Setting the split position by hand: the stage page's "Last Split Editor" (§5.13)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from poms_campaign_manager.domain.splits.model import SplitError


@dataclass(frozen=True)
class StageSplitSnapshot:
    """A stage snapshot offered by the editor: whose it is and where its split stood."""

    snapshot_id: int
    campaign_id: int | None
    split_type: str | None
    last_split: int | None


def manual_position(
    selected_snapshot_id: int,
    custom_value: str | None,
    snapshots: Mapping[int, StageSplitSnapshot],
    campaign_id: int | None,
    split_type: str | None,
) -> int | None:
    """The ``cs_last_split`` to store: the chosen snapshot's own position, None for 0.

    The reference stored the snapshot id itself; the position recorded in that snapshot is
    what the user picked, so that is what is returned.
    """
    chosen = _as_int(custom_value)
    wanted = selected_snapshot_id if chosen is None else chosen
    if wanted == 0:
        return None
    snapshot = snapshots.get(wanted)
    if snapshot is None:
        raise SplitError(f"Campaign stage snapshot {wanted} not found")
    if snapshot.campaign_id != campaign_id:
        raise SplitError(f"Campaign stage snapshot {wanted} does not belong to this campaign")
    if (snapshot.split_type or "") != (split_type or ""):
        raise SplitError(
            f"Campaign stage snapshot {wanted} does not match the split type {split_type!r}"
        )
    return snapshot.last_split


def _as_int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None
