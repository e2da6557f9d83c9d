"""The triage page over seeded submissions and jobs, on SQLite and PostgreSQL: the summary
per campaign and stage, stuck submissions, failures grouped by site, node, exit code and
software version (black holes flagged), histograms and the jobs timeline in the JSON the
charts draw, and the window and filters."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db import identity
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Job, Submission, SubmissionHistory
from poms_shared.demo import DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import JobState, SubmissionStatus
from poms_shared.settings import Settings
from poms_web.app import create_app

S, J = SubmissionStatus, JobState
NOW = datetime.now(UTC).replace(microsecond=0)
FORMAT = "%Y-%m-%d %H:%M:%S"
LAST_DAY = f"?window=custom&tmin={(NOW - timedelta(hours=24)).strftime(FORMAT)}"
LAST_DAY += f"&tmax={NOW.strftime(FORMAT)}"
BATCH_IDS = count(1)


# ---- reading the page ----------------------------------------------------------------------


@dataclass
class Row:
    classes: str
    cells: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


class Tables(HTMLParser):
    """The body rows of every table with an id: cell texts, row classes and link targets."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[Row]] = {}
        self.table: str | None = None
        self.head = False
        self.cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("id"):
            self.table = found["id"] or ""
            self.tables[self.table] = []
        elif self.table is None:
            return
        elif tag == "thead":
            self.head = True
        elif tag == "tr" and not self.head:
            self.tables[self.table].append(Row(found.get("class") or ""))
        elif tag in ("td", "th") and not self.head:
            self.cell = []
        elif tag == "a" and not self.head and self.tables[self.table]:
            self.tables[self.table][-1].links.append(found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.table = None
        elif tag == "thead":
            self.head = False
        elif tag in ("td", "th") and self.cell is not None and self.table is not None:
            self.tables[self.table][-1].cells.append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def groups(page: str, dimension: str, keys: int = 1) -> dict[Any, tuple[int, int]]:
    """A failure table: (its first ``keys`` cells) → (failed, succeeded)."""
    found: dict[Any, tuple[int, int]] = {}
    for row in Tables(page).tables[f"failures-{dimension}"]:
        if len(row.cells) < keys + 2:
            continue  # "No failures."
        cells = [cell.removesuffix(" black hole?") for cell in row.cells]
        key = cells[0] if keys == 1 else tuple(cells[:keys])
        found[key] = (int(cells[keys]), int(cells[keys + 1]))
    return found


def charts(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="triage-data">(.*?)</script>', page)
    assert found, "no chart data in the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


# ---- the seeded experiment -----------------------------------------------------------------


class Site:
    def __init__(self, client: FlaskClient, db: Database, stages: dict[str, int]) -> None:
        self.client, self.db, self.stages = client, db, stages
        self.subs: dict[str, int] = {}
        self.nora: dict[str, str] = {}  # headers of someone in no experiment

    def html(
        self, query: str = "", status: int = 200, headers: dict[str, str] | None = None
    ) -> str:
        response = self.client.get(f"/triage{query}", headers=headers or {})
        assert response.status_code == status, response.get_data(as_text=True)[:3000]
        assert response.mimetype == "text/html"
        return response.get_data(as_text=True)


def add_submission(
    session: Session,
    stage_id: int,
    status: SubmissionStatus,
    *,
    created: datetime,
    since: datetime,
    params: dict[str, Any] | None = None,
) -> int:
    """A submission that reached ``status`` at ``since``."""
    sub = Submission(
        campaign_stage_id=stage_id,
        launcher="poms",
        status_id=int(status),
        created=created,
        updated=since if status.is_final else created,
        submission_params=params or {},
    )
    session.add(sub)
    session.flush()
    session.add(SubmissionHistory(submission_id=sub.submission_id, status_id=int(S.NEW),
                                  created=created))  # fmt: skip
    session.add(SubmissionHistory(submission_id=sub.submission_id, status_id=int(status),
                                  created=since))  # fmt: skip
    return sub.submission_id


def add_jobs(session: Session, sid: int, n: int, state: JobState, **values: Any) -> None:
    """``n`` jobs of submission ``sid`` (``ended``: when they finished)."""
    ended = values.pop("ended", None)
    for _ in range(n):
        session.add(
            Job(
                submission_id=sid,
                backend="test",
                batch_job_id=f"{next(BATCH_IDS)}.0@triage",
                state=int(state),
                finished_at=ended,
                updated=ended or NOW - timedelta(minutes=5),
                **values,
            )
        )


def seed(session: Session, stages: dict[str, int]) -> dict[str, int]:
    """The jobs the tests count (times relative to NOW; the failure groups, histogram and
    timeline numbers in the tests follow from here)."""
    gen, sim, reco = stages["generate"], stages["simulate"], stages["reconstruct"]
    hours = lambda h: NOW - timedelta(hours=h)  # noqa: E731
    subs = {
        "A": add_submission(session, gen, S.FAILED, created=hours(5), since=hours(1)),
        "B": add_submission(session, reco, S.LOCATED, created=hours(10), since=hours(0.5)),
        "old": add_submission(session, gen, S.LOCATED, created=hours(96), since=hours(72)),
        "D": add_submission(session, sim, S.RUNNING, created=hours(96), since=hours(72)),
        "E": add_submission(session, sim, S.RUNNING, created=hours(2), since=hours(1)),
        "F": add_submission(
            session,
            reco,
            S.COMPLETED,
            created=hours(48),
            since=hours(20),
            params={"completion_why": "3 of 10 outputs located"},
        ),
        "G": add_submission(session, gen, S.HELD, created=hours(3), since=hours(2)),
    }
    bad = {"site": "SITE_A", "node": "bh01.example", "cpu_seconds": 10.0, "wall_seconds": 1000.0}
    add_jobs(session, subs["A"], 6, J.FAILED, exit_code=137, started_at=hours(3.5),
             ended=hours(2.5), memory_mb=300, memory_requested_mb=2000, **bad)  # fmt: skip
    add_jobs(session, subs["A"], 4, J.COMPLETED, exit_code=0, site="SITE_A", node="ok01.example",
             started_at=hours(4.5), ended=hours(1.5), cpu_seconds=950.0, wall_seconds=1000.0,
             memory_mb=1500, memory_requested_mb=2000)  # fmt: skip
    add_jobs(session, subs["B"], 2, J.FAILED, exit_code=1, site="SITE_B", node="ok01.example",
             started_at=hours(7.5), ended=hours(6.5))  # fmt: skip
    add_jobs(session, subs["B"], 1, J.COMPLETED, exit_code=0, started_at=hours(7.5),
             ended=hours(6.5), cpu_seconds=1200.0, wall_seconds=1000.0, memory_mb=5000,
             memory_requested_mb=4000)  # fmt: skip
    add_jobs(session, subs["B"], 1, J.REMOVED, started_at=hours(7.5), ended=hours(6.5))
    add_jobs(session, subs["old"], 3, J.FAILED, exit_code=2, site="SITE_OLD", node="old01",
             started_at=hours(73), ended=hours(72))  # fmt: skip
    add_jobs(session, subs["D"], 2, J.RUNNING, started_at=hours(72))
    add_jobs(session, subs["E"], 1, J.RUNNING, started_at=NOW - timedelta(minutes=50))
    add_jobs(session, subs["G"], 1, J.HELD)
    return subs


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Site:
    with database.transaction() as session:
        load_samples(session)
        identity.add_user(session, "nora")  # no member of any experiment
        token = identity.issue_token(session, "nora", "tests")[1]
        stage_rows = session.scalars(select(CampaignStage)).all()
        stages = {s.name: s.campaign_stage_id for s in stage_rows}
        for stage in stage_rows:
            stage.software_version = "v2_0" if stage.name == "reconstruct" else "v1_0"
        subs = seed(session, stages)
    found = Site(create_app(Settings(var_dir=tmp_path), database).test_client(), database, stages)
    found.subs = subs
    found.nora = {"Authorization": f"Bearer {token}"}
    return found


# ---- the tests -----------------------------------------------------------------------------


def test_the_menu_links_the_triage_page(site: Site) -> None:
    page = site.html()
    assert 'href="/triage">Triage</a>' in page
    assert "<h1>Triage of <code>demo</code></h1>" in page
    assert "vendor/chart.umd.js" in page and "triage.js" in page and "triage.css" in page
    for path in ("triage.js", "triage.css", "vendor/chart.umd.js", "vendor/chart.js.LICENSE"):
        assert site.client.get(f"/static/{path}").status_code == 200


def test_failures_are_grouped_by_site_node_exit_code_and_version(site: Site) -> None:
    page = site.html(LAST_DAY)
    assert groups(page, "site") == {"SITE_A": (6, 4), "SITE_B": (2, 0)}
    assert groups(page, "node") == {"bh01.example": (6, 0), "ok01.example": (2, 4)}
    assert groups(page, "exit_code") == {"137 (signal 9)": (6, 0), "1": (2, 0)}
    assert groups(page, "version") == {"v1_0": (6, 4), "v2_0": (2, 1)}
    [first, *_] = Tables(page).tables["failures-site"]
    assert first.links == [f"/submissions/{site.subs['A']}"]  # the newest failing submission


def test_failures_per_stage_and_per_campaign(site: Site) -> None:
    page = site.html(LAST_DAY + "&per=stage")
    assert groups(page, "site", keys=3) == {
        ("demo_mc", "generate", "SITE_A"): (6, 4),
        ("demo_mc", "reconstruct", "SITE_B"): (2, 0),
    }
    assert groups(page, "version", keys=3) == {
        ("demo_mc", "generate", "v1_0"): (6, 4),
        ("demo_mc", "reconstruct", "v2_0"): (2, 1),
    }
    page = site.html(LAST_DAY + "&per=campaign")
    assert groups(page, "node", keys=2) == {
        ("demo_mc", "bh01.example"): (6, 0),
        ("demo_mc", "ok01.example"): (2, 4),
    }


def test_a_node_with_many_failures_and_few_successes_is_a_black_hole(site: Site) -> None:
    page = site.html(LAST_DAY)
    rows = {r.cells[0]: r for r in Tables(page).tables["failures-node"]}
    assert "black-hole" in rows["bh01.example black hole?"].classes
    assert "black-hole" not in rows["ok01.example"].classes
    alert = page.split('class="why black-holes"', 1)[1].split("</div>", 1)[0]
    assert "<code>bh01.example</code>: 6 failed, 0 succeeded" in alert
    assert "ok01" not in alert


def test_the_window_chooses_which_jobs_count(site: Site) -> None:
    assert groups(site.html(), "site") == {"SITE_A": (6, 4), "SITE_B": (2, 0)}  # 24 h
    assert groups(site.html("?window=6h"), "site") == {"SITE_A": (6, 4)}
    week = groups(site.html("?window=7d"), "site")
    assert week == {"SITE_A": (6, 4), "SITE_OLD": (3, 0), "SITE_B": (2, 0)}
    old = NOW - timedelta(hours=72)
    start, end = (old + timedelta(hours=h) for h in (-1, 1))
    custom = f"?tmin={start.strftime(FORMAT)}&tmax={end.strftime(FORMAT)}"
    page = site.html(custom.replace(":", "%3A").replace(" ", "+") + "&window=custom")
    assert groups(page, "site") == {"SITE_OLD": (3, 0)}
    assert groups(page, "node") == {"old01": (3, 0)}  # too few failures for a black hole
    assert "black-holes" not in page
    assert 'rel="next"' in page and 'rel="next"' not in site.html("?window=6h")


def test_the_summary_counts_submissions_and_jobs_per_stage(site: Site) -> None:
    tables = Tables(site.html(LAST_DAY)).tables
    summary = {row.cells[0].removesuffix(" ⌕"): row.cells[1:] for row in tables["stage-summary"]}
    assert summary["generate"] == ["Failed 1 Held 1", "4", "6", "0", "0", "0", "1", "38.6 %"]
    assert summary["simulate"] == ["Running 2", "0", "0", "0", "3", "0", "0", "unknown"]
    assert summary["reconstruct"] == ["Completed 1 Located 1", "1", "2", "1", "0", "0", "0",
                                      "120.0 %"]  # fmt: skip
    total = summary["demo_mc"]
    assert total[1:7] == ["5", "8", "1", "3", "0", "1"]


def test_stuck_submissions_are_listed_with_why(site: Site) -> None:
    stuck = Tables(site.html()).tables["stuck-list"]
    ids = [int(row.cells[0]) for row in stuck]
    assert ids == [site.subs["D"], site.subs["F"], site.subs["G"]]  # longest stuck first
    by_id = {int(row.cells[0]): row for row in stuck}
    assert by_id[site.subs["F"]].cells[3] == "Completed"
    assert by_id[site.subs["F"]].cells[5] == "3 of 10 outputs located"
    assert "(3 d)" in by_id[site.subs["D"]].cells[4]
    assert "2 running" in by_id[site.subs["D"]].cells[5]
    assert by_id[site.subs["G"]].links[0] == f"/submissions/{site.subs['G']}"
    only_generate = Tables(site.html(f"?stage_id={site.stages['generate']}")).tables["stuck-list"]
    assert [int(row.cells[0]) for row in only_generate] == [site.subs["G"]]


def test_the_histograms_count_jobs_by_efficiency_and_memory(site: Site) -> None:
    data = charts(site.html(LAST_DAY))
    efficiency = data["efficiency"]
    assert efficiency["counts"] == [6, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1]
    assert efficiency["unknown"] == 2 and efficiency["labels"][-1] == "≥ 100 %"
    memory = data["memory"]
    assert memory["used"] == [0, 6, 0, 4, 0, 1, 0, 0] and memory["unknown_used"] == 2
    assert memory["requested"] == [0, 0, 0, 10, 1, 0, 0, 0] and memory["unknown_requested"] == 2
    assert memory["share"]["counts"] == [0, 6, 0, 0, 0, 0, 0, 4, 0, 0, 1]
    # the same numbers in the tables, for readers without JavaScript
    numbers = Tables(site.html(LAST_DAY)).tables["numbers-efficiency"]
    assert numbers[0].cells == ["0–10 %", "6"]
    assert numbers[-1].cells == ["unknown", "2"]


def test_the_timeline_counts_jobs_per_hour(site: Site) -> None:
    timeline = charts(site.html(LAST_DAY))["timeline"]
    assert timeline["step_minutes"] == 60 and len(timeline["labels"]) == 24
    expected = {name: [0] * 24 for name in ("started", "done", "failed", "killed")}
    expected["started"][16], expected["started"][19] = 4, 4
    expected["started"][20], expected["started"][23] = 6, 1
    expected["failed"][17], expected["done"][17], expected["killed"][17] = 2, 1, 1
    expected["failed"][21], expected["done"][22] = 6, 4
    for name, counts in expected.items():
        assert timeline[name] == counts, name
    running = [2] * 16 + [6, 2, 2, 6, 12, 6, 2, 3]
    assert timeline["running"] == running
    week = charts(site.html("?window=7d"))["timeline"]
    assert week["step_minutes"] == 360 and len(week["labels"]) == 28


def test_filters_narrow_to_a_campaign_or_stage(site: Site) -> None:
    reco = site.stages["reconstruct"]
    page = site.html(LAST_DAY + f"&stage_id={reco}")
    assert groups(page, "site") == {"SITE_B": (2, 0)}
    assert f'<option value="{reco}" selected>demo_mc / reconstruct</option>' in page
    summary = [row.cells[0].removesuffix(" ⌕") for row in Tables(page).tables["stage-summary"]]
    assert summary == ["demo_mc", "reconstruct"]
    assert groups(site.html(LAST_DAY + "&campaign_id=999999"), "site") == {}


@pytest.mark.parametrize(
    "query",
    ["?window=3h", "?campaign_id=abc", "?per=site", "?window=custom&tmin=2020-01-01",
     "?window=custom&tmin=2026-01-02&tmax=2026-01-01", "?tmin=yesterday"],
)  # fmt: skip
def test_bad_queries_answer_a_readable_400(site: Site, query: str) -> None:
    assert "400 — Bad request" in site.html(query, 400)


def test_outsiders_are_refused(site: Site) -> None:
    page = site.html(f"?experiment={DEMO_EXPERIMENT}", 403, headers=site.nora)
    assert "403 — Not allowed" in page and "SITE_A" not in page
