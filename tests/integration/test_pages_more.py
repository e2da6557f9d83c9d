"""Pages of held launches, an experiment's members, my API tokens and the live launch log:
rendered on the server over seeded data; refusals are readable 403 pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from page_client import get_html
from sqlalchemy import select

from poms_shared.db import identity
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import HeldLaunch, Submission
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import Settings
from poms_shared.testing.submissions import add_submissions
from poms_web.app import create_app


class Site:
    def __init__(self, client: FlaskClient, db: Database, stages: dict[str, int]) -> None:
        self.client, self.db, self.stages = client, db, stages
        self.headers: dict[str, dict[str, str]] = {}

    def html(self, path: str, status: int = 200, who: str | None = None) -> str:
        return get_html(self.client, path, status, self.headers.get(who or ""))


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Site:
    with database.transaction() as session:
        load_samples(session)
        identity.add_user(session, "nora")  # no member of any experiment
        identity.add_user(session, "ann")
        identity.set_membership(session, "ann", DEMO_EXPERIMENT, "analysis")
        tokens = {u: identity.issue_token(session, u, "tests")[1] for u in ("nora", "ann")}
        stages = {
            s.name: s.campaign_stage_id
            for s in session.scalars(
                select(CampaignStage).order_by(CampaignStage.campaign_stage_id)
            )
        }
    client = create_app(Settings(var_dir=tmp_path), database).test_client()
    found = Site(client, database, stages)
    found.headers = {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}
    return found


def rows(html: str, table_class: str) -> list[str]:
    body = html.split(f'class="list {table_class}"', 1)[1].split("</tbody>", 1)[0]
    return body.split("<tr")[2:]  # the first piece is the header row


def test_the_menu_links_the_held_launches_and_tokens_pages(site: Site) -> None:
    page = site.html("/campaigns")
    assert 'href="/held-launches">Held launches</a>' in page
    assert 'href="/me/tokens">My API tokens</a>' in page


def test_held_launches_are_listed_with_a_remove_button(site: Site) -> None:
    stage_id = site.stages["generate"]
    with site.db.transaction() as session:
        held = HeldLaunch(campaign_stage_id=stage_id, launcher="poms", dataset="demo_input")
        session.add(held)
        session.flush()
        held_id = held.held_launch_id
    [row] = rows(site.html("/held-launches"), "held")
    assert f"<td>{held_id}</td>" in row and f'href="/stages/{stage_id}">generate</a>' in row
    assert f'data-api="/api/v1/held-launches/{held_id}" data-method="DELETE"' in row
    assert f'data-confirm="Remove held launch {held_id} of stage generate?' in row
    assert "No held launches." in site.html("/held-launches", who="ann")  # not her launch


def test_held_launches_of_an_experiment_one_is_no_member_of_are_refused(site: Site) -> None:
    page = site.html(f"/held-launches?experiment={DEMO_EXPERIMENT}", 403, who="nora")
    assert "403 — Not allowed" in page and "not a member" in page


def test_members_page_shows_roles_and_a_role_selector_for_superusers(site: Site) -> None:
    page = site.html(f"/experiments/{DEMO_EXPERIMENT}/members")
    [ann] = [r for r in rows(page, "members") if "<td>ann</td>" in r]
    assert "<td>analysis</td>" in ann
    assert re.search(r"<option selected>analysis</option>", ann)
    assert (
        f'data-api="/api/v1/experiments/{DEMO_EXPERIMENT}/members/ann'
        f'?experiment={DEMO_EXPERIMENT}&amp;role=superuser" data-method="PUT"' in ann
    )
    plain = site.html(f"/experiments/{DEMO_EXPERIMENT}/members", who="ann")
    assert "<td>ann</td>" in plain and "Set role" not in plain and 'name="role"' in plain


def test_members_page_refuses_outsiders_and_unknown_experiments(site: Site) -> None:
    page = site.html(f"/experiments/{DEMO_EXPERIMENT}/members", 403, who="nora")
    assert "403 — Not allowed" in page
    assert "404 — Not found" in site.html("/experiments/nothing_here/members", 404)


def test_tokens_page_lists_my_tokens_with_create_and_revoke(site: Site) -> None:
    made = site.client.post("/api/v1/tokens", json={"name": "cron", "expires_days": 30})
    assert made.status_code == 201
    revoked = site.client.post("/api/v1/tokens", json={"name": "old"}).get_json()
    assert site.client.delete(f"/api/v1/tokens/{revoked['token_id']}").status_code == 200
    page = site.html("/me/tokens")
    listed = rows(page, "tokens")
    [cron] = [r for r in listed if "<td>cron</td>" in r]
    [old] = [r for r in listed if "<td>old</td>" in r]
    assert "usable" in cron and 'data-method="DELETE"' in cron
    assert 'data-confirm="Revoke token cron?' in cron
    assert "revoked" in old and "Revoke" not in old
    assert made.get_json()["token"] not in page  # the secret is never shown again
    assert 'data-api="/api/v1/tokens" data-method="POST"' in page and 'name="expires_days"' in page
    assert "<td>tests</td>" not in page  # another person's tokens are not listed
    assert "<td>tests</td>" in site.html("/me/tokens", who="nora")


def _submission_with_log(site: Site, tmp_path: Path, *, finished: bool) -> int:
    log = tmp_path / "launch.log"
    log.write_text("".join(f"line {n}\n" for n in range(600)) + "<done & ok>\n")
    with site.db.transaction() as session:
        [sid] = add_submissions(session, site.stages["generate"], 1)
        sub = session.get(Submission, sid)
        assert sub is not None
        sub.launch_log = str(log)
        sub.submission_params = {**sub.submission_params, "launch_started": "x"}
        if finished:
            sub.submission_params = {**sub.submission_params, "launch_finished": "y"}
            sub.status_id = int(SubmissionStatus.LAUNCH_FAILED)
    return sid


def test_the_launch_log_page_shows_the_log_and_follows_a_running_launch(
    site: Site, tmp_path: Path
) -> None:
    sid = _submission_with_log(site, tmp_path, finished=False)
    page = site.html(f"/submissions/{sid}/launch-log")
    log = page.split('id="launch-log"', 1)[1].split("</pre>", 1)[0]
    assert "line 599\n&lt;done &amp; ok&gt;" in log
    assert "line 100\n" not in log and "line 101\n" in log  # the last 500 lines
    assert f'data-log="/api/v1/submissions/{sid}/log"' in log and "data-follow" in log
    assert "launch_log.js" in page and "The launch is running" in page
    sub_page = site.html(f"/submissions/{sid}")
    assert f'href="/submissions/{sid}/launch-log">live launch log</a>' in sub_page
    assert site.client.get("/static/launch_log.js").status_code == 200


def test_a_finished_launch_log_is_not_followed(site: Site, tmp_path: Path) -> None:
    sid = _submission_with_log(site, tmp_path, finished=True)
    page = site.html(f"/submissions/{sid}/launch-log")
    assert "line 599" in page and "The launch has finished." in page
    assert "data-follow" not in page and "launch_log.js" not in page


def test_a_submission_without_a_log_yet_says_so(site: Site) -> None:
    with site.db.transaction() as session:
        [sid] = add_submissions(session, site.stages["generate"], 1)
    page = site.html(f"/submissions/{sid}/launch-log")
    assert "No launch log yet." in page and "data-follow" in page


def test_the_launch_log_page_refuses_outsiders_and_unknown_submissions(
    site: Site, tmp_path: Path
) -> None:
    sid = _submission_with_log(site, tmp_path, finished=False)
    page = site.html(f"/submissions/{sid}/launch-log?experiment={DEMO_EXPERIMENT}", 403, "nora")
    assert "403 — Not allowed" in page and "line 599" not in page
    assert "404 — Not found" in site.html("/submissions/9999/launch-log", 404)
