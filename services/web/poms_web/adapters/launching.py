"""Waiting for the campaign manager's answer to a launch request.

A launch is asked for through the outbox; the campaign manager records the outcome on
the ``LaunchRequest`` row (launched with a submission id, held, or failed). The web
answers once the outcome is known, or after ``LAUNCH_WAIT`` seconds with "pending".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from poms_shared.db.tables import LaunchRequest, Submission
from poms_web.context import web_state

LAUNCH_WAIT = 20.0  # seconds a launch request waits for the campaign manager's answer
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    outcome: str  # launched | held | failed
    submission_id: int | None
    held_launch_id: int | None
    error: str | None


def wait_for(probe: Callable[[Session], T | None]) -> T | None:
    """Poll ``probe`` in fresh transactions until it answers or the wait is over."""
    deadline = time.monotonic() + LAUNCH_WAIT
    while True:
        with web_state().db.transaction() as session:
            value = probe(session)
        if value is not None or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def outcome(request_id: str) -> Outcome | None:
    """The launch request's outcome, or None if it is still pending after the wait."""
    return wait_for(lambda session: _outcome(session, request_id))


def _outcome(session: Session, request_id: str) -> Outcome | None:
    row = session.get(LaunchRequest, request_id)
    if row is None or row.outcome == "pending":
        return None
    return Outcome(row.outcome, row.submission_id, row.held_launch_id, row.error)


def commands(submission_id: int) -> dict[str, Any] | None:
    """What a show-commands launch composed: ``{"script", "command_line"}``, or
    ``{"error"}`` when it could not be composed; None if not composed yet."""
    return wait_for(lambda session: _commands(session, submission_id))


def _commands(session: Session, submission_id: int) -> dict[str, Any] | None:
    sub = session.get(Submission, submission_id)
    if sub is None:
        return None
    params = sub.submission_params
    if params.get("commands"):
        value = params["commands"]
        return dict(value) if isinstance(value, dict) else {"script": str(value)}
    if params.get("launch_error"):
        return {"error": str(params["launch_error"])}
    return None


def commands_text(composed: dict[str, Any]) -> str:
    """The commands as a person reads them: the launch script (or why there is none)."""
    if "error" in composed:
        return f"the launch could not be composed: {composed['error']}"
    return str(composed.get("script") or composed.get("command_line") or "")
