"""Browser tests: the real system (four service processes over PostgreSQL and RabbitMQ, the
demo campaign loaded, the development login on) driven by a headless Debian Chromium
through Playwright. ``playwright install`` is never needed: the browser is /usr/bin/chromium.

On a failed test the page's screenshot and HTML are written to
``test-output/browser/<test name>.png`` and ``.html``."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from poms_shared.testing.db import DatabaseUnavailable
from poms_shared.testing.stack import DistributedStack, campaign_stack

CHROMIUM = os.environ.get("POMS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 15_000  # one action or wait; long waits pass their own timeout

# Besides the demo campaign: a stage whose jobs run long enough to be killed from a page.
SLOW_CAMPAIGN = "browser_slow"
SLOW_INI = f"""
[campaign]
name={SLOW_CAMPAIGN}

[campaign_defaults]
software_version=v1_0
completion_type=complete
completion_pct=50
login_setup=demo_local
job_type=slow_job

[campaign_stage slow]
job_type=slow_job

[job_type slow_job]
launch_script=poms-local-submit -N 1 -- sleep 120
parameters=[]
output_file_patterns=%
"""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item (``item.rep_call``) for fixtures' teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# ---- the system under test ------------------------------------------------------------


@pytest.fixture(scope="session")
def poms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedStack]:
    """The four services with the demo samples (campaign ``demo_mc``) and the slow
    campaign in a fresh PostgreSQL schema and RabbitMQ vhost; skips when PostgreSQL
    cannot be had."""
    var_dir = tmp_path_factory.mktemp("browser-var")
    try:
        with campaign_stack(var_dir, SLOW_INI) as running:
            yield running
    except DatabaseUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable for the browser tests: {exc}")


@pytest.fixture(scope="session")
def slow_campaign(poms: DistributedStack) -> str:
    """The campaign whose one stage, ``slow``, runs a job of two minutes."""
    return SLOW_CAMPAIGN


# ---- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's, not a Playwright download) with a fresh profile."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        why = (
            f"no Chromium at {CHROMIUM} (found: {found or 'none'}): "
            "apt-get install chromium (.ci/run does) or set POMS_CHROMIUM"
        )
        if os.environ.get("CI"):  # CI installs it: missing there is a failure, not a skip
            pytest.fail(why)
        pytest.skip(why)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - a dev dependency
        pytest.skip(f"playwright is not installed: {exc}")
    with sync_playwright() as pw:
        # Playwright gives every launch a new temporary user-data dir, removed on close.
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Generator[Any, None, None]:
    """A page in a fresh browser context (own cookies); on failure a screenshot and the
    HTML go to ``test-output/browser/``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            _save_evidence(request, context.pages or [opened])
        context.close()


def _save_evidence(request: pytest.FixtureRequest, pages: list[Any]) -> None:
    out = request.config.rootpath / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for i, shown in enumerate(pages):
        stem = out / (name if i == 0 else f"{name}.{i}")
        try:
            shown.screenshot(path=str(stem.with_suffix(".png")), full_page=True)
            stem.with_suffix(".html").write_text(
                f"<!-- {shown.url} -->\n{shown.content()}", encoding="utf-8"
            )
        except Exception as exc:  # the evidence must never hide the test's own failure
            stem.with_suffix(".txt").write_text(f"could not save {shown.url}: {exc!r}\n")
