"""The original client's campaign methods, called as it calls them (form POSTs, path
experiment/role, ``fmt=json``, ``pcl_call=1``), over a real database."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select
from test_campaigns_api import EXP, World, analysis_ini, submit, world

from poms_shared.db.models import Campaign, CampaignStage, Tag
from poms_shared.db.tables import LaunchRequest
from poms_shared.demo import DEMO_CAMPAIGN, demo_ini
from poms_shared.demo.load import ensure_experiment
from poms_shared.ini import parse_ini
from poms_web.adapters import launching
from poms_web.adapters.launching import Outcome

__all__ = ["world"]  # the fixture, shared with the /api/v1 tests


def form(world: World, who: str, method: str, **fields: Any) -> Any:
    """POST the fields as the client does (``make_poms_call``: a form, no redirects)."""
    return world.client.post(f"/poms/{method}", data=fields, headers=world.as_(who))


def campaign_id(world: World, name: str) -> int:
    with world.db.transaction() as session:
        found = session.scalars(select(Campaign).where(Campaign.name == name)).one()
        return found.campaign_id


def ids(world: World) -> tuple[int, int]:
    return campaign_id(world, DEMO_CAMPAIGN), campaign_id(world, "ann_study")


def error_of(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)
    message: str = answer.get_json()["error"]["message"]
    return message


# ---- show_campaigns ---------------------------------------------------------------------


def test_show_campaigns_answers_its_data_as_json_with_the_role_defaults(world: World) -> None:
    answer = form(world, "ann", "show_campaigns", fmt="json")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    page = answer.get_json()
    # acting as analysis, the default view shows analysis-made campaigns only
    assert [c["name"] for c in page["campaigns"]] == ["ann_study"]
    assert page["data"]["view_analysis"] and not page["data"]["view_production"]
    assert page["data"]["authorized"] == [True]
    everything = world.client.get(
        "/show_campaigns/demo/production?fmt=json", headers=world.as_("pat")
    ).get_json()
    assert [c["name"] for c in everything["campaigns"]] == [DEMO_CAMPAIGN]
    assert everything["data"]["authorized"] == [True]


def test_show_campaigns_with_update_view_shows_only_what_is_ticked(world: World) -> None:
    form(world, "pat", "mark_campaign_active", campaign_name=DEMO_CAMPAIGN, is_active="False")
    fields = {"update_view": "1", "view_inactive": "view_inactive", "view_production": "on"}
    fields.update(view_mine="on", view_others="on", fmt="json")
    page = form(world, "ann", "show_campaigns", **fields).get_json()
    assert [c["name"] for c in page["campaigns"]] == [DEMO_CAMPAIGN]
    assert page["data"]["authorized"] == [False]  # ann may not change pat's campaign
    assert page["data"]["view_active"] is False


def test_campaign_rm_deletes_an_unsubmitted_campaign_by_name(world: World) -> None:
    form(world, "ann", "campaign_add_name", campaign_name="scratch")
    answer = form(
        world,
        "ann",
        "show_campaigns",
        action="delete",
        del_campaign_name="scratch",
        pcl_call="1",
        fmt="json",
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "scratch" in answer.get_json()["msg"]
    assert form(world, "ann", "get_campaign_id", campaign_name="scratch").get_json() is None


def test_show_campaigns_delete_by_id_refuses_a_submitted_campaign(world: World) -> None:
    submit(world, "ann_study")
    _, ann_id = ids(world)
    fields = {"action": "delete", "del_campaign_id": str(ann_id), "fmt": "json"}
    assert "submitted" in error_of(form(world, "ann", "show_campaigns", **fields), 409)
    refused = form(world, "bob", "show_campaigns", **fields)
    assert refused.status_code == 403


def test_deleting_an_unknown_campaign_by_name_says_it_does_not_exist(world: World) -> None:
    fields = {"action": "delete", "del_campaign_name": "nosuch", "pcl_call": "1"}
    assert "does not exist" in error_of(form(world, "ann", "show_campaigns", **fields), 404)
    bad = form(world, "ann", "show_campaigns", action="delete", del_campaign_id="x")
    assert error_of(bad, 400).startswith("del_campaign_id")


# ---- add, ids and names, the stage list --------------------------------------------------


def test_campaign_add_name_creates_the_campaign_with_stage0(world: World) -> None:
    answer = form(world, "pat", "campaign_add_name", campaign_name="added")
    assert answer.status_code == 200 and answer.get_json()["message"] == "ok"
    with world.db.transaction() as session:
        campaign = session.get(Campaign, answer.get_json()["campaign_id"])
        assert campaign is not None and [s.name for s in campaign.stages] == ["stage0"]
        assert campaign.creator_role == "production"
    taken = form(world, "pat", "campaign_add_name", campaign_name="added")
    assert "already exists" in error_of(taken, 409)
    missing = form(world, "pat", "campaign_add_name")
    assert "campaign_name" in error_of(missing, 400)
    assert form(world, "nora", "campaign_add_name", campaign_name="n").status_code == 403


def test_campaign_list_json_lists_only_experiments_the_caller_may_view(world: World) -> None:
    """The reference lists every experiment's stages; here a member sees their own
    experiments' and an administrator everything."""
    with world.db.transaction() as session:
        ensure_experiment(session, "other", "admin", "production")
    made = world.client.post(
        "/api/v1/campaigns/ini?experiment=other", data=demo_ini(), headers=world.as_("admin")
    )
    assert made.status_code == 201, made.get_json()
    pat = form(world, "pat", "campaign_list_json").get_json()
    assert {s["experiment"] for s in pat} == {EXP}
    assert {"campaign_stage_id", "name", "experiment"} == set(pat[0])
    admin = form(world, "admin", "campaign_list_json").get_json()
    assert {s["experiment"] for s in admin} == {EXP, "other"}
    assert form(world, "nora", "campaign_list_json").get_json() == []


def test_get_campaign_id_and_name_answer_the_other(world: World) -> None:
    demo_id, _ = ids(world)
    assert form(world, "bob", "get_campaign_id", campaign_name=DEMO_CAMPAIGN).get_json() == demo_id
    assert form(world, "bob", "get_campaign_id", campaign_name="nosuch").get_json() is None
    name = form(world, "bob", "get_campaign_name", campaign_id=str(demo_id))
    assert name.get_data(as_text=True) == DEMO_CAMPAIGN
    assert form(world, "bob", "get_campaign_name", campaign_id="9999").get_data(as_text=True) == (
        "None"
    )
    assert error_of(form(world, "bob", "get_campaign_name", campaign_id="x"), 400).startswith(
        "campaign_id"
    )
    assert form(world, "nora", "get_campaign_id", campaign_name=DEMO_CAMPAIGN).status_code == 403


# ---- .ini -------------------------------------------------------------------------------


def test_campaign_deps_ini_answers_text_that_reads_back(world: World) -> None:
    answer = form(world, "bob", "campaign_deps_ini", name=DEMO_CAMPAIGN)
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert parse_ini(answer.get_data(as_text=True)) == parse_ini(demo_ini())
    assert "name" in error_of(form(world, "bob", "campaign_deps_ini"), 400)
    assert form(world, "nora", "campaign_deps_ini", name=DEMO_CAMPAIGN).status_code == 403


def test_upload_wf_saves_the_file_and_answers_the_reference_status(world: World) -> None:
    text = analysis_ini("ann_second").encode()
    answer = world.client.post(
        "/poms/ini_to_campaign",
        data={"upload": (io.BytesIO(text), "wf.ini"), "pcl_call": "1", "replace": "1"},
        headers=world.as_("ann"),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["status"] == "201 Created"
    assert body["campaign_id"] == campaign_id(world, "ann_second")
    assert sorted(name for _, name in body["campaign_stage_ids"]) == [
        "generate",
        "reconstruct",
        "simulate",
    ]


@pytest.mark.parametrize(
    ("upload", "expected"),
    [(None, "upload: Pick the file first!"), ("[campaign]\nname=x\n", "campaign_stage")],
)
def test_a_bad_upload_is_refused_with_the_reference_status(
    world: World, upload: str | None, expected: str
) -> None:
    fields = {} if upload is None else {"upload": (io.BytesIO(upload.encode()), "wf.ini")}
    answer = world.client.post("/poms/ini_to_campaign", data=fields, headers=world.as_("ann"))
    assert expected in error_of(answer, 400)
    if upload is not None:
        assert answer.get_json()["status"] == "400 Bad Request"
    with world.db.transaction() as session:
        assert len(session.scalars(select(Campaign)).all()) == 2


def test_an_upload_into_someone_elses_campaign_is_refused(world: World) -> None:
    text = analysis_ini().encode()
    answer = world.client.post(
        "/poms/ini_to_campaign",
        data={"upload": (io.BytesIO(text), "wf.ini")},
        headers=world.as_("bob"),
    )
    assert answer.status_code == 403


# ---- active flag ------------------------------------------------------------------------


def test_mark_campaign_active_sets_the_flag_on_what_the_caller_may_change(world: World) -> None:
    demo_id, ann_id = ids(world)
    answer = form(world, "ann", "mark_campaign_active", camp_l=f"{demo_id},{ann_id}", is_active="0")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["changed"] == ["ann_study"]
    assert list(answer.get_json()["refused"]) == [DEMO_CAMPAIGN]
    again = form(world, "ann", "mark_campaign_active", campaign_id=str(ann_id), is_active="Active")
    assert again.get_json()["changed"] == ["ann_study"]
    refused = form(world, "bob", "mark_campaign_active", campaign_id=str(ann_id), is_active="0")
    assert refused.status_code == 403


def test_mark_campaign_active_needs_a_campaign(world: World) -> None:
    assert "campaign_id" in error_of(form(world, "ann", "mark_campaign_active", is_active="1"), 400)
    bad = form(world, "ann", "mark_campaign_active", camp_l="1,x", is_active="1")
    assert error_of(bad, 400).startswith("camp_l")
    unknown = form(world, "ann", "mark_campaign_active", campaign_id="9999", is_active="1")
    assert unknown.status_code == 404


# ---- tags -------------------------------------------------------------------------------


def test_tags_are_linked_searched_and_removed_as_the_client_does(world: World) -> None:
    demo_id, ann_id = ids(world)
    linked = form(world, "pat", "link_tags", campaign_id=str(demo_id), tag_name="mc2026")
    assert linked.status_code == 200, linked.get_data(as_text=True)
    body = linked.get_json()
    assert (body["campaign_id"], body["tag_name"], body["msg"]) == (str(demo_id), "mc2026", "OK")
    form(world, "ann", "link_tags", campaign_id=str(ann_id), tag_name="ana")
    found = form(world, "bob", "search_all_tags", cl=f"{demo_id},{ann_id}").get_json()
    assert found == {
        "result": [[found["result"][0][0], "ana"], [body["tag_id"], "mc2026"]],
        "msg": "OK",
    }
    complete = form(world, "bob", "auto_complete_tags_search", q="C20").get_json()
    assert complete == {"results": [{"name": "mc2026"}]}
    removed = form(
        world,
        "pat",
        "delete_campaigns_tags",
        campaign_id=str(demo_id),
        tag_id=str(body["tag_id"]),
        delete_unused_tag="1",
    )
    assert removed.get_json() == {"msg": "OK"}
    with world.db.transaction() as session:
        assert [t.tag_name for t in session.scalars(select(Tag))] == ["ana"]


def test_tagging_needs_modify_on_every_campaign_listed(world: World) -> None:
    demo_id, ann_id = ids(world)
    refused = form(world, "ann", "link_tags", campaign_id=f"{ann_id},{demo_id}", tag_name="t")
    assert refused.status_code == 403
    with world.db.transaction() as session:
        assert session.scalars(select(Tag)).all() == []
    assert "tag_name" in error_of(form(world, "ann", "link_tags", campaign_id=str(ann_id)), 400)
    assert "tag_id" in error_of(
        form(world, "ann", "delete_campaigns_tags", campaign_id=str(ann_id)), 400
    )
    assert form(world, "nora", "auto_complete_tags_search", q="x").status_code == 403


# ---- launch_campaign --------------------------------------------------------------------


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[Outcome | None]:
    """What the campaign manager 'answers' to the next launch request."""
    answers: list[Outcome | None] = []
    monkeypatch.setattr(launching, "outcome", lambda request_id: answers.pop(0))
    return answers


def test_launch_campaign_redirects_to_the_log_named_for_the_submission(
    world: World, answered: list[Outcome | None]
) -> None:
    demo_id, _ = ids(world)
    answered.append(Outcome("launched", 42, None, None))
    answer = form(world, "pat", "launch_campaign", campaign_id=str(demo_id), test_launch="True")
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.split("_")[-1] == "42"  # how the client reads the submission id
    with world.db.transaction() as session:
        [request] = session.scalars(select(LaunchRequest)).all()
        stage = session.get(CampaignStage, request.campaign_stage_id)
        assert stage is not None and stage.name == "generate"


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome("held", None, 7, None), 423),
        (Outcome("failed", None, None, "no proxy"), 400),
        (None, 202),
    ],
)
def test_launch_campaign_says_when_held_refused_or_still_pending(
    world: World, answered: list[Outcome | None], outcome: Outcome | None, status: int
) -> None:
    demo_id, _ = ids(world)
    answered.append(outcome)
    answer = form(world, "pat", "launch_campaign", campaign_id=str(demo_id))
    assert answer.status_code == status, answer.get_data(as_text=True)


def test_launch_campaign_is_refused_to_those_who_may_not_operate_it(world: World) -> None:
    demo_id, _ = ids(world)
    assert form(world, "ann", "launch_campaign", campaign_id=str(demo_id)).status_code == 403
    assert "campaign_id" in error_of(form(world, "ann", "launch_campaign"), 400)
    with world.db.transaction() as session:
        assert session.scalars(select(LaunchRequest)).all() == []


@pytest.mark.parametrize(
    ("method", "fields", "field"),
    [
        ("get_campaign_id", {"campaign_name": "a\x00"}, "campaign_name"),
        ("campaign_deps_ini", {"name": "a\x00"}, "name"),
        ("show_campaigns", {"action": "delete", "del_campaign_name": "a\x00"}, "del_campaign_name"),
        ("link_tags", {"campaign_name": "ann_study", "tag_name": "a\x00"}, "tag_name"),
        ("auto_complete_tags_search", {"q": "a\x00"}, "q"),
        ("search_all_tags", {"cl": "99999"}, "cl"),
    ],
)
def test_bad_fields_are_named_not_server_errors(
    world: World, method: str, fields: dict[str, str], field: str
) -> None:
    answer = form(world, "ann", method, **fields)
    assert answer.status_code in (400, 404), answer.get_data(as_text=True)
    assert answer.get_json()["error"]["message"].startswith(field)
