"""``/api/v1`` campaign management: list, create, rename, clone, delete, the active flag,
tags, sample campaigns, dependencies, and the permission checks of an `.ini` upload."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from people import add_people
from sqlalchemy import func, select

from poms_shared.db.models import (
    Campaign,
    CampaignDependency,
    CampaignStage,
    CampaignTag,
    JobType,
    LoginSetup,
    Tag,
)
from poms_shared.db.session import Database
from poms_shared.db.tables import AuditEntry, Schedule
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT, demo_ini
from poms_shared.demo.load import ensure_experiment, load_samples
from poms_shared.ini import parse_ini
from poms_shared.settings import Settings
from poms_shared.testing.submissions import add_submissions
from poms_web.app import create_app

EXP = DEMO_EXPERIMENT
API = "/api/v1"
PEOPLE = {"admin": None, "pat": "production", "ann": "analysis", "bob": "analysis", "nora": None}


@dataclass
class World:
    db: Database
    client: FlaskClient
    tokens: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.open(API + path, method=method, headers=self.as_(who), **kwargs)

    def audit(self, action: str | None = None) -> int:
        with self.db.transaction() as session:
            query = select(func.count()).select_from(AuditEntry)
            if action:
                query = query.where(AuditEntry.action == action)
            return session.scalar(query) or 0

    def count(self, model: Any) -> int:
        with self.db.transaction() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0


def analysis_ini(name: str = "ann_study") -> str:
    """The demo campaign as ann's own analysis campaign with templates of her own."""
    text = demo_ini().replace(f"name={DEMO_CAMPAIGN}", f"name={name}")
    text = text.replace("poms_role=production", "poms_role=analysis")
    return text.replace("demo_local", "ann_local").replace("demo_job", "ann_job")


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[World]:
    """demo_mc (pat, production) and ann_study (ann, analysis) in experiment demo."""
    with database.transaction() as session:
        load_samples(session, username="pat")
        tokens = add_people(session, PEOPLE, EXP, roots=["admin"])
    client = create_app(Settings(var_dir=tmp_path, dev_user=""), database).test_client()
    w = World(database, client, tokens)
    made = w.call("ann", "POST", "/campaigns/ini", data=analysis_ini())
    assert made.status_code == 201, made.get_json()
    yield w


def names(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.get_json()
    return [item["name"] for item in answer.get_json()["items"]]


def submit(world: World, campaign: str) -> None:
    """Give the campaign's first stage a submission."""
    with world.db.transaction() as session:
        stage = session.scalars(
            select(CampaignStage).join(Campaign).where(Campaign.name == campaign)
        ).first()
        assert stage is not None
        add_submissions(session, stage.campaign_stage_id, 1)


def error_of(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)
    message: str = answer.get_json()["error"]["message"]
    return message


# ---- listing ----------------------------------------------------------------------------


def test_the_list_shows_active_campaigns_with_owner_role_and_tags(world: World) -> None:
    world.call("pat", "PUT", f"/campaigns/{DEMO_CAMPAIGN}/tags/mc")
    answer = world.call("bob", "GET", "/campaigns")
    body = answer.get_json()
    assert names(answer) == ["ann_study", DEMO_CAMPAIGN]
    assert (body["total"], body["page"], body["pages"]) == (2, 1, 1)
    demo = body["items"][1]
    assert demo["creator"] == "pat"
    assert demo["creator_role"] == "production"
    assert demo["tags"] == ["mc"]
    assert demo["active"] is True
    assert demo["stages"] == 3


def test_the_list_filters_by_active_mine_role_tag_and_name(world: World) -> None:
    world.call("pat", "PATCH", f"/campaigns/{DEMO_CAMPAIGN}", json={"active": False})
    world.call("ann", "PUT", "/campaigns/ann_study/tags/flux")
    assert names(world.call("ann", "GET", "/campaigns")) == ["ann_study"]
    assert names(world.call("ann", "GET", "/campaigns?active=false")) == [DEMO_CAMPAIGN]
    assert len(names(world.call("ann", "GET", "/campaigns?active=all"))) == 2
    assert names(world.call("ann", "GET", "/campaigns?active=all&mine=1")) == ["ann_study"]
    assert names(world.call("bob", "GET", "/campaigns?active=all&mine=1")) == []
    assert names(world.call("ann", "GET", "/campaigns?active=all&creator_role=production")) == [
        DEMO_CAMPAIGN
    ]
    assert names(world.call("ann", "GET", "/campaigns?tag=flux")) == ["ann_study"]
    assert names(world.call("ann", "GET", "/campaigns?active=all&q=MC")) == [DEMO_CAMPAIGN]
    assert names(world.call("ann", "GET", "/campaigns?active=all&q=%25")) == []  # literal %


def test_the_list_pages(world: World) -> None:
    answer = world.call("ann", "GET", "/campaigns?per_page=1&page=2")
    assert names(answer) == [DEMO_CAMPAIGN]
    assert answer.get_json()["pages"] == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [("active=maybe", "active"), ("creator_role=boss", "creator_role"), ("mine=x", "mine")],
)
def test_a_bad_list_filter_is_named(world: World, query: str, field: str) -> None:
    assert error_of(world.call("ann", "GET", f"/campaigns?{query}"), 400).startswith(field)


def test_a_non_member_may_not_list(world: World) -> None:
    assert world.call("nora", "GET", "/campaigns").status_code == 403


# ---- create -----------------------------------------------------------------------------


def test_creating_makes_the_campaign_and_its_default_stage(world: World) -> None:
    answer = world.call("ann", "POST", "/campaigns", json={"name": " fresh "})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["campaign"] == "fresh"
    with world.db.transaction() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.name == "fresh")).one()
        assert campaign.creator_role == "analysis"
        [stage] = campaign.stages
        assert stage.name == "stage0"
        assert (stage.completion_type, stage.completion_pct) == ("complete", 95.0)
        assert (stage.dataset, stage.software_version) == ("from_parent", "v1_0")
        assert (stage.vo_role, stage.campaign_stage_type) == ("Production", "regular")
        assert stage.param_overrides == [] and stage.default_clear_cronjob
        # no 'generic' templates anywhere yet: made for the experiment, owned by ann
        assert (stage.login_setup.name, stage.job_type.name) == ("generic", "generic")
        assert stage.login_setup.experiment == EXP
        assert stage.job_type.creator_role == "analysis"
    assert world.audit("save_ini") == 2


def test_creating_uses_the_shared_generic_templates_when_the_experiment_has_none(
    world: World,
) -> None:
    with world.db.transaction() as session:
        ensure_experiment(session, "samdev", "admin", "superuser")
        session.add(
            LoginSetup(experiment="samdev", name="generic", launch_host="h", launch_account="a")
        )
        session.add(JobType(experiment="samdev", name="generic", launch_script="true"))
    before = (world.count(LoginSetup), world.count(JobType))
    answer = world.call("pat", "POST", "/campaigns", json={"name": "uses_shared"})
    assert answer.status_code == 201, answer.get_json()
    assert (world.count(LoginSetup), world.count(JobType)) == before
    with world.db.transaction() as session:
        stage = session.get(CampaignStage, answer.get_json()["stage_ids"]["stage0"])
        assert stage is not None and stage.login_setup.experiment == "samdev"


def test_a_taken_name_is_409_and_changes_nothing(world: World) -> None:
    before = (world.count(Campaign), world.audit())
    answer = world.call("pat", "POST", "/campaigns", json={"name": DEMO_CAMPAIGN})
    assert "already exists" in error_of(answer, 409)
    assert (world.count(Campaign), world.audit()) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "ok", "role": "boss"}, "role"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
def test_bad_create_input_is_named(world: World, body: Any, field: str) -> None:
    before = world.count(Campaign)
    assert error_of(world.call("pat", "POST", "/campaigns", json=body), 400).startswith(field)
    assert world.count(Campaign) == before


def test_creating_as_a_role_one_may_not_take_is_refused(world: World) -> None:
    answer = world.call("ann", "POST", "/campaigns", json={"name": "p", "role": "production"})
    assert answer.status_code == 403
    assert world.call("nora", "POST", "/campaigns", json={"name": "n"}).status_code == 403
    assert world.count(Campaign) == 2


# ---- active flag ------------------------------------------------------------------------


def test_patching_active_changes_the_flag_and_audits_it(world: World) -> None:
    with world.db.transaction() as session:
        stage = session.scalars(
            select(CampaignStage).where(CampaignStage.name == "generate")
        ).first()
        assert stage is not None
        session.add(
            Schedule(
                campaign_stage_id=stage.campaign_stage_id, cron="0 3 * * *", scheduled_by="pat"
            )
        )
    path = f"/campaigns/{DEMO_CAMPAIGN}"
    answer = world.call("pat", "PATCH", path, json={"active": False, "clear_cron": True})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["changed"] == [DEMO_CAMPAIGN]
    assert world.audit("deactivate") == 1
    assert world.count(Schedule) == 0
    again = world.call("pat", "PATCH", path, json={"active": False}).get_json()
    assert again["unchanged"] == [DEMO_CAMPAIGN]
    assert world.audit("deactivate") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "active"), ({"active": "no"}, "active"), ({"active": True, "name": "x"}, "name")],
)
def test_a_bad_patch_is_named(world: World, body: Any, field: str) -> None:
    answer = world.call("pat", "PATCH", f"/campaigns/{DEMO_CAMPAIGN}", json=body)
    assert error_of(answer, 400).startswith(field)


def test_patching_someone_elses_campaign_is_refused(world: World) -> None:
    answer = world.call("bob", "PATCH", "/campaigns/ann_study", json={"active": False})
    assert answer.status_code == 403
    assert (
        world.call("pat", "PATCH", "/campaigns/nosuch", json={"active": False}).status_code == 404
    )
    assert world.audit("deactivate") == 0


def test_bulk_active_changes_what_it_may_and_names_the_refused(world: World) -> None:
    body = {"campaigns": [DEMO_CAMPAIGN, "ann_study"], "active": False}
    answer = world.call("ann", "POST", "/campaigns/active", json=body)
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert result["changed"] == ["ann_study"]
    assert list(result["refused"]) == [DEMO_CAMPAIGN]
    assert "production" in result["refused"][DEMO_CAMPAIGN]
    assert names(world.call("ann", "GET", "/campaigns?active=false")) == ["ann_study"]


def test_bulk_active_refused_for_all_or_naming_an_unknown_one_changes_nothing(
    world: World,
) -> None:
    refused = world.call(
        "bob", "POST", "/campaigns/active", json={"campaigns": ["ann_study"], "active": False}
    )
    assert refused.status_code == 403
    unknown = world.call(
        "ann", "POST", "/campaigns/active", json={"campaigns": ["ann_study", "x"], "active": False}
    )
    assert "x" in error_of(unknown, 404)
    assert world.audit("deactivate") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"active": False}, "campaigns"),
        ({"campaigns": [], "active": False}, "campaigns"),
        ({"campaigns": [1], "active": False}, "campaigns"),
        ({"campaigns": ["ann_study"]}, "active"),
    ],
)
def test_bad_bulk_input_is_named(world: World, body: Any, field: str) -> None:
    answer = world.call("ann", "POST", "/campaigns/active", json=body)
    assert error_of(answer, 400).startswith(field)


# ---- rename, clone, delete --------------------------------------------------------------


def test_renaming_keeps_the_campaign_under_its_new_name(world: World) -> None:
    answer = world.call("ann", "POST", "/campaigns/ann_study/rename", json={"to": "ann_flux"})
    assert answer.status_code == 200, answer.get_json()
    assert world.call("ann", "GET", "/campaigns/ann_study").status_code == 404
    detail = world.call("ann", "GET", "/campaigns/ann_flux").get_json()
    assert detail["stages"] == 3
    assert world.audit("rename") == 1


def test_renaming_onto_a_taken_name_or_badly_is_refused(world: World) -> None:
    taken = world.call(
        "pat", "POST", f"/campaigns/{DEMO_CAMPAIGN}/rename", json={"to": "ann_study"}
    )
    assert "already exists" in error_of(taken, 409)
    bad = world.call("pat", "POST", f"/campaigns/{DEMO_CAMPAIGN}/rename", json={"to": ""})
    assert error_of(bad, 400).startswith("to")
    refused = world.call("ann", "POST", f"/campaigns/{DEMO_CAMPAIGN}/rename", json={"to": "mine"})
    assert refused.status_code == 403
    assert world.audit("rename") == 0


def test_a_clone_belongs_to_whoever_cloned_it(world: World) -> None:
    answer = world.call("ann", "POST", f"/campaigns/{DEMO_CAMPAIGN}/clone", json={"to": "ann_mc"})
    assert answer.status_code == 201, answer.get_json()
    assert sorted(answer.get_json()["stage_ids"]) == ["generate", "reconstruct", "simulate"]
    listed = world.call("ann", "GET", "/campaigns?q=ann_mc").get_json()["items"]
    assert [(c["creator"], c["creator_role"]) for c in listed] == [("ann", "analysis")]
    deps = world.call("ann", "GET", "/campaigns/ann_mc/dependencies").get_json()
    assert len(deps["dependencies"]) == 2
    # templates are shared with the original, not copied
    assert world.count(LoginSetup) == 2


@pytest.mark.parametrize(
    ("body", "new"),
    [
        ({"to": "nu", "rename": "demo"}, "nu_mc"),
        ({"to": "nu", "rename": "absent"}, f"clone_of_{DEMO_CAMPAIGN}"),
    ],
)
def test_clone_names_follow_the_rename_rule(world: World, body: Any, new: str) -> None:
    answer = world.call("pat", "POST", f"/campaigns/{DEMO_CAMPAIGN}/clone", json=body)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["campaign"] == new


def test_a_clone_onto_a_taken_name_or_without_one_is_refused(world: World) -> None:
    path = f"/campaigns/{DEMO_CAMPAIGN}/clone"
    assert "already exists" in error_of(
        world.call("pat", "POST", path, json={"to": "ann_study"}), 409
    )
    assert error_of(world.call("pat", "POST", path, json={}), 400).startswith("to")
    assert world.call("nora", "POST", path, json={"to": "n"}).status_code == 403
    assert world.count(Campaign) == 2


def test_deleting_an_unsubmitted_campaign_removes_it_and_its_stages_only(world: World) -> None:
    world.call("ann", "POST", f"/campaigns/{DEMO_CAMPAIGN}/clone", json={"to": "scratch"})
    world.call("ann", "PUT", "/campaigns/scratch/tags/tmp")
    counts = (world.count(CampaignStage), world.count(CampaignDependency))
    answer = world.call("ann", "DELETE", "/campaigns/scratch")
    assert answer.status_code == 200, answer.get_json()
    assert world.call("ann", "GET", "/campaigns/scratch").status_code == 404
    assert world.count(CampaignStage) == counts[0] - 3
    assert world.count(CampaignDependency) == counts[1] - 2
    assert world.count(CampaignTag) == 0
    assert (world.count(LoginSetup), world.count(JobType)) == (2, 2)
    assert world.audit("delete") == 1


def test_a_submitted_campaign_cannot_be_deleted(world: World) -> None:
    submit(world, "ann_study")
    answer = world.call("ann", "DELETE", "/campaigns/ann_study")
    assert "submitted" in error_of(answer, 409)
    assert world.call("ann", "GET", "/campaigns/ann_study").status_code == 200


def test_only_those_who_may_modify_may_delete(world: World) -> None:
    assert world.call("bob", "DELETE", "/campaigns/ann_study").status_code == 403
    assert world.call("ann", "DELETE", f"/campaigns/{DEMO_CAMPAIGN}").status_code == 403
    assert world.call("ann", "DELETE", "/campaigns/nosuch").status_code == 404
    assert world.count(Campaign) == 2


def test_dependencies_list_stages_edges_and_the_leading_stage(world: World) -> None:
    deps = world.call("bob", "GET", f"/campaigns/{DEMO_CAMPAIGN}/dependencies").get_json()
    assert [(s["name"], s["leading"]) for s in deps["stages"]] == [
        ("generate", True),
        ("simulate", False),
        ("reconstruct", False),
    ]
    edges = {(d["upstream"], d["downstream"], d["file_patterns"]) for d in deps["dependencies"]}
    assert edges == {
        ("generate", "simulate", "gen_%.root"),
        ("simulate", "reconstruct", "sim_%.root"),
    }
    assert world.call("nora", "GET", f"/campaigns/{DEMO_CAMPAIGN}/dependencies").status_code == 403


# ---- tags -------------------------------------------------------------------------------


def test_tagging_makes_the_tag_once_and_untagging_can_drop_it(world: World) -> None:
    first = world.call("ann", "PUT", "/campaigns/ann_study/tags/Flux 2026")
    assert first.status_code == 200 and first.get_json()["linked"] is True
    again = world.call("ann", "PUT", "/campaigns/ann_study/tags/Flux 2026").get_json()
    assert again["linked"] is False and again["tag_id"] == first.get_json()["tag_id"]
    world.call("pat", "PUT", f"/campaigns/{DEMO_CAMPAIGN}/tags/Flux 2026")
    found = world.call("bob", "GET", "/tags?q=flux").get_json()
    assert [(t["tag_name"], t["campaigns"]) for t in found["items"]] == [
        ("Flux 2026", ["ann_study", DEMO_CAMPAIGN])
    ]
    kept = world.call("ann", "DELETE", "/campaigns/ann_study/tags/Flux 2026?delete_unused=1")
    assert kept.get_json()["tag_deleted"] is False  # demo_mc still carries it
    gone = world.call("pat", "DELETE", f"/campaigns/{DEMO_CAMPAIGN}/tags/Flux 2026?delete_unused=1")
    assert gone.get_json()["tag_deleted"] is True
    assert world.count(Tag) == 0
    assert world.audit("tag") == 2 and world.audit("untag") == 2


def test_untagging_without_delete_unused_keeps_the_tag(world: World) -> None:
    world.call("ann", "PUT", "/campaigns/ann_study/tags/keep")
    assert world.call("ann", "DELETE", "/campaigns/ann_study/tags/keep").status_code == 200
    assert world.count(Tag) == 1
    again = world.call("ann", "DELETE", "/campaigns/ann_study/tags/keep")
    assert "no tag" in error_of(again, 404)


def test_tags_need_modify_permission_and_a_sensible_name(world: World) -> None:
    assert world.call("bob", "PUT", "/campaigns/ann_study/tags/x").status_code == 403
    long = world.call("ann", "PUT", f"/campaigns/ann_study/tags/{'x' * 101}")
    assert error_of(long, 400).startswith("tag")
    assert world.count(Tag) == 0
    assert world.call("nora", "GET", "/tags").status_code == 403


# ---- samples ----------------------------------------------------------------------------


def test_samples_are_listed_and_served_as_ini(world: World) -> None:
    listed = world.call("bob", "GET", "/sample-campaigns").get_json()
    by_name = {s["name"]: s for s in listed["items"]}
    assert by_name["sample_generate"]["stages"] == ["generate"]
    assert by_name["sample_chain"]["stages"] == ["generate", "simulate"]
    text = world.call("bob", "GET", "/sample-campaigns/sample_chain")
    assert text.mimetype == "text/plain"
    assert len(parse_ini(text.get_data(as_text=True)).dependencies) == 1
    assert world.call("bob", "GET", "/sample-campaigns/nosuch").status_code == 404


def test_cloning_a_sample_makes_a_campaign_and_the_templates_it_lacks(world: World) -> None:
    answer = world.call("ann", "POST", "/sample-campaigns/sample_chain/clone", json={"to": "nu"})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["campaign"] == "nu_chain"
    listed = world.call("ann", "GET", "/campaigns?q=nu_chain").get_json()["items"]
    assert [(c["creator"], c["stages"]) for c in listed] == [("ann", 2)]
    with world.db.transaction() as session:
        setup = session.scalars(select(LoginSetup).where(LoginSetup.name == "generic")).one()
        assert (setup.experiment, setup.creator_role) == (EXP, "analysis")
    twice = world.call("ann", "POST", "/sample-campaigns/sample_chain/clone", json={"to": "nu"})
    assert twice.status_code == 409
    bad = world.call("ann", "POST", "/sample-campaigns/sample_chain/clone", json={"to": ""})
    assert error_of(bad, 400).startswith("to")


# ---- .ini upload: templates the file changes ------------------------------------------


def production_ini_using(setup_host: str) -> str:
    """pat's demo campaign, also describing ann's login setup ann_local."""
    section = f"\n[login_setup ann_local]\nhost={setup_host}\naccount=poms\nsetup=\n"
    return demo_ini() + section


def test_an_upload_may_not_change_a_template_the_uploader_may_not_modify(world: World) -> None:
    with world.db.transaction() as session:
        stored = session.scalars(select(LoginSetup).where(LoginSetup.name == "ann_local")).one()
        host, account, setup = stored.launch_host, stored.launch_account, stored.launch_setup
    before = world.audit()
    changed = world.call("pat", "POST", "/campaigns/ini", data=production_ini_using("evil.host"))
    message = error_of(changed, 403)
    assert "[login_setup ann_local]" in message
    assert world.audit() == before
    # repeating the stored settings changes nothing, so it is allowed
    same = (
        demo_ini() + f"\n[login_setup ann_local]\nhost={host}\naccount={account}\nsetup={setup}\n"
    )
    assert world.call("pat", "POST", "/campaigns/ini", data=same).status_code == 201
    # the owner may
    ann_file = analysis_ini() + "\n"
    ann_file = ann_file.replace("host=localhost", "host=other.host")
    assert world.call("ann", "POST", "/campaigns/ini", data=ann_file).status_code == 201


def test_a_job_type_the_file_changes_is_checked_too(world: World) -> None:
    text = demo_ini() + "\n[job_type ann_job]\nlaunch_script=rm -rf /\n"
    assert "[job_type ann_job]" in error_of(
        world.call("pat", "POST", "/campaigns/ini", data=text), 403
    )
    assert world.call("admin", "POST", "/campaigns/ini", data=text).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/campaigns?q=a%00", None, "q"),
        ("GET", "/campaigns?tag=a%00", None, "tag"),
        ("GET", "/tags?q=a%00", None, "q"),
        ("GET", "/campaigns/a%00/dependencies", None, "name"),
        ("DELETE", "/campaigns/ann_study/tags/a%00", None, "tag"),
        ("POST", "/campaigns/active", {"campaigns": ["a\x00"], "active": True}, "campaigns"),
        ("POST", "/campaigns", {"name": "a\x00"}, "name"),
    ],
)
def test_a_nul_character_is_bad_input_not_a_server_error(
    world: World, method: str, path: str, body: Any, field: str
) -> None:
    """PostgreSQL refuses NUL in text, so it must be turned away before a query."""
    answer = world.call("ann", method, path, json=body)
    assert error_of(answer, 400).startswith(field)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/campaigns/a%00"),
        ("GET", "/campaigns/a%00/ini"),
        ("POST", "/campaigns/a%00/launch"),
    ],
)
def test_a_nul_in_a_campaign_path_is_bad_input(world: World, method: str, path: str) -> None:
    assert error_of(world.call("pat", method, path), 400).startswith("name")
