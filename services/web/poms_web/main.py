"""``poms-web``: the web service as its own process (metrics on the app's /metrics)."""

from __future__ import annotations

from poms_shared.runtime.process import run_service
from poms_web.bootstrap import NAME, build


def main() -> int:
    return run_service(NAME, build, default_metrics_port=9104)
