"""The submission page's jobs table (site, CPU, wall, efficiency, memory) and the job log
page: a local job's log from the local batch spool, and nothing else from the disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from poms_shared.db import identity
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Job
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import JobState
from poms_shared.settings import Settings
from poms_shared.testing.submissions import add_submissions
from poms_web.app import create_app


@dataclass
class World:
    client: FlaskClient
    sid: int
    jobs: dict[str, int]  # batch job id → job id
    outsider: dict[str, str]


@pytest.fixture
def world(database: Database, tmp_path: Path) -> World:
    settings = Settings(var_dir=tmp_path)
    spooled = settings.batch_dir / "jobs" / "5.0"
    spooled.mkdir(parents=True)
    (spooled / "job.log").write_text("".join(f"line {n}\n" for n in range(2500)))
    elsewhere = tmp_path / "secret.txt"
    elsewhere.write_text("not for the web\n")
    logs = {
        "5.0@local": str(spooled / "job.log"),
        "5.1@local": str(elsewhere),  # a log path nobody should be able to read through us
        "5.2@local": str(spooled / ".." / ".." / ".." / "secret.txt"),
        "9.0@jobsub": "/fife/logs/9.0.out",
    }
    with database.transaction() as session:
        load_samples(session)
        identity.add_user(session, "nora")
        token = identity.issue_token(session, "nora", "tests")[1]
        stage = session.scalars(select(CampaignStage.campaign_stage_id)).first()
        assert stage is not None
        [sid, other] = add_submissions(session, stage, 2)
        rows = [
            Job(
                submission_id=sid,
                backend=job_id.split("@")[1],
                batch_job_id=job_id,
                state=int(JobState.FAILED),
                exit_code=3,
                node="node1",
                log_path=path,
                site="lab",
                cpu_seconds=45.0,
                wall_seconds=60.0,
                memory_mb=1500,
                memory_requested_mb=2000,
            )
            for job_id, path in logs.items()
        ]
        rows.append(Job(submission_id=other, backend="local", batch_job_id="6.0@local", state=1))
        session.add_all(rows)
        session.flush()
        jobs = {j.batch_job_id: j.job_id for j in rows}
    client = create_app(settings, database).test_client()
    return World(client, sid, jobs, {"Authorization": f"Bearer {token}"})


def page(world: World, path: str, status: int = 200, **headers: str) -> str:
    response = world.client.get(path, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:1000]
    return response.get_data(as_text=True)


def test_the_jobs_table_shows_where_jobs_ran_what_they_used_and_links_readable_logs(
    world: World,
) -> None:
    html = page(world, f"/submissions/{world.sid}")
    body = html.split('<table class="list jobs">', 1)[1].split("</table>", 1)[0]
    rows = body.split("<tr class=")[1:]
    assert len(rows) == 4
    first = rows[0]
    for shown in ("lab", "node1", "45 s", "60 s", "75%", "1500 MB / 2000 MB"):
        assert shown in first
    log_url = f"/submissions/{world.sid}/jobs/{world.jobs['5.0@local']}/log"
    assert f'href="{log_url}"' in first
    assert body.count('class="job-log"') == 1  # only the spooled local log is linked
    assert "/fife/logs/9.0.out" in rows[3]


def test_the_job_log_page_shows_the_last_lines_and_the_whole_log_as_text(world: World) -> None:
    url = f"/submissions/{world.sid}/jobs/{world.jobs['5.0@local']}/log"
    html = page(world, url)
    assert "line 2499" in html and "line 500\n" in html and "line 499\n" not in html
    assert "The last 2000 lines" in html
    raw = world.client.get(f"{url}?raw=1")
    assert raw.mimetype == "text/plain"
    assert raw.get_data(as_text=True).startswith("line 0\nline 1\n")


@pytest.mark.parametrize("job", ["5.1@local", "5.2@local", "9.0@jobsub"])
def test_no_other_file_is_ever_read(world: World, job: str) -> None:
    url = f"/submissions/{world.sid}/jobs/{world.jobs[job]}/log"
    html = page(world, url)
    assert "This server cannot show the log of this job" in html
    assert "not for the web" not in html
    raw = world.client.get(f"{url}?raw=1")
    assert "not for the web" not in raw.get_data(as_text=True)


def test_a_job_of_another_submission_is_not_found_and_outsiders_are_refused(
    world: World,
) -> None:
    page(world, f"/submissions/{world.sid}/jobs/{world.jobs['6.0@local']}/log", 404)
    url = f"/submissions/{world.sid}/jobs/{world.jobs['5.0@local']}/log"
    html = page(world, url, 403, **world.outsider)
    assert "line 2499" not in html


def test_the_jobs_api_tells_usage_and_efficiency(world: World) -> None:
    items = world.client.get(f"/api/v1/submissions/{world.sid}/jobs").get_json()["items"]
    first = items[0]
    assert (first["site"], first["cpu_seconds"], first["wall_seconds"]) == ("lab", 45.0, 60.0)
    assert (first["efficiency"], first["memory_mb"], first["memory_requested_mb"]) == (
        0.75,
        1500,
        2000,
    )
