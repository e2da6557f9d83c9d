"""What happens to a launch request: run, hold, or wait for approval."""

import pytest

from poms_campaign_manager.domain.launching import LaunchKind, decide_launch


@pytest.mark.parametrize(
    ("stage_type", "stage_held", "globally_held", "commands_only", "expected"),
    [
        ("regular", False, False, False, LaunchKind.LAUNCH),
        ("regular", True, False, False, LaunchKind.HOLD),
        ("regular", False, True, False, LaunchKind.HOLD),
        ("approval", False, False, False, LaunchKind.APPROVAL),
        ("approval", True, False, False, LaunchKind.HOLD),  # a hold wins over approval
        ("regular", True, True, True, LaunchKind.LAUNCH),  # a reservation runs nothing
        ("generator", False, False, False, LaunchKind.LAUNCH),
    ],
)
def test_holds_win_and_approval_stages_wait_for_a_person(
    stage_type, stage_held, globally_held, commands_only, expected
):
    assert (
        decide_launch(
            stage_type=stage_type,
            stage_held=stage_held,
            globally_held=globally_held,
            commands_only=commands_only,
        )
        is expected
    )
