"""``poms-launcher``: the launcher as its own process."""

from __future__ import annotations

from poms_launcher.bootstrap import NAME, build
from poms_shared.runtime.process import run_service


def main() -> int:
    return run_service(NAME, build, default_metrics_port=9102)
