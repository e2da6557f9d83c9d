"""``GET /api/v1/submissions/<id>/recovery-preview`` with ``POMS_CATALOG=samweb``: the
sets come from SAM (reference §4.2), read only; a SAM outage answers 503 with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sam_campaign import EXP, fill_world, sam_settings, simulate_submission

from poms_shared.testing.fake_samweb import FakeSamweb
from poms_web.app import create_app


@pytest.fixture
def sam() -> Iterator[FakeSamweb]:
    with FakeSamweb() as fake:
        fill_world(fake)
        yield fake


def preview(database, sam: FakeSamweb, tmp_path: Path, sid: int, query: str = ""):
    app = create_app(sam_settings(sam, var_dir=tmp_path), database)
    return app.test_client().get(f"/api/v1/submissions/{sid}/recovery-preview{query}")


def test_the_preview_lists_what_sam_selects_for_each_step_without_defining_anything(
    database, sam, tmp_path
):
    sid = simulate_submission(database, recoveries=("consumed_status", "pending_files"))
    before = dict(sam.world(EXP).definitions)
    reply = preview(database, sam, tmp_path, sid)

    assert reply.status_code == 200, reply.get_json()
    steps = {s["recovery_type"]: (s["count"], s["files"]) for s in reply.get_json()["steps"]}
    assert steps == {
        "consumed_status": (2, ["gen_4", "gen_5"]),
        "pending_files": (3, ["gen_3", "gen_4", "gen_5"]),
    }
    assert sam.world(EXP).definitions == before


def test_the_preview_says_why_sam_cannot_recover_a_submission_without_a_project(
    database, sam, tmp_path
):
    sid = simulate_submission(database, project=None)
    reply = preview(database, sam, tmp_path, sid, "?type=consumed_status")
    [step] = reply.get_json()["steps"]
    assert step["count"] == 0
    assert "SAM project" in step["note"]


def test_a_sam_outage_answers_503_with_the_reason(database, sam, tmp_path):
    sid = simulate_submission(database)
    sam.fail_next(count=1000)
    reply = preview(database, sam, tmp_path, sid, "?type=consumed_status")
    assert reply.status_code == 503
    error = reply.get_json()["error"]
    assert error["code"] == "catalog_unavailable" and "503" in error["message"]
