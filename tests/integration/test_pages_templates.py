"""The login setup and job type pages over the demo data: tables, filters and pages drawn on
the server, the job type's edit form and recovery list, and readable 400/403/404 pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from page_client import get_html

from poms_shared.db import identity
from poms_shared.db.models import JobType, LoginSetup
from poms_shared.db.session import Database
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.settings import Settings
from poms_web.app import create_app

LOGIN, JOB = "demo_local", "demo_job"  # the demo campaign's templates


class Site:
    def __init__(self, client: FlaskClient, outsider: dict[str, str]) -> None:
        self.client = client
        self.outsider = outsider

    def html(self, path: str, status: int = 200, **headers: str) -> str:
        return get_html(self.client, path, status, headers)


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Site:
    with database.transaction() as session:
        load_samples(session)
        identity.add_user(session, "nora")
        token = identity.issue_token(session, "nora", "tests")[1]
    client = create_app(Settings(var_dir=tmp_path), database).test_client()
    made = client.post(
        "/api/v1/login-setups",
        json={
            "name": "spare_login",
            "launch_host": "far.example",
            "launch_account": "prod",
            "active": False,
        },
    )
    assert made.status_code == 201, made.get_json()
    made = client.post(
        "/api/v1/job-types", json={"name": "spare_job", "launch_script": "run.sh", "active": False}
    )
    assert made.status_code == 201, made.get_json()
    return Site(client, {"Authorization": f"Bearer {token}"})


def _id(database: Database, model: type[LoginSetup] | type[JobType], name: str) -> int:
    with database.transaction() as session:
        row = session.query(model).filter_by(experiment=DEMO_EXPERIMENT, name=name).one()
        return int(row.login_setup_id if isinstance(row, LoginSetup) else row.job_type_id)


def names(html: str, table_class: str) -> list[str]:
    body = html.split(f'class="list {table_class}"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr id="[a-z-]+-\d+"[^>]*>\s*<td>(?:<code>|<a [^>]*>)([^<]+)<', body)


def test_the_login_setups_page_lists_them_with_actions(site: Site, database: Database) -> None:
    page = site.html("/login-setups")
    assert names(page, "login-setups") == [LOGIN, "spare_login"]
    ident = _id(database, LoginSetup, LOGIN)
    row = page.split(f'id="login-setup-{ident}"', 1)[1].split("</tr>", 1)[0]
    assert "<td>localhost</td><td>poms</td>" in row and "poms (production)" in row
    assert f'data-api="/api/v1/login-setups/{ident}" data-method="PATCH"' in row
    assert f'data-api="/api/v1/login-setups/{ident}/clone" data-method="POST"' in row
    assert f'data-api="/api/v1/login-setups/{ident}/test" data-method="POST"' in row
    assert f'href="/api/v1/login-setups/{ident}/tests"' in row
    assert f'data-confirm="Delete login setup {LOGIN}?' in row
    assert 'data-api="/api/v1/login-setups" data-method="POST"' in page  # the add form
    assert 'name="launch_host" required value="localhost"' in row


def test_the_job_types_page_lists_them_with_actions(site: Site, database: Database) -> None:
    page = site.html("/job-types")
    assert names(page, "job-types") == [JOB, "spare_job"]
    ident = _id(database, JobType, JOB)
    row = page.split(f'id="job-type-{ident}"', 1)[1].split("</tr>", 1)[0]
    assert '<code class="wrap">poms-demo-launch</code>' in row
    assert "<code>%.root</code>" in row and "<td>0</td>" in row
    assert f'href="/job-types/{ident}"' in row
    assert f'data-api="/api/v1/job-types/{ident}/clone"' in row
    assert f'data-confirm="Delete job type {JOB}?' in row
    assert 'data-api="/api/v1/job-types" data-method="POST"' in page


def test_the_menu_links_the_pages(site: Site) -> None:
    page = site.html("/campaigns?experiment=demo")
    assert 'href="/login-setups?experiment=demo">Login setups</a>' in page
    assert 'href="/job-types?experiment=demo">Job types</a>' in page


@pytest.mark.parametrize(
    ("query", "logins", "jobs"),
    [
        ("active=true", [LOGIN], [JOB]),
        ("active=false", ["spare_login"], ["spare_job"]),
        ("q=SPARE", ["spare_login"], ["spare_job"]),
        ("mine=true&q=demo", [LOGIN], [JOB]),
        ("mine=false", [], []),
    ],
)
def test_filters_are_applied_in_the_tables(
    site: Site, query: str, logins: list[str], jobs: list[str]
) -> None:
    page = site.html(f"/login-setups?{query}")
    assert names(page, "login-setups") == logins
    assert names(site.html(f"/job-types?{query}"), "job-types") == jobs
    if not logins:
        assert "No login setup matches these filters." in page


def test_the_tables_are_paged_on_the_server(site: Site) -> None:
    first = site.html("/job-types?per_page=1")
    assert names(first, "job-types") == [JOB] and "page 1 of 2" in first
    assert 'rel="next" href="/job-types?per_page=1&amp;page=2"' in first
    second = site.html("/login-setups?per_page=1&page=2")
    assert names(second, "login-setups") == ["spare_login"] and 'rel="prev"' in second


def test_the_job_type_page_has_the_edit_form_and_recovery_list(
    site: Site, database: Database
) -> None:
    ident = _id(database, JobType, JOB)
    kinds = [t["name"] for t in site.client.get("/api/v1/recovery-types").get_json()["items"]]
    recoveries = [{"recovery_type": kinds[0], "param_overrides": [["--retry ", "1"]]}]
    put = site.client.put(f"/api/v1/job-types/{ident}/recoveries", json=recoveries)
    assert put.status_code == 200, put.get_json()
    page = site.html(f"/job-types/{ident}")
    assert f"Job type <code>{JOB}</code>" in page
    assert f'data-api="/api/v1/job-types/{ident}" data-method="PATCH"' in page
    assert 'name="launch_script" required size="50" value="poms-demo-launch"' in page
    assert '<input class="key" value="--version "' in page
    assert 'value="%(experiment)s"' in page
    assert f'data-api="/api/v1/job-types/{ident}/recoveries" data-method="PUT"' in page
    listed = page.split('class="list recoveries"', 1)[1].split("</tbody>", 1)[0]
    assert f'<option value="{kinds[0]}" selected>' in listed
    assert "[[&#34;--retry &#34;, &#34;1&#34;]]" in listed
    assert all(f'<option value="{k}"' in page for k in kinds)
    assert "rows.js" in page and "<template>" in page
    listing = site.html("/job-types")
    row = listing.split(f'id="job-type-{ident}"', 1)[1].split("</tr>", 1)[0]
    assert "<td>1</td>" in row


@pytest.mark.parametrize("path", ["/login-setups", "/job-types", "/job-types/{job}"])
def test_people_outside_the_experiment_get_a_403_page(
    site: Site, database: Database, path: str
) -> None:
    path = path.format(job=_id(database, JobType, JOB))
    page = site.html(f"{path}?experiment={DEMO_EXPERIMENT}", 403, **site.outsider)
    assert "403 — Not allowed" in page and "not a member" in page


def test_unknown_job_types_get_a_404_page_and_bad_filters_a_400_page(site: Site) -> None:
    page = site.html("/job-types/9999", 404)
    assert "404 — Not found" in page and "job type 9999 does not exist" in page
    bad = site.html("/login-setups?active=sometimes", 400)
    assert "active: expected true or false" in bad
