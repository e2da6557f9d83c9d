"""What happens to a launch request: run it, hold it, or park it for approval."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class LaunchKind(Enum):
    LAUNCH = "launch"
    HOLD = "hold"
    APPROVAL = "approval"


@dataclass(frozen=True)
class LaunchOptions:
    """A launch as requested, before any decision (also what a held launch keeps)."""

    launcher: str
    dataset: str | None = None
    test: bool = False
    parent_submission_id: int | None = None
    param_overrides: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    commands_only: bool = False
    actor: str | None = None  # who asked, when launching as another user
    recovery_type: str | None = None  # a recovery: parent_submission_id is what it recovers


def decide_launch(
    *, stage_type: str, stage_held: bool, globally_held: bool, commands_only: bool
) -> LaunchKind:
    """Holds win over everything; approval stages wait for a person instead of a batch."""
    if commands_only:
        return LaunchKind.LAUNCH  # a reservation runs nothing, so holds do not apply
    if stage_held or globally_held:
        return LaunchKind.HOLD
    if stage_type == "approval":
        return LaunchKind.APPROVAL
    return LaunchKind.LAUNCH
