"""The sample campaigns, schedules and submissions pages and the campaigns page's bulk
actions as a browser sees them: lists.js runs in headless Chromium against the four real
service processes; with JavaScript off the same pages still read and preview."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dialogs import accept_dialogs

from poms_shared.testing.http import call
from poms_shared.testing.stack import DistributedStack

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency").expect

# Fires only on 29 February (next in 2028): a schedule the campaign manager never acts on
# while the tests run.
LEAP_DAY = "30 4 29 2 *"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def clone_sample(poms: DistributedStack, sample: str, to: str) -> dict[str, int]:
    """Clone a sample through the API; the new campaign's stage ids by name."""
    status, body = call(
        f"{poms.web_url}/api/v1/sample-campaigns/{sample}/clone", "POST", {"to": to}
    )
    assert status == 201, body
    status, detail = call(f"{poms.web_url}/api/v1/campaigns/{body['campaign']}")
    assert status == 200, detail
    return {s["name"]: s["stage_id"] for s in detail["stages_detail"]}


@pytest.fixture
def no_script_page(browser: Any) -> Iterator[Any]:
    """A page with JavaScript off."""
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


# ---- sample campaigns ----------------------------------------------------------------------


def test_a_sample_campaign_is_cloned_from_the_samples_page(page, poms):
    name = unique("mvi")
    page.goto(f"{poms.web_url}/samples")
    row = page.locator("table.samples tbody tr#sample-sample_chain")
    expect(row.locator("ol.sample-stages li")).to_have_text(["generate", "simulate"])
    form = row.locator("form[data-clone]")
    expect(form.get_by_role("button", name="Check name")).to_be_hidden()
    form.get_by_label("New name").fill(name)
    expect(form.locator(".clone-name")).to_have_text(f"→ {name}_chain")  # §12.3
    form.get_by_role("button", name="Clone").click()
    output = form.locator("output")
    expect(output).to_have_text(re.compile(rf"Created campaign {name}_chain"))
    expect(output).to_have_class("ok")
    href = output.get_by_role("link", name=f"{name}_chain").get_attribute("href")
    # the same name again is refused next to the field
    form.get_by_role("button", name="Clone").click()
    expect(form.locator(".clone-name")).to_contain_text("(409)")
    expect(form.get_by_label("New name")).to_have_attribute("aria-invalid", "true")
    page.goto(f"{poms.web_url}{href}")
    expect(page.locator("h1")).to_contain_text(f"{name}_chain")


# ---- schedules -----------------------------------------------------------------------------


def test_a_schedule_is_set_previewed_edited_and_deleted_on_the_schedules_page(page, poms):
    stages = clone_sample(poms, "sample_generate", unique("sch"))
    stage_id = stages["generate"]
    asked = accept_dialogs(page)
    page.goto(f"{poms.web_url}/schedules")
    new = page.locator("form[data-schedule]").filter(has=page.locator("select[name=stage]"))
    new.locator("select[name=stage]").select_option(str(stage_id))
    cron = new.get_by_label("Cron")
    cron.fill("61 * * * *")
    expect(new.locator(".field-error")).to_contain_text("does not parse")
    expect(cron).to_have_attribute("aria-invalid", "true")
    cron.fill(LEAP_DAY)
    runs = new.locator("ol.next-runs li")
    expect(runs).to_have_count(5)
    expect(runs.first).to_have_text("2028-02-29 04:30:00 UTC")
    expect(new.locator(".field-error")).to_have_text("")
    new.get_by_role("button", name="Save schedule").click()

    row = page.locator(f"table.schedules tr#schedule-{stage_id}")
    expect(row).to_be_visible()
    expect(row.locator("td").nth(2)).to_have_text(LEAP_DAY)
    expect(row.locator("td").nth(3).locator("li").first).to_have_text("2028-02-29 04:30:00")
    status, body = call(f"{poms.web_url}/api/v1/stages/{stage_id}/schedule")
    assert status == 200 and body["cron"] == LEAP_DAY, body

    row.locator("summary", has_text="edit").click()
    edit = row.locator("form[data-schedule]")
    edit.get_by_label("Cron").fill("0 0 31 2 *")
    expect(edit.locator(".field-error")).to_contain_text("never fires")
    edit.get_by_label("Cron").fill("15 4 29 2 *")
    expect(edit.locator("ol.next-runs li").first).to_have_text("2028-02-29 04:15:00 UTC")
    edit.get_by_role("button", name="Save schedule").click()
    expect(row.locator("td").nth(2)).to_have_text("15 4 29 2 *")

    row.get_by_role("button", name="Delete").click()
    expect(page.locator(f"tr#schedule-{stage_id}")).to_have_count(0)
    assert asked[-1].startswith("Stop the scheduled launches of stage generate")
    status, body = call(f"{poms.web_url}/api/v1/stages/{stage_id}/schedule")
    assert status == 200 and body["cron"] is None, body


def test_with_javascript_off_the_schedules_page_reads_and_previews(no_script_page, poms):
    page = no_script_page
    page.goto(f"{poms.web_url}/schedules")
    expect(page.locator("table.schedules")).to_be_visible()
    new = page.locator("form[data-schedule]").filter(has=page.locator("select[name=stage]"))
    expect(new.get_by_role("button", name="Save schedule")).to_be_hidden()
    new.get_by_label("Cron").fill(LEAP_DAY)
    new.get_by_role("button", name="Preview next runs").click()
    page.wait_for_url("**/schedules?*edit=new*")
    expect(page.locator("form[data-schedule] ol.next-runs li").first).to_have_text(
        "2028-02-29 04:30:00 UTC"
    )
    page.goto(f"{poms.web_url}/submissions?when=custom&tmin=yesterday")
    expect(page.locator("#tmin-error")).to_contain_text("expected a date like")


# ---- the campaigns page: bulk actions ---------------------------------------------------


def test_two_campaigns_are_tagged_untagged_and_deactivated_in_bulk(page, poms):
    prefix = unique("bulk")
    clone_sample(poms, "sample_chain", prefix)
    clone_sample(poms, "sample_generate", prefix)
    names = [f"{prefix}_chain", f"{prefix}_generate"]
    tag = unique("tag")
    asked = accept_dialogs(page)
    page.goto(f"{poms.web_url}/campaigns?q={prefix}")
    rows = page.locator("table.campaigns tbody tr")
    expect(rows).to_have_count(2)
    page.locator("input[data-select-all]").check()
    bulk = page.locator("form#bulk")
    bulk.get_by_label("Tag").fill(tag)
    bulk.get_by_role("button", name="Add tag").click()
    expect(bulk.locator("output")).to_contain_text("tagged: " + ", ".join(names))
    page.wait_for_load_state()
    for name in names:
        row = rows.filter(has=page.get_by_role("link", name=name, exact=True))
        expect(row.locator("td.tags")).to_contain_text(tag)
    options = page.locator("datalist#tag-names option")
    assert tag in [options.nth(i).get_attribute("value") for i in range(options.count())]

    page.locator(f"input[name=campaign][value='{names[0]}']").check()
    bulk.get_by_label("Tag").fill(tag)
    bulk.get_by_role("button", name="Remove tag").click()
    expect(bulk.locator("output")).to_contain_text("untagged: " + names[0])
    assert asked[-1] == f"Remove tag {tag} from {names[0]}?"
    page.wait_for_load_state()
    expect(page.locator("table.campaigns td.tags", has_text=tag)).to_have_count(1)

    page.locator("input[data-select-all]").check()
    bulk.get_by_role("button", name="Mark inactive").click()
    expect(bulk.locator("output")).to_contain_text("changed: " + ", ".join(names))
    assert asked[-1] == f"Mark inactive: {', '.join(names)}?"
    expect(rows.filter(has_text=prefix)).to_have_count(0)
    page.goto(f"{poms.web_url}/campaigns?q={prefix}&active=inactive")
    expect(page.locator("table.campaigns tbody tr")).to_have_count(2)
