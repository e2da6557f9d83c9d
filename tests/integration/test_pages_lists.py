"""The submissions, sample campaigns and schedules pages and the campaigns page's bulk
actions: rendered on the server over seeded data (read with no JavaScript), wrong form
fields named next to the field (400), refusals as readable 403 pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from page_client import get_html
from sqlalchemy import select

from poms_shared.db import identity
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT, demo_ini
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import Settings
from poms_shared.testing.submissions import add_submissions
from poms_web.app import create_app

OTHER = "other_mc"  # a second campaign: its stages have the demo's names


class Site:
    def __init__(self, client: FlaskClient, db: Database) -> None:
        self.client, self.db = client, db
        self.headers: dict[str, dict[str, str]] = {}

    def html(self, path: str, status: int = 200, who: str | None = None) -> str:
        return get_html(self.client, path, status, self.headers.get(who or ""))

    def stage(self, campaign: str, name: str) -> int:
        with self.db.transaction() as session:
            found = session.scalar(
                select(CampaignStage.campaign_stage_id).where(
                    CampaignStage.name == name,
                    CampaignStage.campaign.has(name=campaign),
                )
            )
        assert found is not None
        return int(found)


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Site:
    with database.transaction() as session:
        load_samples(session)
        identity.add_user(session, "nora")  # no member of any experiment
        identity.add_user(session, "ann")
        identity.set_membership(session, "ann", DEMO_EXPERIMENT, "analysis")
        identity.add_user(session, "sam")
        identity.set_membership(session, "sam", DEMO_EXPERIMENT, "production-shifter")
        tokens = {u: identity.issue_token(session, u, "tests")[1] for u in ("nora", "ann", "sam")}
    client = create_app(Settings(var_dir=tmp_path), database).test_client()
    other = demo_ini().replace(f"name={DEMO_CAMPAIGN}", f"name={OTHER}")
    assert client.post("/api/v1/campaigns/ini", data=other).status_code == 201
    found = Site(client, database)
    found.headers = {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}
    return found


def rows(html: str, table_class: str) -> list[str]:
    body = html.split(f'class="list {table_class}"', 1)[1].split("</tbody>", 1)[0]
    return body.split("<tr")[2:]  # the first piece is the header row


def listed_submissions(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td><a href="/submissions/(\d+)">', html)]


def field_error(html: str, field: str) -> str:
    found = re.search(rf'<span class="field-error" id="{field}-error"[^>]*>([^<]*)</span>', html)
    assert found, f"no error shown next to {field}"
    return found.group(1)


def test_the_menu_links_the_three_list_pages(site: Site) -> None:
    page = site.html("/campaigns")
    for path, label in (
        ("/submissions", "Submissions"),
        ("/samples", "Sample campaigns"),
        ("/schedules", "Schedules"),
    ):
        assert f'href="{path}">{label}</a>' in page


# ---- submissions ---------------------------------------------------------------------------


@pytest.fixture
def submissions(site: Site) -> dict[str, int]:
    """Submissions of both campaigns: one failed, one old, one launched by ann."""
    generate, simulate = (
        site.stage(DEMO_CAMPAIGN, "generate"),
        site.stage(DEMO_CAMPAIGN, "simulate"),
    )
    other = site.stage(OTHER, "generate")
    with site.db.transaction() as session:
        [first, failed, old] = add_submissions(session, generate, 3)
        [sim] = add_submissions(session, simulate, 1)
        [annes] = add_submissions(session, other, 1)
        for sid, change in (
            (failed, {"status_id": int(SubmissionStatus.FAILED)}),
            (old, {"created": datetime.now(UTC) - timedelta(days=10)}),
            (annes, {"launcher": "ann"}),
        ):
            row = session.get(Submission, sid)
            assert row is not None
            for key, value in change.items():
                setattr(row, key, value)
    return {"first": first, "failed": failed, "old": old, "sim": sim, "annes": annes}


def test_submissions_are_listed_newest_first_with_links_to_their_pages(
    site: Site, submissions: dict[str, int]
) -> None:
    page = site.html("/submissions")
    recent = [submissions[k] for k in ("annes", "sim", "failed", "first")]
    assert listed_submissions(page) == recent  # the old one is outside the last 7 days
    [row] = [r for r in rows(page, "submissions") if f'id="submission-{submissions["sim"]}"' in r]
    simulate = site.stage(DEMO_CAMPAIGN, "simulate")
    assert f'href="/stages/{simulate}">simulate</a>' in row
    assert f'href="/campaigns/{DEMO_CAMPAIGN}">{DEMO_CAMPAIGN}</a>' in row
    assert '<span class="status s-New">New</span>' in row and "<td>poms</td>" in row
    assert "last 7 days</label>" in page and re.search(r'value="7d"\s+checked', page)
    assert "7.0 day(s) ending" in page and 'rel="prev"' in page


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("status=Failed", ["failed"]),
        ("status=Failed&status=New&campaign=" + OTHER, ["annes"]),
        ("campaign=" + DEMO_CAMPAIGN, ["sim", "failed", "first"]),
        ("stage={simulate}", ["sim"]),
        ("user=ann", ["annes"]),
        ("when=24h&campaign=" + DEMO_CAMPAIGN + "&status=New", ["sim", "first"]),
        ("when=30d&campaign=" + DEMO_CAMPAIGN, ["sim", "old", "failed", "first"]),
        ("when=any&stage={generate}", ["old", "failed", "first"]),
        ("when=custom&tmin={days_ago_12}&tmax={days_ago_8}", ["old"]),
        ("tmax={days_ago_8}", []),  # a custom window of one day by default (§12.12)
    ],
)
def test_submission_filters_are_applied_in_the_database(
    site: Site, submissions: dict[str, int], query: str, wanted: list[str]
) -> None:
    now = datetime.now(UTC)
    query = query.format(
        simulate=site.stage(DEMO_CAMPAIGN, "simulate"),
        generate=site.stage(DEMO_CAMPAIGN, "generate"),
        days_ago_12=(now - timedelta(days=12)).strftime("%Y-%m-%d"),
        days_ago_8=(now - timedelta(days=8)).strftime("%Y-%m-%d %H:%M"),
    )
    page = site.html(f"/submissions?{query}")
    assert listed_submissions(page) == [submissions[k] for k in wanted]


def test_submissions_are_sorted_and_paged_on_the_server(
    site: Site, submissions: dict[str, int]
) -> None:
    first = site.html("/submissions?when=any&sort=id&per_page=2")
    ids = sorted(submissions.values())
    assert listed_submissions(first) == ids[:2] and "page 1 of 3" in first
    assert 'rel="next" href="/submissions?when=any&amp;sort=id&amp;per_page=2&amp;page=2"' in first
    assert re.search(r'href="/submissions\?[^"]*sort=-id[^"]*">Submission ▲</a>', first)
    third = site.html("/submissions?when=any&sort=id&per_page=2&page=3")
    assert listed_submissions(third) == ids[4:] and 'rel="next"' not in third
    by_status = site.html("/submissions?when=any&sort=-status")
    assert listed_submissions(by_status)[0] == submissions["failed"]
    by_campaign = site.html("/submissions?when=any&sort=-campaign")
    assert listed_submissions(by_campaign)[0] == submissions["annes"]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("campaign=no_such", "campaign", "no campaign named 'no_such' in demo"),
        ("stage=abc", "stage", "a stage id (a whole number), not 'abc'"),
        ("stage=99999", "stage", "no stage 99999 in demo"),
        (f"campaign={OTHER}&stage={{simulate}}", "stage", f"is not a stage of campaign {OTHER}"),
        ("status=Exploded", "status", "unknown submission status 'Exploded'"),
        ("when=custom", "tmin", "give a start, an end or both"),
        ("when=custom&tmin=yesterday", "tmin", "expected a date like 2026-01-31"),
        ("tmin=2026-02-01&tmax=2026-01-01", "tmin", "the window starts after it ends"),
        ("tmax=31/01/2026", "tmax", "expected a date like"),
        ("when=fortnight", "when", "one of 24h, 7d, 30d, any, custom"),
    ],
)
def test_a_wrong_submission_filter_is_named_next_to_its_field(
    site: Site, submissions: dict[str, int], query: str, field: str, message: str
) -> None:
    query = query.format(simulate=site.stage(DEMO_CAMPAIGN, "simulate"))
    page = site.html(f"/submissions?{query}", 400)
    assert message in field_error(page, field).replace("&#39;", "'")
    assert listed_submissions(page) == [] and "Fix the filters above" in page
    assert 'aria-invalid="true"' in page


def test_the_submissions_page_offers_the_experiments_campaigns_and_stages(site: Site) -> None:
    page = site.html("/submissions")
    names = re.findall(r'<option value="([^"]+)">', page.split('id="campaign-names"')[1])
    assert names[:2] == [DEMO_CAMPAIGN, OTHER]
    assert f'<optgroup label="{OTHER}">' in page
    one = site.html(f"/submissions?campaign={OTHER}")
    assert f'<optgroup label="{DEMO_CAMPAIGN}">' not in one
    assert "Launched by ▼" in site.html("/submissions?sort=-launcher")
    assert "sort: one of" in site.html("/submissions?sort=color", 400)


def test_submissions_of_an_experiment_one_is_no_member_of_are_refused(site: Site) -> None:
    page = site.html(f"/submissions?experiment={DEMO_EXPERIMENT}", 403, who="nora")
    assert "403 — Not allowed" in page and "not a member" in page


# ---- sample campaigns --------------------------------------------------------------------


def test_sample_campaigns_are_listed_with_their_stages_and_a_clone_form(site: Site) -> None:
    page = site.html("/samples")
    [chain] = [r for r in rows(page, "samples") if 'id="sample-sample_chain"' in r]
    assert "<li>generate</li><li>simulate</li>" in chain
    assert "Two stages: simulate is launched on the files generate declares" in chain
    assert 'href="/api/v1/sample-campaigns/sample_chain">view .ini</a>' in chain
    assert 'data-endpoint="/api/v1/sample-campaigns/sample_chain/clone"' in chain
    assert 'data-source="sample_chain" data-rename="sample"' in chain
    assert 'data-campaign-url="/campaigns/__NAME__"' in chain
    assert "lists.js" in page and "replaces the word <q>sample</q>" in page


def test_the_clone_form_checks_the_new_name_on_the_server(site: Site) -> None:
    page = site.html("/samples?sample=sample_chain&to=mytest")
    assert "→ <code>mytest_chain</code>" in page and 'value="mytest"' in page
    assert "clone_of_sample_chain" in site.html("/samples?sample=sample_chain&to=sample")
    blank = site.html("/samples?sample=sample_chain&to=+", 400)
    assert "a non-empty name is required" in blank
    # the page's clone button posts here; the same name again is refused next to the field
    made = site.client.post("/api/v1/sample-campaigns/sample_chain/clone", json={"to": "mytest"})
    assert made.status_code == 201 and made.get_json()["campaign"] == "mytest_chain"
    taken = site.html("/samples?sample=sample_chain&to=mytest", 400)
    assert "a campaign named mytest_chain already exists in demo" in taken
    assert "mytest_chain" in site.html("/campaigns")
    assert "404 — Not found" in site.html("/samples?sample=nothing&to=x", 404)


def test_who_may_not_create_sees_samples_without_the_clone_form(site: Site) -> None:
    analysis = site.html("/samples", who="ann")
    assert "data-clone" in analysis  # analysis members make their own campaigns
    shifter = site.html("/samples?role=production-shifter", who="sam")
    assert "sample_chain" in shifter and "data-clone" not in shifter
    assert "act as analysis or production in the experiment to clone" in shifter
    outsider = site.html(f"/samples?experiment={DEMO_EXPERIMENT}", 403, who="nora")
    assert "403 — Not allowed" in outsider


# ---- schedules -----------------------------------------------------------------------------


def schedule(site: Site, stage_id: int, cron: str) -> None:
    answer = site.client.put(f"/api/v1/stages/{stage_id}/schedule", json={"cron": cron})
    assert answer.status_code == 200, answer.get_json()


def test_schedules_are_listed_with_their_next_runs_and_edit_and_delete(site: Site) -> None:
    simulate = site.stage(DEMO_CAMPAIGN, "simulate")
    schedule(site, simulate, "0 3 * * *")
    page = site.html("/schedules")
    [row] = rows(page, "schedules")
    assert f'href="/stages/{simulate}">simulate</a>' in row
    assert f'href="/campaigns/{DEMO_CAMPAIGN}">{DEMO_CAMPAIGN}</a>' in row
    assert "<code>0 3 * * *</code>" in row and "<td>poms</td>" in row and "<td>yes</td>" in row
    runs = re.findall(r"<li>(\d{4}-\d\d-\d\d 03:00:00)</li>", row)
    assert len(runs) == 5 and runs == sorted(runs)
    assert f'data-endpoint="/api/v1/stages/{simulate}/schedule"' in row
    assert 'data-preview="/schedules/preview"' in row and 'value="0 3 * * *"' in row
    assert f'data-api="/api/v1/stages/{simulate}/schedule" data-method="DELETE"' in row
    assert (
        f'data-confirm="Stop the scheduled launches of stage simulate of campaign {DEMO_CAMPAIGN}?'
        in row
    )
    # the new-schedule form offers only the stages without a schedule
    new = page.split("<h2>Schedule a stage</h2>", 1)[1]
    assert f'<option value="{simulate}"' not in new
    assert f'<option value="{site.stage(DEMO_CAMPAIGN, "generate")}"' in new


def test_a_typed_cron_is_previewed_on_the_server_without_saving(site: Site) -> None:
    simulate = site.stage(DEMO_CAMPAIGN, "simulate")
    schedule(site, simulate, "0 3 * * *")
    page = site.html(f"/schedules?edit={simulate}&cron=30+4+*+*+1")
    [row] = rows(page, "schedules")
    assert "<details open>" in row and 'value="30 4 * * 1"' in row
    preview = row.split('class="next-runs preview"', 1)[1].split("</ol>", 1)[0]
    days = [
        datetime.strptime(d, "%Y-%m-%d").weekday()
        for d in re.findall(r"(\d{4}-\d\d-\d\d) 04:30", preview)
    ]
    assert days == [0] * 5  # five Mondays
    assert "<code>0 3 * * *</code>" in row  # nothing saved
    generate = site.stage(DEMO_CAMPAIGN, "generate")
    new = site.html(f"/schedules?edit=new&stage={generate}&cron=*/15+*+*+*+*")
    form = new.split("<h2>Schedule a stage</h2>", 1)[1]
    assert f'<option value="{generate}" selected>' in form and form.count(" UTC</li>") == 5


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("61 * * * *", "does not parse"),
        ("0 3 * *", "4 field(s); want five fields"),
        ("0 0 31 2 *", "never fires"),
        ("", "required: five fields"),
    ],
)
def test_a_wrong_cron_is_named_next_to_the_field(site: Site, cron: str, message: str) -> None:
    simulate = site.stage(DEMO_CAMPAIGN, "simulate")
    schedule(site, simulate, "0 3 * * *")
    page = site.html(f"/schedules?edit={simulate}&cron={cron.replace(' ', '+')}", 400)
    assert message in field_error(page, f"cron-{simulate}")
    new = site.html(f"/schedules?edit=new&cron={cron.replace(' ', '+')}", 400)
    assert message in field_error(new, "cron-new")
    preview = site.client.get("/schedules/preview", query_string={"cron": cron}).get_json()
    assert preview["valid"] is False and message in preview["error"]
    assert preview["next_runs"] == []


def test_the_preview_endpoint_gives_the_next_five_runs(site: Site) -> None:
    answer = site.client.get("/schedules/preview", query_string={"cron": " 0  3 * * * "})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["cron"] == "0 3 * * *" and body["valid"] is True and body["error"] is None
    assert len(body["next_runs"]) == 5 and all("T03:00:00" in t for t in body["next_runs"])


def test_schedules_are_paged_and_only_their_stages_changers_may_edit(site: Site) -> None:
    for name in ("generate", "simulate", "reconstruct"):
        schedule(site, site.stage(OTHER, name), "0 1 * * *")
    first = site.html("/schedules?per_page=2")
    assert len(rows(first, "schedules")) == 2 and "page 1 of 2" in first
    assert len(rows(site.html("/schedules?per_page=2&page=2"), "schedules")) == 1
    analysis = site.html("/schedules", who="ann")
    assert len(rows(analysis, "schedules")) == 3
    assert "data-schedule" not in analysis and 'data-method="DELETE"' not in analysis
    assert "You may not change this stage's schedule." in analysis
    outsider = site.html(f"/schedules?experiment={DEMO_EXPERIMENT}", 403, who="nora")
    assert "not a member" in outsider


# ---- campaigns page: ticking rows, bulk actions, tag autocompletion ----------------------


def test_the_campaigns_page_has_bulk_actions_over_ticked_rows(site: Site) -> None:
    assert site.client.put(f"/api/v1/campaigns/{OTHER}/tags/calib").status_code == 200
    page = site.html("/campaigns")
    [demo, other] = rows(page, "campaigns")
    assert 'name="campaign" value="demo_mc" form="bulk" data-tags="[]"' in demo
    assert 'value="other_mc" form="bulk" data-tags="[&#34;calib&#34;]"' in other
    assert '<td><a href="/campaigns/demo_mc">' in demo  # the name cell stays as it was
    bulk = page.split('<form class="bulk" id="bulk"', 1)[1].split("</form>", 1)[0]
    assert 'data-active="/api/v1/campaigns/active"' in bulk
    assert 'data-tag="/api/v1/campaigns/{name}/tags/{tag}"' in bulk
    for value, label in (
        ("activate", "Mark active"),
        ("deactivate", "Mark inactive"),
        ("tag", "Add tag"),
        ("untag", "Remove tag"),
    ):
        assert re.search(rf'value="{value}"( class="danger")?>{label}</button>', bulk)
    assert 'value="deactivate" class="danger"' in bulk and 'value="untag" class="danger"' in bulk
    assert 'data-select-all="bulk"' in page and "lists.js" in page


def test_tag_names_are_offered_for_completion_without_a_script(site: Site) -> None:
    for campaign, tag in ((OTHER, "calib"), (DEMO_CAMPAIGN, "nightly")):
        assert site.client.put(f"/api/v1/campaigns/{campaign}/tags/{tag}").status_code == 200
    page = site.html("/campaigns")
    datalist = page.split('<datalist id="tag-names">', 1)[1].split("</datalist>", 1)[0]
    assert re.findall(r'<option value="([^"]+)">', datalist) == ["calib", "nightly"]
    assert page.count('list="tag-names"') == 2 + 2  # filter, bulk, and each row's Tag form


def test_the_bulk_endpoints_the_page_calls_change_every_ticked_campaign(site: Site) -> None:
    names = [DEMO_CAMPAIGN, OTHER]
    off = site.client.post("/api/v1/campaigns/active", json={"campaigns": names, "active": False})
    assert off.status_code == 200 and off.get_json()["changed"] == names
    assert 'name="campaign" value=' not in site.html("/campaigns")  # active ones only
    for name in names:
        assert site.client.put(f"/api/v1/campaigns/{name}/tags/batch").status_code == 200
    tagged = site.html("/campaigns?active=inactive&tag=batch")
    assert len(rows(tagged, "campaigns")) == 2
    refused = site.client.post(
        "/api/v1/campaigns/active",
        json={"campaigns": names, "active": True},
        headers=site.headers["ann"],
    )
    assert refused.status_code == 403  # analysis may not change production's campaigns


def test_the_json_link_asks_the_api_for_the_same_submissions(
    site: Site, submissions: dict[str, int]
) -> None:
    page = site.html(f"/submissions?campaign={DEMO_CAMPAIGN}&status=New")
    link = re.search(r'<a href="(/api/v1/submissions\?[^"]+)">', page)
    assert link, "no link to the API"
    answer = site.client.get(link.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200, answer.get_json()
    ids = [s["submission_id"] for s in answer.get_json()["items"]]
    assert ids == listed_submissions(page) == [submissions["sim"], submissions["first"]]
