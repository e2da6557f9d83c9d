"""The pages of job types, login setups, API tokens and launch logs as a browser sees them:
their scripts (rows.js, poms.js, launch_log.js) run in headless Chromium against the four
real service processes."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from dialogs import accept_dialogs

from poms_shared.testing.http import call, wait_until
from poms_shared.testing.stack import DistributedStack

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency").expect

LAUNCHED_TIMEOUT = 180.0  # seconds for a demo test launch to finish launching


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def demo_job_type_id(poms: DistributedStack) -> int:
    status, body = call(f"{poms.web_url}/api/v1/job-types?q=demo_job")
    assert status == 200, body
    found = [t["job_type_id"] for t in body["items"] if t["name"] == "demo_job"]
    assert len(found) == 1, body
    return int(found[0])


def recoveries_of(poms: DistributedStack, job_type_id: int) -> list[tuple[str, Any]]:
    status, body = call(f"{poms.web_url}/api/v1/job-types/{job_type_id}/recoveries")
    assert status == 200, body
    return [(r["recovery_type"], r["param_overrides"]) for r in body["recoveries"]]


# ---- a job type's recovery list -----------------------------------------------------------


def test_the_recovery_list_is_edited_moved_and_saved_in_the_browser(page, poms):
    jid = demo_job_type_id(poms)
    url = f"{poms.web_url}/job-types/{jid}"
    api = f"{poms.web_url}/api/v1/job-types/{jid}/recoveries"
    status, body = call(api, "PUT", {"recoveries": []})
    assert status == 200, body
    try:
        page.goto(url)
        form = page.locator("form.edit-recoveries")
        rows = form.locator("table.recoveries tbody tr")
        expect(rows).to_have_count(0)
        kinds = form.locator("template").evaluate(
            "t => [...t.content.querySelectorAll('select.type option')].map(o => o.value)"
        )
        assert len(kinds) >= 2, kinds
        first, second = kinds[0], kinds[1]

        add = form.get_by_role("button", name="Add recovery")
        add.click()
        add.click()
        expect(rows).to_have_count(2)
        rows.nth(0).locator("select.type").select_option(first)
        rows.nth(0).locator("input.overrides").fill('[["--x ","1"]]')
        rows.nth(1).locator("select.type").select_option(second)
        rows.nth(1).get_by_role("button", name="move up").click()
        assert rows.nth(0).locator("select.type").input_value() == second
        assert rows.nth(1).locator("select.type").input_value() == first

        with page.expect_navigation():  # saved, the page reloads itself
            form.get_by_role("button", name="Save recoveries").click()
        rows = page.locator("form.edit-recoveries table.recoveries tbody tr")
        expect(rows).to_have_count(2)
        shown = [
            (
                row.locator("select.type").input_value(),
                json.loads(row.locator("input.overrides").input_value() or "[]"),
            )
            for row in rows.all()
        ]
        assert shown == [(second, []), (first, [["--x ", "1"]])]
        assert recoveries_of(poms, jid) == shown

        # param overrides that are not JSON: the error beside the form, nothing sent
        puts: list[str] = []
        page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
        form = page.locator("form.edit-recoveries")
        form.get_by_role("button", name="Add recovery").click()
        expect(rows).to_have_count(3)
        rows.nth(2).locator("input.overrides").fill('[["--y ", ')
        form.get_by_role("button", name="Save recoveries").click()
        output = form.locator("output")
        expect(output).to_have_class("error")
        expect(output).to_contain_text("entry 2: param overrides are not JSON")
        page.wait_for_timeout(1000)  # no reload, no request
        assert page.url == url and puts == []
        expect(rows).to_have_count(3)
        assert recoveries_of(poms, jid) == shown
    finally:
        call(api, "PUT", {"recoveries": []})  # the demo job type as it was


# ---- login setups ----------------------------------------------------------------------------


def test_a_login_setup_is_added_cloned_and_its_clone_deleted(page, poms):
    name = unique("browser_ls")
    copy = f"{name}_copy"
    listed = f"{poms.web_url}/login-setups?q={name}"
    api = f"{poms.web_url}/api/v1/login-setups?q={name}"
    page.goto(listed)
    expect(page.locator("table.login-setups tbody tr")).to_contain_text("No login setup")

    tools = page.locator("details.tools")
    tools.locator("summary").click()
    add = tools.locator("form.action")
    add.get_by_label("Name").fill(name)
    add.get_by_label("Host").fill("localhost")
    add.get_by_label("Account").fill("poms")
    add.get_by_label("Setup").fill("echo browser")
    with page.expect_navigation():
        add.get_by_role("button", name="Add login setup").click()
    row = page.locator("table.login-setups tbody tr").filter(
        has=page.locator("code", has_text=re.compile(f"^{name}$"))
    )
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("localhost")

    row.locator("summary", has_text="more").click()
    clone = row.locator("form.action").filter(has=page.get_by_role("button", name="Clone"))
    clone.get_by_label("name of the copy").fill(copy)
    with page.expect_navigation():
        clone.get_by_role("button", name="Clone").click()
    copy_row = page.locator("table.login-setups tbody tr").filter(
        has=page.locator("code", has_text=re.compile(f"^{copy}$"))
    )
    expect(copy_row).to_have_count(1)
    expect(copy_row.locator("td").nth(1)).to_have_text("localhost")
    status, body = call(api)
    assert status == 200, body
    assert sorted(s["name"] for s in body["items"]) == [name, copy]

    asked = accept_dialogs(page)
    copy_row.locator("summary", has_text="more").click()
    with page.expect_navigation():
        copy_row.get_by_role("button", name="Delete").click()
    assert asked == [f"Delete login setup {copy}? Only one no stage uses can be deleted."]
    expect(page.locator("table.login-setups tbody tr")).to_have_count(1)
    expect(page.locator("table.login-setups tbody tr code")).to_have_text(name)
    status, body = call(api)
    assert status == 200, body
    assert [s["name"] for s in body["items"]] == [name]


# ---- API tokens ------------------------------------------------------------------------------


def test_a_token_is_created_shown_once_and_revoked(page, poms):
    name = unique("browser_token")
    url = f"{poms.web_url}/me/tokens"
    page.goto(url)
    create = page.locator("form.action").filter(has=page.get_by_role("button", name="Create token"))
    create.get_by_label("Name").fill(name)
    create.get_by_role("button", name="Create token").click()
    output = create.locator("output")
    expect(output).to_have_class("ok")
    expect(output).to_contain_text(name)
    answer = json.loads(output.inner_text())
    secret = answer["token"]
    assert secret and answer["name"] == name and answer["usable"] is True

    page.goto(url)  # the secret is not shown again; the token is listed
    assert secret not in page.content()
    row = page.locator("table.tokens tbody tr").filter(
        has=page.get_by_role("cell", name=name, exact=True)
    )
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text(str(answer["token_id"]))
    expect(row.locator("td").nth(8)).to_have_text("usable")

    asked = accept_dialogs(page)
    with page.expect_navigation():
        row.get_by_role("button", name="Revoke").click()
    assert asked == [f"Revoke token {name}? Scripts using it stop working."]
    expect(row.locator("td").nth(8)).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    status, body = call(f"{poms.web_url}/api/v1/tokens?per_page=100")
    assert status == 200, body
    mine = [t for t in body["items"] if t["token_id"] == answer["token_id"]]
    assert len(mine) == 1 and mine[0]["revoked"] and not mine[0]["usable"]


# ---- a launch log ----------------------------------------------------------------------------


def test_the_launch_log_of_a_launched_submission_is_shown(page, poms):
    status, detail = call(f"{poms.web_url}/api/v1/campaigns/demo_mc")
    assert status == 200, detail
    generate = {s["name"]: s["stage_id"] for s in detail["stages_detail"]}["generate"]
    status, body = call(f"{poms.web_url}/api/v1/stages/{generate}/launch", "POST", {"test": True})
    assert status == 202, body
    sid = body.get("submission_id") or wait_until(
        lambda: _newest_submission(poms, generate), timeout=60
    )
    # opened at once: while the launch runs the page's script follows the log
    page.goto(f"{poms.web_url}/submissions/{sid}/launch-log")
    state = page.locator("#launch-state")
    expect(state).to_contain_text("The launch has finished.", timeout=LAUNCHED_TIMEOUT * 1000)
    status, text = call(f"{poms.web_url}/api/v1/submissions/{sid}/log")
    assert status == 200 and isinstance(text, str) and text.strip(), text
    last = text.strip().splitlines()[-1]
    log = page.locator("#launch-log")
    expect(log).to_contain_text(last, timeout=10_000)
    assert "No launch log yet." not in log.inner_text()
    # and as the server renders it once the launch is over
    page.reload()
    expect(page.locator("#launch-state")).to_contain_text("The launch has finished.")
    expect(page.locator("#launch-log")).to_contain_text(last)


def _newest_submission(poms: DistributedStack, stage_id: int) -> int | None:
    _, stage = call(f"{poms.web_url}/api/v1/stages/{stage_id}")
    return stage["submissions"][-1]["submission_id"] if stage["submissions"] else None
