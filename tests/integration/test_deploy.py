"""Deployment files: Prometheus rules and config, and every service's metrics exposition."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from poms_shared import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian package prometheus; .ci/run installs it)",
)


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        cwd=DEPLOY / "prometheus",
        check=False,
    )


@needs_promtool
@pytest.mark.parametrize(
    "args",
    [
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
        ("check", "config", "prometheus.yml"),
    ],
)
def test_prometheus_files_pass_promtool(args):
    result = promtool(*args)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


@needs_promtool
def test_metrics_exposition_passes_promtool_lint():
    metrics.MESSAGES_CONSUMED.labels("poms.tracker.launches", "LaunchFailed").inc()
    metrics.HANDLER_SECONDS.labels("poms.tracker.launches", "LaunchFailed").observe(0.01)
    result = promtool("check", "metrics", stdin=generate_latest())
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_systemd_units_start_each_service_on_its_metrics_port():
    units = sorted((DEPLOY / "systemd").glob("poms-*.service"))
    assert [u.stem for u in units] == [
        "poms-campaign-manager",
        "poms-launcher",
        "poms-tracker",
        "poms-web",
    ]
    for unit, port in zip(units, (9101, 9102, 9103, 9104), strict=True):
        assert f"/bin/{unit.stem} --metrics-port {port}" in unit.read_text()
