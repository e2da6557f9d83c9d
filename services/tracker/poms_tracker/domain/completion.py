"""When a Completed submission becomes Located, and why it has not yet."""

from __future__ import annotations

import math
from dataclasses import dataclass

PASS_THROUGH_STAGES = ("approval", "datatransfer")


@dataclass(frozen=True)
class LocatedEvidence:
    """The stage's rules and the catalog's counts for one Completed submission."""

    completion_type: str
    completion_pct: float
    is_recovery: bool
    inputs: int  # inputs given to it (SAM: its project consumed); 0: judge by the jobs
    inputs_with_outputs: int  # inputs having a located child matching the patterns
    jobs: int
    located_outputs: int  # located outputs matching the patterns
    patterns: str
    forced: bool = False
    stage_type: str = "regular"
    located_after_hours: float | None = None  # the stage's time limit; None: counts only
    hours_completed: float | None = None  # how long the submission has been Completed


@dataclass(frozen=True)
class LocatedDecision:
    located: bool
    why: str


def needs_counts(ev: LocatedEvidence) -> bool:
    """Whether the decision depends on the catalog's counts (forced, pass-through and
    ``complete`` stages do not ask the catalog)."""
    return not (
        ev.forced or ev.stage_type in PASS_THROUGH_STAGES or ev.completion_type == "complete"
    )


def decide_located(ev: LocatedEvidence) -> LocatedDecision:
    """Located when enough outputs are in the catalog (or the stage only needs completion)."""
    if ev.forced:
        return LocatedDecision(True, "located by request (forced)")
    if ev.stage_type in PASS_THROUGH_STAGES:
        return LocatedDecision(True, f"{ev.stage_type} stage passes its input through")
    if ev.completion_type == "complete":
        return LocatedDecision(True, "stage completes without looking for outputs")
    if ev.inputs > 0:
        have, base, what = ev.inputs_with_outputs, ev.inputs, "input files have located outputs"
    else:
        have, base, what = ev.located_outputs, ev.jobs, "outputs located for jobs"
    needed = math.ceil(base * ev.completion_pct / 100.0 - 1e-9)
    enough = have >= needed and (needed > 0 or ev.is_recovery)
    why = f"{have} of {base} {what} matching {ev.patterns}, needs {ev.completion_pct:g}% ({needed})"
    if enough:
        return LocatedDecision(True, why)
    return _by_time(ev, why)


def catalog_unavailable(ev: LocatedEvidence, reason: str) -> LocatedDecision:
    """The catalog could not be asked for the counts: only the stage's time limit can
    decide now; otherwise the submission waits for the next check."""
    return _by_time(ev, f"the data catalog could not be asked ({reason}); asked again later")


def _by_time(ev: LocatedEvidence, why: str) -> LocatedDecision:
    """Located by the stage's time limit when it has passed; else not yet, saying why."""
    if ev.located_after_hours is None:
        return LocatedDecision(False, why)
    limit, waited = ev.located_after_hours, ev.hours_completed or 0.0
    if waited >= limit:
        by_time = f"located by time: Completed for {waited:.1f} h, the stage allows {limit:g} h"
        return LocatedDecision(True, f"{by_time}; {why}")
    return LocatedDecision(False, f"{why}; or by time after {limit:g} h Completed ({waited:.1f} h)")
