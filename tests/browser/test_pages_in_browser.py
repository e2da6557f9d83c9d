"""The web service as a browser sees it: headless Chromium against the four real service
processes (PostgreSQL, RabbitMQ, the demo campaign, the development login)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from poms_shared.db.session import Database
from poms_shared.db.tables import SystemFlag
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.domain.flags import GLOBAL_HOLD
from poms_shared.testing.http import call, wait_until
from poms_shared.testing.stack import DistributedStack, free_port

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency").expect

LOCATED_TIMEOUT = 180.0  # seconds for a demo test launch to be Located (it takes ~10 s)


def stage_ids(poms: DistributedStack, campaign: str = DEMO_CAMPAIGN) -> dict[str, int]:
    status, detail = call(f"{poms.web_url}/api/v1/campaigns/{campaign}")
    assert status == 200, detail
    return {s["name"]: s["stage_id"] for s in detail["stages_detail"]}


def api_status(poms: DistributedStack, sid: int) -> str:
    status, body = call(f"{poms.web_url}/api/v1/submissions/{sid}")
    assert status == 200, body
    return str(body["status"])


def json_shown(page: Any) -> Any:
    """The JSON document the browser is showing (Chromium puts it in a <pre>)."""
    return json.loads(page.locator("pre").first.inner_text())


def watch(page: Any, url: str, read: Callable[[], str | None], *wanted: str) -> list[str]:
    """Reload ``url`` about once a second until ``read()`` (from the page) is one of
    ``wanted``; the values seen, in order. Fails after ``LOCATED_TIMEOUT``."""
    seen: list[str] = []
    deadline = time.monotonic() + LOCATED_TIMEOUT
    while True:
        page.goto(url)
        shown = read()
        if shown is not None and (not seen or seen[-1] != shown):
            seen.append(shown)
        if shown in wanted:
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"{url}: never showed {wanted}; seen {seen}")
        page.wait_for_timeout(1000)


def submission_link(page: Any, sid: int) -> Any:
    """Links to submission ``sid``'s page (the query may carry experiment and role)."""
    return page.locator(f"a[href$='/submissions/{sid}'], a[href*='/submissions/{sid}?']")


def submission_row_status(page: Any, sid: int) -> str | None:
    """The status badge in the table row that links to submission ``sid``."""
    row = page.locator("tr").filter(has=submission_link(page, sid))
    return row.locator(".status").first.inner_text().strip() if row.count() else None


def heading_status(page: Any) -> str:
    """The status badge in a submission page's heading."""
    return str(page.locator("h1 .status").inner_text().strip())


# ---- the campaigns pages ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/campaigns"])
def test_the_campaigns_page_lists_the_demo_campaign_and_its_stages(page, poms, path):
    response = page.goto(f"{poms.web_url}{path}")
    assert response is not None and response.status == 200
    assert page.title().startswith("POMS")
    assert page.get_by_role("status").filter(has_text="Development login").is_visible()
    row = page.locator("table.campaigns tbody tr").filter(
        has=page.get_by_role("link", name=DEMO_CAMPAIGN, exact=True)
    )
    assert row.count() == 1
    stage_links = row.locator("ul.stages > li > a:first-child").all_inner_texts()
    assert stage_links == list(stage_ids(poms))
    assert row.get_by_role("button", name="Launch").is_visible()


def test_the_campaign_page_shows_stages_and_dependencies(page, poms):
    page.goto(f"{poms.web_url}/campaigns")
    page.get_by_role("link", name=DEMO_CAMPAIGN, exact=True).click()
    page.wait_for_url(f"**/campaigns/{DEMO_CAMPAIGN}")
    assert DEMO_CAMPAIGN in page.locator("h1").inner_text()
    tables = page.locator("main table.list")
    stages = tables.nth(0).locator("tbody tr td:first-child").all_inner_texts()
    assert [s.split()[0] for s in stages] == list(stage_ids(poms))
    edges = [
        tuple(row.locator("td").all_inner_texts()[:2])
        for row in tables.nth(1).locator("tbody tr").all()
    ]
    assert ("simulate", "generate") in edges and ("reconstruct", "simulate") in edges
    # on to a stage's page
    tables.nth(0).get_by_role("link", name="generate", exact=True).click()
    page.wait_for_url(f"**/stages/{stage_ids(poms)['generate']}")
    assert "generate" in page.locator("h1").inner_text()
    assert page.locator("table.submissions thead th").first.inner_text() == "Submission"


def test_a_launched_stage_is_watched_in_the_browser_until_located(page, poms):
    generate = stage_ids(poms)["generate"]
    status, body = call(f"{poms.web_url}/api/v1/stages/{generate}/launch", "POST", {"test": True})
    assert status == 202, body
    sid = body.get("submission_id") or wait_until(
        lambda: _newest_submission(poms, generate), timeout=60
    )

    seen = watch(
        page,
        f"{poms.web_url}/stages/{generate}",
        lambda: submission_row_status(page, sid),
        "Located",
    )
    assert seen[-1] == "Located"
    row = page.locator("table.submissions tr").filter(has=submission_link(page, sid))
    assert "test" in row.locator("td").first.inner_text()  # a test launch, marked so

    # the submission's own page, reached from its row
    row.get_by_role("link", name=str(sid), exact=True).click()
    page.wait_for_url(f"**/submissions/{sid}")
    assert heading_status(page) == "Located"
    timeline = page.locator("ol.timeline li").all_inner_texts()
    assert any("Located" in line for line in timeline)
    jobs = page.locator("table.jobs tbody tr")
    assert jobs.count() >= 1 and "No jobs" not in jobs.first.inner_text()
    assert page.get_by_role("button", name="Kill jobs").count() == 0  # not active any more
    # its JSON link
    page.locator("p.links").get_by_role("link", name="JSON").click()
    page.wait_for_url(f"**/api/v1/submissions/{sid}*")
    shown = json_shown(page)
    assert shown["submission_id"] == sid and shown["status"] == "Located"


def _newest_submission(poms: DistributedStack, stage_id: int) -> int | None:
    _, stage = call(f"{poms.web_url}/api/v1/stages/{stage_id}")
    return stage["submissions"][-1]["submission_id"] if stage["submissions"] else None


def test_a_test_launch_clicked_on_the_stage_page_runs(page, poms):
    generate = stage_ids(poms)["generate"]
    page.goto(f"{poms.web_url}/stages/{generate}")
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    form = page.locator("form.action").filter(
        has=page.get_by_role("button", name="Launch test jobs", exact=True)
    )
    form.get_by_role("button").click()
    output = form.locator("output")
    expect(output).to_have_text(re.compile(r"submission \d+"), timeout=60_000)
    expect(output).to_have_class("ok")
    assert dialogs == ["Launch test jobs of generate?"]
    launched = re.search(r"submission (\d+)", output.inner_text())
    assert launched, output.inner_text()
    sid = int(launched.group(1))
    seen = watch(
        page,
        f"{poms.web_url}/submissions/{sid}",
        lambda: heading_status(page),
        "Located",
    )
    assert seen[-1] == "Located"
    assert api_status(poms, sid) == "Located"


def test_killing_a_running_submission_from_its_page(page, poms, slow_campaign):
    slow = stage_ids(poms, slow_campaign)["slow"]
    status, body = call(f"{poms.web_url}/api/v1/stages/{slow}/launch", "POST", {})
    assert status == 202, body
    sid = body.get("submission_id") or wait_until(
        lambda: _newest_submission(poms, slow), timeout=60
    )
    url = f"{poms.web_url}/submissions/{sid}"
    watch(page, url, lambda: heading_status(page), "Running", "Idle")

    kill = page.get_by_role("button", name="Kill jobs", exact=True)
    # dismissing the confirmation sends nothing
    page.once("dialog", lambda dialog: dialog.dismiss())
    kill.click()
    page.wait_for_timeout(500)
    assert api_status(poms, sid) in ("Running", "Idle")

    confirmed: list[str] = []

    def accept(dialog: Any) -> None:
        confirmed.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_response(lambda r: r.url.endswith(f"/api/v1/submissions/{sid}/kill")) as r:
        kill.click()
    assert r.value.status == 202, r.value.text()
    assert confirmed == [f"Kill the jobs of submission {sid}?"]
    seen = watch(page, url, lambda: heading_status(page), "Removed")
    assert seen[-1] == "Removed"
    assert page.get_by_role("button", name="Kill jobs").count() == 0


# ---- the API's JSON in the browser -------------------------------------------------------


def test_the_api_json_renders_in_the_browser(page, poms):
    page.goto(f"{poms.web_url}/campaigns/{DEMO_CAMPAIGN}")
    page.get_by_role("link", name="submissions (JSON)").click()
    page.wait_for_url("**/api/v1/submissions?*")
    listing = json_shown(page)
    assert isinstance(listing["items"], list)
    assert all(item["campaign"] == DEMO_CAMPAIGN for item in listing["items"])

    response = page.goto(f"{poms.web_url}/api/v1/campaigns")
    assert response is not None and response.status == 200
    assert DEMO_CAMPAIGN in json.dumps(json_shown(page))

    response = page.goto(f"{poms.web_url}/api/v1/campaigns/{DEMO_CAMPAIGN}")
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    detail = json_shown(page)
    assert [s["name"] for s in detail["stages_detail"]] == list(stage_ids(poms))

    response = page.goto(f"{poms.web_url}/api/v1/openapi.json")
    assert response is not None and response.status == 200
    assert json_shown(page)["openapi"].startswith("3.")

    response = page.goto(f"{poms.web_url}/api/v1/campaigns/no-such-campaign")
    assert response is not None and response.status == 404
    assert "error" in json_shown(page)


# ---- cross-site requests ------------------------------------------------------------------


class _OtherSite:
    """Pages served from another origin (``localhost`` on another port, while POMS is
    ``127.0.0.1``): a different site, as an attacker's page would be."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                html = pages.get(self.path)
                self.send_response(200 if html is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((html or "not here").encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _OtherSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def other_site() -> Iterator[_OtherSite]:
    with _OtherSite() as site:
        yield site


@pytest.fixture(scope="module")
def poms_db(poms: DistributedStack) -> Iterator[Database]:
    database = Database(poms.env["POMS_DATABASE_URL"])
    try:
        yield database
    finally:
        database.dispose()


def global_hold(db: Database) -> str:
    with db.transaction() as session:
        flag = session.get(SystemFlag, GLOBAL_HOLD)
        return flag.value if flag is not None else "off"


@pytest.fixture
def hold_released(poms: DistributedStack) -> Iterator[None]:
    """Whatever a test did, the global launch hold is off afterwards (scripts may)."""
    yield
    status, body = call(f"{poms.web_url}/api/v1/launches/release", "POST")
    assert status == 200, body


def test_a_cross_site_form_post_is_refused_and_changes_nothing(
    page, poms, poms_db, other_site, hold_released
):
    target = f"{poms.web_url}/api/v1/launches/hold"
    other_site.pages["/form.html"] = f"""<!doctype html>
<html><body><form method="post" action="{target}">
<input type="hidden" name="hold" value="on"></form>
<script>document.forms[0].submit()</script></body></html>"""
    assert global_hold(poms_db) == "off"

    with page.expect_response(target) as answer:
        page.goto(f"{other_site.url}/form.html")
    response = answer.value
    assert response.status == 403
    assert response.request.headers.get("origin") == other_site.url
    page.wait_for_url(target)
    body = json_shown(page)
    assert body["error"]["code"] == "cross_site"
    assert global_hold(poms_db) == "off"


def test_a_cross_site_script_post_is_refused_and_changes_nothing(
    page, poms, poms_db, other_site, hold_released
):
    target = f"{poms.web_url}/api/v1/launches/hold"
    other_site.pages["/blank.html"] = "<!doctype html><title>elsewhere</title>"
    page.goto(f"{other_site.url}/blank.html")
    # no-cors: the page may not read the answer, but the browser sends the request
    with page.expect_response(target) as answer:
        page.evaluate(
            """(url) => fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include',
                  headers: {'Content-Type': 'text/plain'}, body: 'hold'})""",
            target,
        )
    assert answer.value.status == 403
    assert global_hold(poms_db) == "off"


def test_the_same_post_from_a_poms_page_is_accepted(page, poms, poms_db, hold_released):
    page.goto(f"{poms.web_url}/campaigns")
    post = """async (path) => {
        const r = await fetch(path, {method: 'POST'});
        return {status: r.status, body: await r.json()};
    }"""
    answer = page.evaluate(post, "/api/v1/launches/hold")
    assert answer == {"status": 200, "body": {"held": True, "replayed": []}}
    assert global_hold(poms_db) == "on"
    answer = page.evaluate(post, "/api/v1/launches/release")
    assert answer["status"] == 200 and answer["body"]["held"] is False
    assert global_hold(poms_db) == "off"
