"""``poms-campaign-manager``: the campaign manager as its own process."""

from __future__ import annotations

from poms_campaign_manager.bootstrap import NAME, build
from poms_shared.runtime.process import run_service


def main() -> int:
    return run_service(NAME, build, default_metrics_port=9101)
