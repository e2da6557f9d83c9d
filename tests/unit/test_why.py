"""The "why is this not done yet" text for every status."""

from __future__ import annotations

import pytest

from poms_shared.domain.statuses import SubmissionStatus as S
from poms_shared.domain.why import why_not_done


@pytest.mark.parametrize(
    ("status", "jobs", "extra", "expected"),
    [
        (S.LOCATED, {"completed": 3}, {}, None),
        (S.NEW, {}, {}, "waiting for the launcher"),
        (S.NEW, {}, {"launch_started": True}, "the launch command is running; no batch"),
        (S.NEW, {}, {"reservation": True}, "a show-commands reservation"),
        (S.RUNNING, {"running": 2, "completed": 1, "idle": 1}, {},
         "1 of 4 jobs finished (1 completed, 1 idle, 2 running); Completed when all"),
        (S.HELD, {"held": 1}, {}, "0 of 1 jobs finished (1 held)"),
        (S.COMPLETED, {"completed": 5}, {"completion_why": "412 of 500 outputs located"},
         "412 of 500 outputs located"),
        (S.COMPLETED, {"completed": 5}, {}, "jobs done; waiting for the located check"),
        (S.AWAITING_APPROVAL, {}, {}, "waiting for a person to approve or reject it"),
        (S.LAUNCH_FAILED, {}, {"last_reason": "launch timed out"},
         "ended LaunchFailed: launch timed out"),
        (S.REMOVED, {"removed": 2}, {}, "ended Removed"),
    ],
)  # fmt: skip
def test_every_status_says_why(status, jobs, extra, expected):
    got = why_not_done(status, jobs, **extra)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got.startswith(expected), got
