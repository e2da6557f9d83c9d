"""The triage page as a shifter's browser sees it: headless Chromium against the four real
service processes; the charts are drawn by the vendored Chart.js from the page's JSON, a
failed job's groups lead to its submission and changing the window reloads the page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from poms_shared.db.campaigns import save_campaign
from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Job, Submission, SubmissionHistory
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.ini.parser import parse_ini
from poms_shared.testing.stack import DistributedStack

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency").expect

CHARTS = ("chart-timeline", "chart-efficiency", "chart-memory", "chart-memory-share")
TAG = uuid.uuid4().hex[:8]
SITE, NODE = f"TRIAGE_SITE_{TAG}", f"bh-{TAG}.example"
INI = f"""
[campaign]
name=browser_triage_{TAG}

[campaign_defaults]
software_version=v9_{TAG}
completion_type=complete
completion_pct=50
login_setup=demo_local
job_type=triage_job_{TAG}

[campaign_stage crunch]
job_type=triage_job_{TAG}

[job_type triage_job_{TAG}]
launch_script=true
parameters=[]
output_file_patterns=%
"""


@pytest.fixture(scope="module")
def failed_submission(poms: DistributedStack) -> Iterator[int]:
    """A campaign of its own with one Failed submission: six jobs failed with exit code
    137 on one node (a black hole), two succeeded elsewhere, an hour and a half ago."""
    database = Database(poms.env["POMS_DATABASE_URL"])
    try:
        with database.transaction() as session:
            save_campaign(session, parse_ini(INI), experiment=DEMO_EXPERIMENT, actor="poms",
                          role="production")  # fmt: skip
            stage_id = session.scalar(
                select(CampaignStage.campaign_stage_id)
                .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
                .where(Campaign.name == f"browser_triage_{TAG}")
            )
            assert stage_id is not None
            submission_id = _seed(session, stage_id)
        yield submission_id
    finally:
        database.dispose()


def _seed(session: Any, stage_id: int) -> int:
    now = datetime.now(UTC)
    sub = Submission(
        campaign_stage_id=stage_id,
        launcher="poms",
        status_id=int(SubmissionStatus.FAILED),
        created=now - timedelta(hours=3),
        updated=now - timedelta(hours=1),
        submission_params={},
    )
    session.add(sub)
    session.flush()
    session.add(
        SubmissionHistory(
            submission_id=sub.submission_id,
            status_id=int(SubmissionStatus.FAILED),
            created=now - timedelta(hours=1),
        )
    )
    ended, started = now - timedelta(minutes=90), now - timedelta(minutes=150)
    outcomes = [(JobState.FAILED, 137, NODE, 30.0)] * 6
    outcomes += [(JobState.COMPLETED, 0, "ok.example", 3000.0)] * 2
    for n, (state, code, node, cpu) in enumerate(outcomes):
        session.add(
            Job(
                submission_id=sub.submission_id,
                backend="triage-browser",
                batch_job_id=f"{n}.0@{TAG}",
                state=int(state),
                exit_code=code,
                node=node,
                site=SITE,
                started_at=started,
                finished_at=ended,
                updated=ended,
                cpu_seconds=cpu,
                wall_seconds=3600.0,
                memory_mb=900,
                memory_requested_mb=2000,
            )
        )
    return sub.submission_id


def charts_drawn(page: Any) -> dict[str, Any]:
    """Per chart: whether Chart.js holds an instance for its canvas, how many labels it
    has, each dataset's sum and whether any pixel of the canvas is painted."""
    return dict(
        page.evaluate(
            """(ids) => Object.fromEntries(ids.map((id) => {
                const canvas = document.getElementById(id);
                const chart = window.Chart && window.Chart.getChart(canvas);
                const pixels = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                const painted = pixels.some((value, i) => i % 4 === 3 && value > 0);
                const sums = chart ? Object.fromEntries(chart.data.datasets.map(
                    (d) => [d.label, d.data.reduce((a, b) => a + b, 0)])) : {};
                const labels = chart ? chart.data.labels.length : 0;
                return [id, {chart: !!chart, labels, sums, painted}];
            }))""",
            list(CHARTS),
        )
    )


def test_the_triage_page_draws_its_charts(page, poms, failed_submission):
    response = page.goto(f"{poms.web_url}/triage")
    assert response is not None and response.status == 200
    assert page.title().startswith("POMS — Triage")
    page.wait_for_function(
        "(ids) => window.Chart && ids.every((id) => Chart.getChart(document.getElementById(id)))",
        arg=list(CHARTS),
    )
    drawn = charts_drawn(page)
    assert all(d["chart"] and d["painted"] and d["labels"] for d in drawn.values()), drawn
    assert drawn["chart-timeline"]["labels"] == 24  # hours of the last day
    assert drawn["chart-timeline"]["sums"]["failed"] >= 6  # our jobs at least
    assert drawn["chart-timeline"]["sums"]["done"] >= 2
    assert drawn["chart-efficiency"]["labels"] == 11
    assert drawn["chart-efficiency"]["sums"]["jobs"] >= 8
    assert drawn["chart-memory"]["sums"]["peak used"] >= 8
    assert drawn["chart-memory"]["sums"]["requested"] >= 8
    assert drawn["chart-memory-share"]["sums"]["jobs"] >= 8
    # drawn charts fold their number tables away (still in the page)
    numbers = page.locator("figure").filter(has=page.locator("#chart-efficiency"))
    expect(numbers.locator("details.numbers")).to_have_js_property("open", False)
    assert page.locator("#numbers-efficiency tbody tr").count() == 12


def test_a_failed_jobs_groups_are_listed_and_lead_to_its_submission(page, poms, failed_submission):
    page.goto(f"{poms.web_url}/triage")
    node_row = page.locator("#failures-node tbody tr").filter(has_text=NODE)
    expect(node_row).to_have_class("black-hole")
    expect(node_row.locator("td").nth(1)).to_have_text("6")
    assert NODE in page.locator(".black-holes").inner_text()
    exit_row = page.locator("#failures-exit_code tbody tr").filter(has_text="137 (signal 9)")
    expect(exit_row).to_have_count(1)
    site_row = page.locator("#failures-site tbody tr").filter(has_text=SITE)
    expect(site_row.locator("td").nth(1)).to_have_text("6")
    expect(site_row.locator("td").nth(2)).to_have_text("2")
    site_row.get_by_role("link", name=str(failed_submission), exact=True).click()
    page.wait_for_url(f"**/submissions/{failed_submission}")
    assert f"Submission {failed_submission}" in page.locator("h1").inner_text()
    assert page.locator("h1 .status").inner_text().strip() == "Failed"


def test_changing_the_window_reloads_the_page(page, poms, failed_submission):
    page.goto(f"{poms.web_url}/triage")
    assert page.locator("#triage-window").input_value() == "24h"
    with page.expect_navigation():
        page.locator("#triage-window").select_option("6h")
    assert "window=6h" in page.url
    assert page.locator("#triage-window").input_value() == "6h"
    expect(page.locator("#failures-site tbody tr").filter(has_text=SITE)).to_have_count(1)
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-timeline')")
    labels = page.evaluate("() => Chart.getChart('chart-timeline').data.labels.length")
    assert labels == 24  # 15-minute buckets
    # the window before this one holds none of these jobs
    page.get_by_role("link", name="‹ earlier").click()
    page.wait_for_url("**window=custom**")
    assert page.locator("#triage-window").input_value() == "custom"
    expect(page.locator("#failures-site tbody tr").filter(has_text=SITE)).to_have_count(0)
    # a stage filter narrows the page to the campaign's one stage
    page.goto(f"{poms.web_url}/triage")
    with page.expect_navigation():
        page.locator("select[name=campaign_id]").select_option(label=f"browser_triage_{TAG}")
    summary = page.locator("#stage-summary tbody tr").all_inner_texts()
    assert len(summary) == 2 and "crunch" in summary[1], summary
