"""The shifter's day, end to end in headless Chromium over the four real services: a
two-stage campaign is built in the graph editor and saved, its exported ``.ini`` says
what was built; it is launched from a stage page and both stages are watched to Located
(one job of the second fails on purpose); the failed job's log is opened from the jobs
table; the triage page lists the failure and leads back to it; and a running submission
is killed from its page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from dialogs import accept_dialogs
from test_editor_in_browser import (
    add_stage,
    field,
    open_editor,
    panel,
    start_campaign,
    tool,
)
from test_pages_in_browser import (
    api_status,
    heading_status,
    stage_ids,
    submission_row_status,
    watch,
)

from poms_shared.ini import parse_ini
from poms_shared.testing.http import call, wait_until
from poms_shared.testing.stack import DistributedStack

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency").expect

CAMPAIGN = "acceptance_mc"
# The input whose processing fails: exactly one simulate job ends with exit code 1 (its
# other input is processed), so the stage is Completed, then Located at 50 %.
FAIL_ON = "gen_*_0_0.root"
GEN = [["--stage ", "generate"], ["--jobs ", "3"]]
SIM = [
    ["--stage ", "simulate"],
    ["--jobs ", "3"],
    ["--dataset ", "%(dataset)s"],
    ["--fail-on ", FAIL_ON],
]


def set_overrides(page: Any, pairs: list[list[str]]) -> None:
    """The stage's own parameter overrides, through the key/value editor."""
    overrides = field(page, "param_overrides")
    overrides.get_by_role("checkbox").uncheck()
    for n, (key, value) in enumerate(pairs):
        overrides.get_by_role("button", name="Add pair").click()
        overrides.locator("input.key").nth(n).fill(key)
        overrides.locator("input.value").nth(n).fill(value)


def build_campaign(page: Any, poms: DistributedStack) -> None:
    start_campaign(page, poms, CAMPAIGN)
    add_stage(page, "gen")
    field(page, "stage_type").locator("select").select_option("generator")
    set_overrides(page, GEN)
    tool(page, "Overview").click()
    add_stage(page, "sim")
    field(page, "dataset_or_split_data").locator("input").fill("from_parent")
    field(page, "completion_type").locator("select").select_option("located")
    field(page, "completion_pct").locator("input").fill("50")
    set_overrides(page, SIM)
    tool(page, "Connect").click()
    panel(page).get_by_label("Upstream stage", exact=False).select_option(label="gen")
    panel(page).get_by_label("Downstream stage", exact=False).select_option(label="sim")
    panel(page).get_by_label("File patterns", exact=True).fill("gen_%.root")
    page.locator("#panel").get_by_role("button", name="Connect", exact=True).click()
    tool(page, "Save").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/editor"))
    open_editor(page, page.url)


def newest(poms: DistributedStack, stage_id: int) -> int | None:
    _, stage = call(f"{poms.web_url}/api/v1/stages/{stage_id}")
    return stage["submissions"][-1]["submission_id"] if stage["submissions"] else None


def test_a_campaign_built_in_the_editor_runs_to_located_and_is_triaged(page, poms, slow_campaign):
    asked = accept_dialogs(page)

    # built in the editor, saved, exported as built
    build_campaign(page, poms)
    spec = parse_ini(page.request.get(f"{poms.web_url}/api/v1/campaigns/{CAMPAIGN}/ini").text())
    assert [s.name for s in spec.stages] == ["gen", "sim"]
    gen, sim = (spec.resolved(s) for s in spec.stages)
    assert (gen.stage_type, [list(p) for p in gen.param_overrides]) == ("generator", GEN)
    assert [list(p) for p in sim.param_overrides] == SIM
    assert (sim.dataset_or_split_data, sim.completion_type, sim.completion_pct) == (
        "from_parent",
        "located",
        50,
    )
    assert [(d.upstream, d.downstream, d.file_patterns) for d in spec.dependencies] == [
        ("gen", "sim", "gen_%.root")
    ]
    stages = stage_ids(poms, CAMPAIGN)

    # launched from the first stage's page; both stages watched to Located
    page.goto(f"{poms.web_url}/stages/{stages['gen']}")
    form = page.locator("form.action").filter(
        has=page.get_by_role("button", name="Launch now", exact=True)
    )
    form.get_by_role("button").click()
    expect(form.locator("output")).to_have_text(re.compile(r"submission \d+"), timeout=60_000)
    assert "Launch stage gen now?" in asked
    launched = re.search(r"submission (\d+)", form.locator("output").inner_text())
    assert launched is not None
    gen_sid = int(launched.group(1))
    seen = watch(
        page,
        f"{poms.web_url}/stages/{stages['gen']}",
        lambda: submission_row_status(page, gen_sid),
        "Located",
    )
    assert seen[-1] == "Located"
    sim_sid = wait_until(lambda: newest(poms, stages["sim"]), timeout=120)
    seen = watch(
        page, f"{poms.web_url}/submissions/{sim_sid}", lambda: heading_status(page), "Located"
    )
    assert seen[-1] == "Located"
    figure = page.locator("figure.diagram")
    expect(figure.locator(f"a[href*='/submissions/{gen_sid}']")).to_have_count(1)  # lineage

    # the failed job's log, from the jobs table
    failed = page.locator("table.jobs tbody tr.job-failed")
    expect(failed).to_have_count(1)
    assert failed.locator("td").nth(2).inner_text().strip() == "1"  # exit code
    failed.get_by_role("link", name="log", exact=True).click()
    page.wait_for_url(re.compile(rf"/submissions/{sim_sid}/jobs/\d+/log"))
    expect(page.locator("#job-log")).to_contain_text(
        re.compile(r"processing gen_\d+_0_0\.root failed")
    )

    # the triage page lists the campaign and the failure, and leads back to it
    page.goto(f"{poms.web_url}/triage")
    summary = page.locator("#stage-summary tbody.campaign").filter(has_text=CAMPAIGN)
    expect(summary.locator("tr.stage").filter(has_text="sim").locator("td").nth(3)).to_have_text(
        "1"
    )
    exit_row = page.locator("#failures-exit_code tbody tr").filter(
        has=page.locator(f"a[href*='/submissions/{sim_sid}']")
    )
    expect(exit_row.locator("td.value")).to_have_text("1")
    exit_row.get_by_role("link", name=str(sim_sid), exact=True).click()
    page.wait_for_url(f"**/submissions/{sim_sid}")

    # a running submission killed from its page
    slow = stage_ids(poms, slow_campaign)["slow"]
    status, body = call(f"{poms.web_url}/api/v1/stages/{slow}/launch", "POST", {})
    assert status == 202, body
    slow_sid = body.get("submission_id") or wait_until(lambda: newest(poms, slow), timeout=60)
    url = f"{poms.web_url}/submissions/{slow_sid}"
    watch(page, url, lambda: heading_status(page), "Running", "Idle")
    page.get_by_role("button", name="Kill jobs", exact=True).click()
    assert f"Kill the jobs of submission {slow_sid}?" in asked
    seen = watch(page, url, lambda: heading_status(page), "Removed")
    assert seen[-1] == "Removed" and api_status(poms, slow_sid) == "Removed"
