"""The original client's stage methods (reference §8.2 "Campaign stages") as form posts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_stages_api import COMMANDS, Api, build_api, error

from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import AuditEntry, ConfigSnapshot, HeldLaunch, Schedule
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.testing.submissions import add_submissions


@pytest.fixture
def api(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Api:
    return build_api(database, tmp_path, monkeypatch)


def form(api: Api, method: str, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    data = {k: str(v) for k, v in fields.items()}
    return api.client.post(f"/poms/{method}", data=data, headers=headers or {})


def stage_row(api: Api, stage_id: int) -> dict[str, Any]:
    info: dict[str, Any] = api.client.get(f"/api/v1/stages/{stage_id}").get_json()
    return info


# ---- look-ups and the list ----------------------------------------------------------------


def test_stage_ids_and_names_are_looked_up_both_ways(api: Api) -> None:
    ids = api.stages()
    found = form(
        api, "get_campaign_stage_id", campaign_name=DEMO_CAMPAIGN, campaign_stage_name="simulate"
    )
    assert found.get_json() == ids["simulate"]
    missing = form(
        api, "get_campaign_stage_id", campaign_name=DEMO_CAMPAIGN, campaign_stage_name="nope"
    )
    assert missing.status_code == 200 and missing.get_json() is None
    named = api.client.get(f"/poms/get_campaign_stage_name?campaign_stage_id={ids['generate']}")
    assert named.get_json() == [DEMO_CAMPAIGN, "generate"]
    assert form(api, "get_campaign_stage_name", campaign_stage_id=999999).status_code == 404
    bad = form(api, "get_campaign_stage_name", campaign_stage_id="x")
    assert bad.status_code == 400 and "campaign_stage_id" in error(bad)
    lacking = form(api, "get_campaign_stage_id", campaign_name=DEMO_CAMPAIGN)
    assert lacking.status_code == 400 and "campaign_stage_name" in error(lacking)


def test_show_campaign_stages_lists_with_the_view_filters(api: Api) -> None:
    shown = api.client.get(f"/poms/show_campaign_stages?campaign_name={DEMO_CAMPAIGN}&fmt=json")
    data = shown.get_json()
    assert [s["name"] for s in data["campaign_stages"]] == ["generate", "simulate", "reconstruct"]
    assert data["authorized"] == [True, True, True] and data["view_active"] is True
    none = form(
        api,
        "show_campaign_stages",
        campaign_name=DEMO_CAMPAIGN,
        update_view=1,
        view_inactive=1,
        view_mine=1,
        view_production=1,
        fmt="json",
    )
    assert none.get_json()["campaign_stages"] == []  # the campaign is active
    bad = form(api, "show_campaign_stages", campaign_ids="1,x")
    assert bad.status_code == 400 and "campaign_ids" in error(bad)


# ---- settings -----------------------------------------------------------------------------


def test_update_campaign_stage_sets_fields_by_their_column_names(api: Api) -> None:
    stage_id = api.stages()["simulate"]
    answer = form(
        api,
        "update_campaign_stage",
        campaign_stage=f'["{DEMO_CAMPAIGN}", "simulate"]',
        cs_split_type="nfiles(3)",
        completion_pct="75",
        merge_overrides="True",
        test_param_overrides="[('--jobs ', 1)]",
        dataset="123",
        pcl_call=1,
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_data(as_text=True) == "Success"
    info = stage_row(api, stage_id)
    assert (info["split_type"], info["completion_pct"], info["dataset"]) == (
        "nfiles(3)",
        75.0,
        "123",
    )
    assert info["test_param_overrides"] == [["--jobs ", "1"]]
    by_id = form(api, "update_campaign_stage", campaign_stage=stage_id, campaign_stage_type="test")
    assert by_id.status_code == 200 and stage_row(api, stage_id)["stage_type"] == "test"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"creator_role": "analysis"}, "creator_role"),
        ({"login_setup_id": "3"}, "login_setup_id"),
        ({"completion_pct": "lots"}, "completion_pct"),
        ({"completion_pct": "500"}, "completion_pct"),
        ({"param_overrides": "[['a']]"}, "param_overrides"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_update_campaign_stage_refuses_bad_fields_and_changes_nothing(
    api: Api, fields: dict[str, str], field: str
) -> None:
    stage_id = api.stages()["simulate"]
    before = stage_row(api, stage_id)
    answer = form(
        api, "update_campaign_stage", campaign_stage=stage_id, software_version="v9", **fields
    )
    assert answer.status_code == 400 and field in error(answer)
    assert stage_row(api, stage_id) == before


def test_update_campaign_stage_needs_a_known_stage_and_the_right_to_change_it(api: Api) -> None:
    assert form(api, "update_campaign_stage", campaign_stage="[1, 2, 3]").status_code == 400
    missing = form(api, "update_campaign_stage", campaign_stage=f'["{DEMO_CAMPAIGN}", "x"]')
    assert missing.status_code == 404
    ann = api.token("ann", "analysis")
    stage_id = api.stages()["simulate"]
    refused = form(api, "update_campaign_stage", ann, campaign_stage=stage_id, dataset="x")
    assert refused.status_code == 403


def test_update_stage_param_overrides_merges_and_answers_the_new_lists(api: Api) -> None:
    stage_id = api.stages()["generate"]
    answer = form(
        api,
        "update_stage_param_overrides",
        campaign_stage=stage_id,
        param_overrides="[('--jobs ', '5'), ('--tune ', '')]",
        test_param_overrides="[['--jobs ', '1']]",
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["param_overrides"] == [["--stage ", "generate"], ["--jobs ", "5"]]
    assert answer.get_json()["test_param_overrides"] == [["--jobs ", "1"]]
    bad = form(
        api, "update_stage_param_overrides", campaign_stage=stage_id, param_overrides="[('--jobs ',"
    )
    assert bad.status_code == 400 and "param_overrides" in error(bad)
    assert stage_row(api, stage_id)["param_overrides"] == answer.get_json()["param_overrides"]


# ---- launches -----------------------------------------------------------------------------


def test_launch_jobs_redirects_to_the_log_named_by_the_submission(api: Api) -> None:
    stage_id = api.stages()["generate"]
    answer = form(
        api, "launch_jobs", campaign_stage_id=stage_id, test_launch="True", launcher="poms"
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    sid = int(location.split("_")[-1])  # how the original client reads it
    assert location.startswith(f"/api/v1/submissions/{sid}/log")
    detail = api.client.get(f"/api/v1/submissions/{sid}").get_json()
    assert detail["test"] is True and detail["stage"] == "generate"
    [sent] = api.manager.seen
    assert sent.test and sent.launcher == "poms"


def test_launch_jobs_takes_the_stage_by_name_and_a_dataset(api: Api) -> None:
    answer = form(api, "launch_jobs", campaign_stage_id="simulate", dataset_override="ds_1")
    assert answer.status_code == 303
    sid = int(answer.headers["Location"].split("_")[-1])
    assert api.client.get(f"/api/v1/submissions/{sid}").get_json()["dataset"] == "ds_1"


def test_launch_jobs_answers_held_refused_and_pending(api: Api) -> None:
    ids = api.stages()
    api.client.post(f"/api/v1/stages/{ids['generate']}/hold")
    held = form(api, "launch_jobs", campaign_stage_id=ids["generate"])
    assert held.status_code == 423
    assert held.get_json()["error"]["held_launch_id"] is not None
    with api.db.transaction() as session:  # a split type that no longer parses
        stage = session.get(CampaignStage, ids["simulate"])
        assert stage is not None
        stage.cs_split_type = "bysize(3)"
    refused = form(api, "launch_jobs", campaign_stage_id=ids["simulate"])
    assert refused.status_code == 400, refused.get_data(as_text=True)
    api.manager.silent = True
    pending = form(api, "launch_jobs", campaign_stage_id=ids["reconstruct"], dataset_override="d")
    assert pending.status_code == 202
    assert pending.get_data(as_text=True).startswith("pending ")


def test_launch_jobs_refuses_bad_fields_and_strangers(api: Api) -> None:
    stage_id = api.stages()["generate"]
    for fields, field in (
        ({}, "campaign_stage_id"),
        ({"campaign_stage_id": stage_id, "launcher": "nobody"}, "launcher"),
        ({"campaign_stage_id": stage_id, "parent_submission_id": "x"}, "parent_submission_id"),
        ({"campaign_stage_id": stage_id, "test_launch": "maybe"}, "test_launch"),
    ):
        answer = form(api, "launch_jobs", **fields)
        assert answer.status_code == 400 and field in error(answer), fields
    assert form(api, "launch_jobs", campaign_stage_id=999999).status_code == 404
    ann = api.token("ann", "analysis")
    assert form(api, "launch_jobs", ann, campaign_stage_id=stage_id).status_code == 403
    assert api.manager.seen == []


def test_launch_jobs_commands_answers_the_commands_as_text(api: Api) -> None:
    stage_id = api.stages()["generate"]
    answer = form(api, "launch_jobs_commands", campaign_stage_id=stage_id, output_commands=True)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "text/plain" and answer.get_data(as_text=True) == COMMANDS
    assert api.manager.seen[0].commands_only


# ---- holds and held launches --------------------------------------------------------------


def test_mark_campaign_hold_holds_and_releases_stages(api: Api) -> None:
    ids = api.stages()
    both = f"{ids['generate']},{ids['simulate']}"
    api.client.put(f"/api/v1/stages/{ids['generate']}/schedule", json={"cron": "0 3 * * *"})
    api.client.put(f"/api/v1/stages/{ids['simulate']}/schedule", json={"cron": "0 4 * * *"})
    kept = form(
        api, "mark_campaign_hold", ids2HR=ids["simulate"], is_hold="Queue", clear_cron="False"
    )
    assert kept.status_code == 303
    assert stage_row(api, ids["simulate"])["schedule"]["cron"] == "0 4 * * *"
    held = form(api, "mark_campaign_hold", ids2HR=both, is_hold="Hold")
    assert held.status_code == 303
    assert stage_row(api, ids["generate"])["held"] and stage_row(api, ids["simulate"])["held"]
    assert stage_row(api, ids["generate"])["schedule"]["cron"] is None
    assert form(api, "launch_jobs", campaign_stage_id=ids["generate"]).status_code == 423
    released = form(api, "mark_campaign_hold", ids2HR=both, is_hold="Release")
    assert released.status_code == 303
    assert not stage_row(api, ids["generate"])["held"]
    assert api.count(HeldLaunch) == 0  # replayed
    bad = form(api, "mark_campaign_hold", ids2HR=both, is_hold="Pause")
    assert bad.status_code == 400 and "is_hold" in error(bad)
    ann = api.token("ann", "analysis")
    refused = form(api, "mark_campaign_hold", ann, ids2HR=both, is_hold="Hold")
    assert refused.status_code == 403 and not stage_row(api, ids["generate"])["held"]


def test_held_launches_are_listed_and_removed(api: Api) -> None:
    stage_id = api.stages()["generate"]
    form(api, "mark_campaign_hold", ids2HR=stage_id, is_hold="Hold")
    form(api, "launch_jobs", campaign_stage_id=stage_id)
    form(api, "launch_jobs", campaign_stage_id=stage_id, dataset_override="again")
    listed = api.client.get("/poms/held_launches").get_json()
    assert [h["stage_id"] for h in listed] == [stage_id, stage_id]
    missing = form(api, "held_launches_remove")
    assert missing.status_code == 400 and "createds" in error(missing)
    ann = api.token("ann", "analysis")
    refused = form(
        api,
        "held_launches_remove",
        ann,
        campaign_stage_id=stage_id,
        held_launch_id=listed[1]["held_launch_id"],
    )
    assert refused.status_code == 403
    removed = form(api, "held_launches_remove", held_launch_id=listed[1]["held_launch_id"])
    assert removed.get_json()["removed"] == [listed[1]["held_launch_id"]]
    by_time = form(api, "held_launches_remove", createds=listed[0]["created"][:19])
    assert by_time.get_json()["removed"] == [listed[0]["held_launch_id"]]
    assert api.count(HeldLaunch) == 0


# ---- split position and schedule ----------------------------------------------------------


def test_the_split_position_is_reset_or_restored_from_a_snapshot(api: Api) -> None:
    stage_id = api.stages()["generate"]
    api.client.patch(f"/api/v1/stages/{stage_id}", json={"split_type": "nfiles(2)"})
    api.client.post(f"/api/v1/stages/{stage_id}/split", json={"position": 4})
    with api.db.transaction() as session:
        stage = session.get(CampaignStage, stage_id)
        assert stage is not None
        data = {"cs_split_type": stage.cs_split_type, "cs_last_split": 4}
        snap = ConfigSnapshot(kind="stage", live_id=stage_id, content_hash="h", data=data)
        session.add(snap)
        session.flush()
        snap_id = snap.snapshot_id
    reset = form(api, "reset_campaign_split", campaign_stage_id=stage_id)
    assert reset.status_code == 303 and stage_row(api, stage_id)["cs_last_split"] is None
    restored = form(
        api,
        "update_campaign_split",
        campaign_stage_id=stage_id,
        campaign_stage_snapshot_id=snap_id,
        last_split_custom_val="",
    )
    assert restored.status_code == 303 and stage_row(api, stage_id)["cs_last_split"] == 4
    cleared = form(
        api, "update_campaign_split", campaign_stage_id=stage_id, last_split_custom_val=0
    )
    assert cleared.status_code == 303 and stage_row(api, stage_id)["cs_last_split"] is None
    unknown = form(
        api, "update_campaign_split", campaign_stage_id=stage_id, last_split_custom_val=999999
    )
    assert unknown.status_code == 400 and "not found" in error(unknown)
    api.client.patch(f"/api/v1/stages/{stage_id}", json={"split_type": "mod(3)"})
    other = form(
        api, "update_campaign_split", campaign_stage_id=stage_id, last_split_custom_val=snap_id
    )
    assert other.status_code == 400 and "does not match the split type" in error(other)
    ann = api.token("ann", "analysis")
    assert form(api, "reset_campaign_split", ann, campaign_stage_id=stage_id).status_code == 403


def test_update_launch_schedule_writes_and_deletes_the_cron_entry(api: Api) -> None:
    stage_id = api.stages()["generate"]
    made = form(
        api,
        "update_launch_schedule",
        campaign_stage_id=stage_id,
        minlist="5,35",
        hourlist="03",
        dowlist="1,3",
        domlist="*",
    )
    assert made.status_code == 303, made.get_data(as_text=True)
    assert stage_row(api, stage_id)["schedule"]["cron"] == "5,35 3 * * 1,3"
    for fields, field in (
        ({"minlist": "61", "hourlist": "1"}, "minlist"),
        ({"minlist": "1", "hourlist": "noon"}, "hourlist"),
        ({"minlist": "1", "hourlist": "1", "dowlist": "someday"}, "dowlist"),
        ({"hourlist": "1"}, "minlist"),
    ):
        bad = form(api, "update_launch_schedule", campaign_stage_id=stage_id, **fields)
        assert bad.status_code == 400 and field in error(bad), fields
    assert stage_row(api, stage_id)["schedule"]["cron"] == "5,35 3 * * 1,3"
    ann = api.token("ann", "analysis")
    refused = form(api, "update_launch_schedule", ann, campaign_stage_id=stage_id, delete="Delete")
    assert refused.status_code == 403
    gone = form(api, "update_launch_schedule", campaign_stage_id=stage_id, delete="Delete")
    assert gone.status_code == 303 and stage_row(api, stage_id)["schedule"]["cron"] is None
    with api.db.transaction() as session:
        assert session.scalars(select(Schedule)).all() == []
        actions = set(session.scalars(select(AuditEntry.action)))
        assert {"schedule", "unschedule"} <= actions


def test_launch_recovery_for_asks_for_a_recovery_of_the_stages_submission(api: Api) -> None:
    stages = api.stages()
    with api.db.transaction() as session:
        [sid] = add_submissions(session, stages["generate"], 1)
        [other] = add_submissions(session, stages["simulate"], 1)
    for fields, field in (
        ({"campaign_stage_id": stages["generate"], "submission_id": sid}, "recovery_type"),
        (
            {"campaign_stage_id": stages["generate"], "recovery_type": "added_files"},
            "submission_id",
        ),
        (
            {"campaign_stage_id": stages["generate"], "submission_id": other, "recovery_type": "x"},
            "submission_id",
        ),
    ):
        answer = form(api, "launch_recovery_for", **fields)
        assert answer.status_code == 400 and field in error(answer), fields
    ann = api.token("ann", "analysis")
    fields = {"campaign_stage_id": stages["generate"], "submission_id": sid}
    refused = form(api, "launch_recovery_for", ann, recovery_type="added_files", **fields)
    assert refused.status_code == 403
    audited = api.count(AuditEntry)
    asked = form(api, "launch_recovery_for", recovery_type="added_files", **fields)
    assert asked.status_code in (202, 303, 400), asked.get_data(as_text=True)
    with api.db.transaction() as session:
        [row] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "recover").order_by(AuditEntry.audit_id)
        ).all()
        assert row.entity_id == str(sid) and row.after["recovery_type"] == "added_files"
    assert api.count(AuditEntry) == audited + 1
