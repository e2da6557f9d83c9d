"""``poms-tracker``: the tracker as its own process."""

from __future__ import annotations

from poms_shared.runtime.process import run_service
from poms_tracker.bootstrap import NAME, build


def main() -> int:
    return run_service(NAME, build, default_metrics_port=9103)
