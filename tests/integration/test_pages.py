"""Server-rendered pages over the demo data: read with no JavaScript (the HTML itself),
refused as readable 403 pages, unknown things as 404 pages; the API keeps answering JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from page_client import get_html
from sqlalchemy import select

from poms_shared.db import identity
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import File, Job, Submission, SubmissionFile, SubmissionHistory
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT, demo_ini
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.settings import Settings
from poms_shared.testing.submissions import add_submissions
from poms_web.app import create_app

OTHER = "other_mc"  # a second campaign, inactive and tagged


@dataclass
class Site:
    client: FlaskClient
    db: Database
    stages: dict[str, int]
    outsider: dict[str, str]  # headers of someone who is no member of the experiment

    def html(self, path: str, status: int = 200, **headers: str) -> str:
        return get_html(self.client, path, status, headers)


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Site:
    with database.transaction() as session:
        load_samples(session)
        identity.add_user(session, "nora")
        token = identity.issue_token(session, "nora", "tests")[1]
        stages = {
            s.name: s.campaign_stage_id
            for s in session.scalars(
                select(CampaignStage).order_by(CampaignStage.campaign_stage_id)
            )
        }
    client = create_app(Settings(var_dir=tmp_path), database).test_client()
    other = demo_ini().replace(f"name={DEMO_CAMPAIGN}", f"name={OTHER}")
    assert client.post("/api/v1/campaigns/ini", data=other).status_code == 201
    assert client.patch(f"/api/v1/campaigns/{OTHER}", json={"active": False}).status_code == 200
    assert client.put(f"/api/v1/campaigns/{OTHER}/tags/calib").status_code == 200
    return Site(client, database, stages, {"Authorization": f"Bearer {token}"})


def rows(html: str, table_class: str) -> list[str]:
    body = html.split(f'class="list {table_class}"', 1)[1].split("</tbody>", 1)[0]
    return [r for r in body.split("<tr")[2:]]  # the first piece is the header row


def test_the_layout_has_selectors_menu_search_and_the_dev_login_banner(site: Site) -> None:
    page = site.html("/campaigns")
    assert "Development login" in page and "<strong>poms</strong>" in page
    assert re.search(r'<option value="demo"\s+selected>demo</option>', page)
    assert 'name="role"' in page and ">superuser</option>" in page
    for entry in ("Campaigns", "Campaign stages", "Login setups", "Job types", "Triage"):
        assert f">{entry}</a>" in page
    for entry, href in (
        ("Submissions", "/submissions"),
        ("Sample campaigns", "/samples"),
        ("Schedules", "/schedules"),
        ("Experiment members", "/experiments/demo/members"),
    ):
        assert f'<a href="{href}">{entry}</a>' in page
    assert 'role="search"' in page and 'action="/campaigns"' in page
    assert "poms.css" in page and "poms.js" in page
    assert "External links" not in page  # the demo experiment has none configured


def test_links_keep_the_chosen_experiment_and_role(site: Site) -> None:
    page = site.html("/campaigns?experiment=demo&role=production")
    assert f'href="/campaigns/{DEMO_CAMPAIGN}?experiment=demo&amp;role=production"' in page
    assert 'data-api="/api/v1/campaigns/demo_mc/launch?experiment=demo&amp;role=production"' in page


def test_the_campaigns_page_shows_active_campaigns_with_their_stages(site: Site) -> None:
    with site.db.transaction() as session:
        [sid] = add_submissions(session, site.stages["generate"], 1)
    page = site.html("/campaigns")
    [row] = rows(page, "campaigns")
    assert f">{DEMO_CAMPAIGN}</a>" in row and OTHER not in page
    assert 'class="state state-running">running' in row
    assert f'href="/submissions/{sid}"><span class="status s-New">New</span>' in row
    assert row.count("<em>not launched</em>") == 2
    assert 'data-confirm="Delete campaign demo_mc?' in row
    assert 'data-confirm="Launch campaign demo_mc now?"' in row
    assert 'href="/api/v1/campaigns/demo_mc/ini"' in row


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("active=inactive", OTHER, DEMO_CAMPAIGN),
        ("active=all&tag=calib", OTHER, DEMO_CAMPAIGN),
        ("active=all&q=other", OTHER, DEMO_CAMPAIGN),
        ("active=all&owner=others", None, DEMO_CAMPAIGN),
        ("active=all&kind=analysis", None, DEMO_CAMPAIGN),
    ],
)
def test_campaign_filters_are_applied_in_the_table(
    site: Site, query: str, shown: str | None, hidden: str
) -> None:
    page = site.html(f"/campaigns?{query}")
    names = re.findall(r'<td><a href="/campaigns/([^"?]+)', page)
    assert hidden not in names
    assert names == ([shown] if shown else [])


def test_campaigns_are_sorted_and_paged_on_the_server(site: Site) -> None:
    first = site.html("/campaigns?active=all&sort=-name&per_page=1")
    assert re.findall(r'<td><a href="/campaigns/([^"?]+)', first) == [OTHER]
    assert (
        "page 1 of 2" in first
        and 'rel="next" href="/campaigns?active=all&amp;sort=-name&amp;per_page=1&amp;page=2"'
        in first
    )
    second = site.html("/campaigns?active=all&sort=-name&per_page=1&page=2")
    assert re.findall(r'<td><a href="/campaigns/([^"?]+)', second) == [DEMO_CAMPAIGN]
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert ">calib</a>" in site.html("/campaigns?active=all")  # tags shown


def test_the_home_page_is_the_campaigns_page_refreshing_itself(site: Site) -> None:
    page = site.html("/")
    assert 'http-equiv="refresh" content="30"' in page and DEMO_CAMPAIGN in page
    assert 'http-equiv="refresh"' not in site.html("/?refresh=0")


def test_the_campaign_page_shows_stages_and_dependencies(site: Site) -> None:
    with site.db.transaction() as session:
        add_submissions(session, site.stages["generate"], 2)
    page = site.html(f"/campaigns/{DEMO_CAMPAIGN}")
    assert f'href="/stages/{site.stages["reconstruct"]}">reconstruct</a>' in page
    assert '<span class="status s-New">New</span>' in page
    deps = page.split("<h2>Dependencies</h2>", 1)[1]
    assert re.search(r">simulate</a></td>\s*<td><a [^>]*>generate</a></td>", deps)
    assert re.search(r">reconstruct</a></td>\s*<td><a [^>]*>simulate</a></td>", deps)


def test_the_stage_page_shows_settings_schedule_hold_and_paged_submissions(site: Site) -> None:
    stage_id = site.stages["simulate"]
    with site.db.transaction() as session:
        ids = add_submissions(session, stage_id, 5, dataset="demo_input")
    assert site.client.post(f"/api/v1/stages/{stage_id}/queue").status_code == 200
    put = site.client.put(f"/api/v1/stages/{stage_id}/schedule", json={"cron": "0 3 * * *"})
    assert put.status_code == 200
    page = site.html(f"/stages/{stage_id}?per_page=2")
    assert "held by poms" in page
    assert "Cron <code>0 3 * * *</code>" in page and page.count("03:00:00 UTC") == 5
    assert (
        "Job type <code>demo_job</code>" in page and "Login setup <code>demo_local</code>" in page
    )
    assert re.search(r"takes files from</td><td><a [^>]*>generate</a>", page)
    assert re.search(r"feeds</td><td><a [^>]*>reconstruct</a>", page)
    figure = page.split('<figure class="diagram">', 1)[1].split("</figure>", 1)[0]
    assert f'href="/stages/{site.stages["generate"]}"' in figure
    assert f'href="/stages/{site.stages["reconstruct"]}"' in figure and ">simulate<" in figure
    listed = re.findall(r'<td><a href="/submissions/(\d+)">', page)
    assert listed == [str(i) for i in sorted(ids, reverse=True)[:2]]  # newest first
    assert "page 1 of 3" in page and "New: 5" in page
    for label in ("Launch now", "Launch test jobs", "Show commands", "Release queued launches"):
        assert f">{label}</button>" in page
    assert 'data-confirm="Kill every running job of stage simulate?"' in page
    assert 'data-confirm="Start the split of simulate over' in page


def _submission_with_jobs(site: Site) -> tuple[int, int]:
    """A Failed submission with jobs, files, history and a recovery; (id, recovery id)."""
    now = datetime.now(UTC)
    with site.db.transaction() as session:
        [sid, recovery] = add_submissions(session, site.stages["simulate"], 2)
        sub = session.get(Submission, sid)
        assert sub is not None
        sub.status_id = int(SubmissionStatus.FAILED)
        sub.batch_id = "77@local"
        session.get(Submission, recovery).recovery_parent_id = sid  # type: ignore[union-attr]
        for status in (SubmissionStatus.NEW, SubmissionStatus.RUNNING, SubmissionStatus.FAILED):
            session.add(SubmissionHistory(submission_id=sid, status_id=int(status), reason="x"))
        for n in range(3):
            session.add(
                Job(
                    submission_id=sid,
                    backend="local",
                    batch_job_id=f"77.{n}@local",
                    state=int(JobState.FAILED if n == 2 else JobState.COMPLETED),
                    exit_code=3 if n == 2 else 0,
                    node=f"node{n}",
                    log_path=f"/logs/77.{n}.out",
                    started_at=now - timedelta(seconds=90),
                    finished_at=now,
                )
            )
        infile = File(experiment=DEMO_EXPERIMENT, name="in_a.root")
        outfile = File(
            experiment=DEMO_EXPERIMENT,
            name="out_a.root",
            producing_submission_id=sid,
            location="/d",
        )
        session.add_all([infile, outfile])
        session.flush()
        session.add(SubmissionFile(submission_id=sid, file_id=infile.file_id, status="failed"))
    return sid, recovery


def test_the_submission_page_shows_timeline_why_jobs_files_and_lineage(site: Site) -> None:
    sid, recovery = _submission_with_jobs(site)
    page = site.html(f"/submissions/{sid}?per_page=2")
    timeline = page.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r">(New|Running|Failed)</span>", timeline) == ["New", "Running", "Failed"]
    assert "Why is this not done yet?" in page
    jobs = rows(page, "jobs")
    assert len(jobs) == 2 and "<code>77.0@local</code>" in jobs[0] and "node0" in jobs[0]
    assert "90 s" in jobs[0] and "/logs/77.0.out" in jobs[0]
    assert "page 1 of 2" in page and "completed: 2" in page and "failed: 1" in page
    assert "<code>in_a.root</code></td><td>failed</td>" in page
    assert "<code>out_a.root</code></td><td>located</td>" in page
    assert f'Recovery: <a href="/submissions/{recovery}">{recovery}</a>' in page
    figure = page.split('<figure class="diagram">', 1)[1].split("</figure>", 1)[0]
    assert f'<a href="/submissions/{recovery}">' in figure and ">recovery<" in figure
    assert ">Preview recovery</button>" in page and ">Launch recovery</button>" in page
    assert "Force Located" in page
    child = site.html(f"/submissions/{recovery}")
    assert f'Parent: <a href="/submissions/{sid}">{sid}</a>' in child
    assert f'data-confirm="Kill the jobs of submission {recovery}?"' in child


def test_the_stage_page_shows_status_trails_recent_launches_and_file_statistics(
    site: Site, tmp_path: Path
) -> None:
    sid, _recovery = _submission_with_jobs(site)  # Failed, 1 output located, 1 input failed
    log = tmp_path / "launch.log"
    log.write_text("launched\n")
    with site.db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        sub.launch_log = str(log)
        extra = File(experiment=DEMO_EXPERIMENT, name="out_b.root", producing_submission_id=sid)
        consumed = File(experiment=DEMO_EXPERIMENT, name="in_b.root")
        session.add_all([extra, consumed])
        session.flush()
        session.add(SubmissionFile(submission_id=sid, file_id=consumed.file_id, status="consumed"))
    page = site.html(f"/stages/{site.stages['simulate']}")

    row = next(r for r in rows(page, "submissions") if f">{sid}</a>" in r)
    trail = row.split('<td class="trail">', 1)[1].split("</td>", 1)[0]
    assert re.sub(r"<[^>]+>", "", trail) == "New → Running → Failed"
    launches = page.split('<ul class="launches">', 1)[1].split("</ul>", 1)[0]
    assert f'href="/submissions/{sid}/launch-log">launch log</a>' in launches
    stats = page.split('<table class="facts file-stats">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<th>([^<]+)</th><td>(\d+)</td>", stats)
    assert dict(cells) == {
        "Outputs declared": "2",
        "Located": "1",
        "Inputs delivered": "0",
        "Consumed": "1",
        "Inputs failed": "1",
        "Skipped": "0",
    }
    assert "Over the last 2 submission(s)" in stats


def test_a_submission_with_a_dataset_offers_a_relaunch_on_it(site: Site) -> None:
    stage_id = site.stages["simulate"]
    with site.db.transaction() as session:
        [sid] = add_submissions(session, stage_id, 1, dataset="demo_input")
    page = site.html(f"/submissions/{sid}")
    form = re.search(
        r'<form class="action [^"]*" data-api="([^"]+)"[^>]*>\s*<button[^>]*>'
        r"Relaunch on this dataset</button>",
        page,
    )
    assert form is not None and form.group(1) == f"/api/v1/stages/{stage_id}/launch"
    assert "Launch stage simulate again on dataset demo_input?" in page
    assert 'data-body="{&#34;dataset&#34;: &#34;demo_input&#34;}"' in page


@pytest.mark.parametrize(
    "path", ["/campaigns", "/campaigns/demo_mc", "/stages/1", "/submissions/1"]
)
def test_people_outside_the_experiment_get_a_403_page(site: Site, path: str) -> None:
    with site.db.transaction() as session:
        add_submissions(session, site.stages["generate"], 1)
    page = site.html(f"{path}?experiment={DEMO_EXPERIMENT}", 403, **site.outsider)
    assert "403 — Not allowed" in page and "not a member" in page


@pytest.mark.parametrize("path", ["/campaigns/nothing_here", "/stages/9999", "/submissions/9999"])
def test_unknown_things_get_a_404_page_and_the_api_keeps_json(site: Site, path: str) -> None:
    page = site.html(path, 404)
    assert "404 — Not found" in page and "Campaigns</a>" in page
    api = site.client.get(f"/api/v1{path}")
    assert api.status_code == 404 and api.is_json


def test_a_bad_filter_gets_a_400_page(site: Site) -> None:
    page = site.html("/campaigns?active=sometimes", 400)
    assert "active: one of active, inactive, all" in page


def test_nobody_signed_in_gets_a_401_page(database: Database, tmp_path: Path) -> None:
    client = create_app(Settings(var_dir=tmp_path, dev_user=""), database).test_client()
    response = client.get("/campaigns")
    assert response.status_code == 401 and response.mimetype == "text/html"
    assert "401 — Not signed in" in response.get_data(as_text=True)
