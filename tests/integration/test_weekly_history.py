"""Submissions by week and outcome (campaign and stage pages), on SQLite and PostgreSQL:
weeks start on Monday (UTC), the last twelve are shown, older submissions are not."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.demo.load import load_samples
from poms_shared.domain.statuses import SubmissionStatus as S
from poms_shared.settings import Settings
from poms_shared.testing.submissions import add_submissions
from poms_web.adapters.weekly import OUTCOMES, by_week
from poms_web.app import create_app

NOW = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)  # a Thursday; its week began on 16 Nov
MADE = [  # (created, status)
    (datetime(2026, 11, 16, 0, 30, tzinfo=UTC), S.LOCATED),  # this week's Monday
    (datetime(2026, 11, 15, 23, 30, tzinfo=UTC), S.FAILED),  # last week's Sunday
    (datetime(2026, 11, 10, 12, 0, tzinfo=UTC), S.RUNNING),
    (datetime(2026, 11, 10, 13, 0, tzinfo=UTC), S.COMPLETED),
    (datetime(2026, 11, 10, 14, 0, tzinfo=UTC), S.LAUNCH_FAILED),
    (datetime(2026, 8, 31, 0, 0, tzinfo=UTC), S.LOCATED),  # the oldest week shown
    (datetime(2026, 8, 30, 23, 59, tzinfo=UTC), S.LOCATED),  # before it: left out
]


def seed(db: Database) -> list[int]:
    with db.transaction() as session:
        load_samples(session)
        stage = session.scalars(select(CampaignStage.campaign_stage_id)).first()
        assert stage is not None
        ids = add_submissions(session, stage, len(MADE))
        for sid, (created, status) in zip(ids, MADE, strict=True):
            row = session.get(Submission, sid)
            assert row is not None
            row.created, row.status_id = created, int(status)
        return [stage]


def test_submissions_are_counted_in_their_week_by_outcome(database: Database) -> None:
    stages = seed(database)
    with database.transaction() as session:
        weeks = by_week(session, stages, now=NOW)
    assert len(weeks) == 12
    assert weeks[0]["week"] == "2026-08-31"
    assert [w["week"] for w in weeks][-3:] == ["2026-11-02", "2026-11-09", "2026-11-16"]
    counts = {w["week"]: tuple(w[o] for o in OUTCOMES) for w in weeks}
    assert counts["2026-11-16"] == (1, 0, 0, 0)  # Located, Completed, Failed, Active
    assert counts["2026-11-09"] == (0, 1, 2, 1)
    assert counts["2026-08-31"] == (1, 0, 0, 0)
    assert sum(sum(c) for c in counts.values()) == len(MADE) - 1


def test_no_stages_give_twelve_empty_weeks(database: Database) -> None:
    with database.transaction() as session:
        weeks = by_week(session, [], now=NOW)
    assert len(weeks) == 12 and all(w[o] == 0 for w in weeks for o in OUTCOMES)


def test_the_campaign_and_stage_pages_draw_the_weeks(database: Database, tmp_path: Path) -> None:
    [stage] = seed(database)
    client = create_app(Settings(var_dir=tmp_path), database).test_client()
    for path in (f"/campaigns/{DEMO_CAMPAIGN}", f"/stages/{stage}"):
        page = client.get(path).get_data(as_text=True)
        figure = page.split('<figure class="weekly">', 1)[1].split("</figure>", 1)[0]
        svg = ET.fromstring(figure[figure.index("<svg") : figure.index("</svg>") + 6])
        assert len(svg.findall("{http://www.w3.org/2000/svg}g")) == 12
        assert "<th>Week of</th>" in figure and figure.count("<tr><td>") == 12
