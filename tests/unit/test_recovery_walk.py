"""The recovery list walk: order, examined submission, each entry once (reference §4.3)."""

from __future__ import annotations

import pytest

from poms_shared.domain.recovery import (
    RecoveryStep,
    check_recovery_type,
    examined,
    recovery_dataset_name,
    walk_recoveries,
)

STEPS = (
    RecoveryStep("consumed_status", (("-Osubmit.memory=", "2000MB"),)),
    RecoveryStep("pending_files"),
    RecoveryStep("added_files"),
)


def finder(found: dict[str, list[str]], calls: list[tuple[int, str]]):
    def files_for(index: int, step: RecoveryStep) -> list[str]:
        calls.append((index, step.recovery_type))
        return found.get(step.recovery_type, [])

    return files_for


@pytest.mark.parametrize(
    ("position", "found", "expected", "evaluated"),
    [
        # the first step with files is launched; the position moves past it
        (0, {"consumed_status": ["a"]}, (1, 0, ("a",)), [0]),
        # empty steps are skipped, each evaluated once
        (0, {"added_files": ["z"]}, (3, 2, ("z",)), [0, 1, 2]),
        # the next round starts where the last one stopped: step 0 is never evaluated again
        (1, {"consumed_status": ["a"], "pending_files": ["b"]}, (2, 1, ("b",)), [1]),
        # nothing anywhere: exhausted, dependents may go
        (0, {}, (3, None, ()), [0, 1, 2]),
        # already exhausted: nothing is evaluated
        (3, {"consumed_status": ["a"]}, (3, None, ()), []),
    ],
)
def test_the_walk_launches_the_first_step_with_files(position, found, expected, evaluated):
    calls: list[tuple[int, str]] = []
    result = walk_recoveries(STEPS, position, finder(found, calls))
    assert (result.position, result.launch, result.files) == expected
    assert [i for i, _ in calls] == evaluated


def test_a_whole_chain_evaluates_every_step_exactly_once():
    """Reference quirk: position 0 was evaluated on two rounds. Here never."""
    calls: list[tuple[int, str]] = []
    files_for = finder({"consumed_status": ["a"], "pending_files": ["b"]}, calls)
    position, launched = 0, []
    while True:
        result = walk_recoveries(STEPS, position, files_for)
        position = result.position
        if result.launch is None:
            break
        launched.append(STEPS[result.launch].recovery_type)
    assert launched == ["consumed_status", "pending_files"]
    assert [i for i, _ in calls] == [0, 1, 2]


def test_recovery_dataset_names_carry_the_submission_and_position():
    assert recovery_dataset_name("ab12", 42, 1) == "poms_recover_ab12_42_1"


def test_only_known_recovery_types_are_accepted_from_people():
    assert check_recovery_type(" pending_files ") == "pending_files"
    assert check_recovery_type("proj_status") == "process_status"  # the old name
    with pytest.raises(ValueError, match="unknown recovery type 'everything'"):
        check_recovery_type("everything")


def test_entry_zero_examines_the_original_and_later_ones_the_latest_run():
    assert [examined(i, "original", "latest") for i in range(3)] == [
        "original",
        "latest",
        "latest",
    ]
