"""The campaign graph editor, server side: the page read without JavaScript, the graph
JSON it edits, and saving it — which goes the `.ini` upload's way, so a save is checked,
refused and stored exactly as an upload is (permissions, validation, all or nothing)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from people import add_people
from sqlalchemy import select

from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.session import Database
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.ini import parse_ini
from poms_shared.ini.model import CampaignSpec
from poms_shared.settings import Settings
from poms_web.app import create_app

PEOPLE = {"pat": "production", "bob": "analysis", "nora": None}


@dataclass
class Editor:
    db: Database
    client: FlaskClient
    tokens: dict[str, str]
    campaign_id: int

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def state(self, who: str = "pat") -> dict[str, Any]:
        answer = self.call(who, "GET", f"/campaigns/{self.campaign_id}/graph")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        state: dict[str, Any] = answer.get_json()
        return state

    def save(self, body: dict[str, Any], who: str = "pat", **kwargs: Any) -> Any:
        return self.call(who, "PUT", f"/campaigns/{self.campaign_id}/graph", json=body, **kwargs)

    def ini(self, name: str = DEMO_CAMPAIGN) -> str:
        answer = self.call("pat", "GET", f"/api/v1/campaigns/{name}/ini?experiment=demo")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return str(answer.get_data(as_text=True))

    def spec(self, name: str = DEMO_CAMPAIGN) -> CampaignSpec:
        return parse_ini(self.ini(name))


@pytest.fixture
def editor(database: Database, tmp_path: Path) -> Iterator[Editor]:
    """demo_mc, made by pat (production); bob is an analysis member; nora no member."""
    with database.transaction() as session:
        load_samples(session, username="pat")
        tokens = add_people(session, PEOPLE, DEMO_EXPERIMENT)
        campaign = session.scalars(select(Campaign).where(Campaign.name == DEMO_CAMPAIGN)).one()
        campaign_id = campaign.campaign_id
    client = create_app(Settings(var_dir=tmp_path, dev_user=""), database).test_client()
    yield Editor(database, client, tokens, campaign_id)


def body_of(state: dict[str, Any]) -> dict[str, Any]:
    """What the editor's script sends for the graph as loaded (nothing changed)."""
    graph = copy.deepcopy(state["graph"])
    return {
        "campaign": graph["campaign"],
        "stages": graph["stages"],
        "dependencies": graph["dependencies"],
        "login_setups": [],
        "job_types": [],
        "positions": graph["positions"],
    }


def stage_of(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in body["stages"] if s["name"] == name)
    return found


def stage_ids(editor: Editor) -> dict[str, int]:
    with editor.db.transaction() as session:
        rows = session.scalars(
            select(CampaignStage).where(CampaignStage.campaign_id == editor.campaign_id)
        )
        return {row.name: row.campaign_stage_id for row in rows}


# ---- the page -----------------------------------------------------------------------------


def test_the_page_without_javascript_shows_the_stages_and_dependencies_as_tables(
    editor: Editor,
) -> None:
    answer = editor.call("pat", "GET", f"/campaigns/{editor.campaign_id}/editor")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    stages = page.split('class="list editor-stages"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<th scope="row">(\w+)</th>', stages) == [
        "generate",
        "simulate",
        "reconstruct",
    ]
    # a stage's own value, and an inherited one shown as the campaign default
    assert "<code>--stage </code> <code>generate</code>" in stages
    assert '<td class="inherited"><code>demo_job</code></td>' in stages
    deps = page.split('class="list editor-dependencies"', 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td>(.*?)</td>", r) for r in deps.split("<tr>")[2:]]
    assert rows == [
        ["simulate", "generate", "<code>gen_%.root</code>"],
        ["reconstruct", "simulate", "<code>sim_%.root</code>"],
    ]
    assert 'class="list editor-defaults"' in page and "demo_local" in page
    assert "/static/vendor/cytoscape.min.js" in page and "/static/editor.js" in page
    assert 'id="editor" class="editor" hidden' in page  # the graph is the script's
    assert 'data-save-method="PUT"' in page and "read-only" not in page


def test_the_graph_library_is_served_from_this_server_with_its_licence(editor: Editor) -> None:
    library = editor.client.get("/static/vendor/cytoscape.min.js")
    assert library.status_code == 200 and b"Cytoscape Consortium" in library.data[:2000]
    licence = editor.client.get("/static/vendor/cytoscape.LICENSE")
    assert licence.status_code == 200 and b"Permission is hereby granted" in licence.data


def test_the_new_campaign_page_starts_with_defaults_and_no_stage(editor: Editor) -> None:
    answer = editor.call("pat", "GET", "/campaigns/new/editor")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "<em>No stages yet.</em>" in page and 'data-save-method="POST"' in page
    raw = page.split('id="editor-state">', 1)[1].split("</script>", 1)[0]
    state = json.loads(raw)
    assert state["graph"]["campaign"]["defaults"]["completion_type"] == "complete"  # §12.1
    stored = {t["name"]: t["stored"] for t in state["job_types"]}
    assert stored == {"demo_job": True, "generic": False}  # generic offered, made on save
    assert {t["kind"] for t in state["split_types"]} >= {"None", "list", "multiparam", "new"}


def test_someone_outside_the_experiment_gets_a_403_page(editor: Editor) -> None:
    answer = editor.call("nora", "GET", f"/campaigns/{editor.campaign_id}/editor")
    assert answer.status_code == 403 and answer.mimetype == "text/html"
    assert editor.call("nora", "GET", f"/campaigns/{editor.campaign_id}/graph").status_code == 403


def test_an_unknown_campaign_is_not_found(editor: Editor) -> None:
    assert editor.call("pat", "GET", "/campaigns/999999/editor").status_code == 404
    body = body_of(editor.state())
    assert editor.call("pat", "PUT", "/campaigns/999999/graph", json=body).status_code == 404


# ---- saving -------------------------------------------------------------------------------


def test_saving_the_graph_as_loaded_changes_nothing_in_the_exported_ini(editor: Editor) -> None:
    before = editor.ini()
    answer = editor.save(body_of(editor.state()))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["campaign_id"] == editor.campaign_id
    assert editor.ini() == before


def test_an_edited_graph_is_stored_as_built_and_renamed_stages_keep_their_rows(
    editor: Editor,
) -> None:
    ids = stage_ids(editor)
    body = body_of(editor.state())
    body["campaign"]["keywords"] = {"tune": "T2"}
    stage_of(body, "reconstruct")["name"] = "reco"
    stage_of(body, "simulate")["fields"]["completion_pct"] = "80"
    stage_of(body, "simulate")["fields"]["cs_split_type"] = "nfiles(5)"
    body["stages"].append(
        {"name": "calib", "was": None, "fields": {"param_overrides": [["--calib ", "yes"]]}}
    )
    body["dependencies"] = [
        {"upstream": "generate", "downstream": "simulate", "file_patterns": "gen_%.root"},
        {"upstream": "simulate", "downstream": "reco", "file_patterns": "sim_%.root"},
        {"upstream": "simulate", "downstream": "calib", "file_patterns": "%calib%.root"},
    ]
    body["positions"] = {"campaign demo_mc": [-200, 0], "generate": [0, 0], "calib": [400, 90.5]}
    answer = editor.save(body)
    assert answer.status_code == 200, answer.get_json()

    spec = editor.spec()
    assert [s.name for s in spec.stages] == ["generate", "simulate", "reco", "calib"]
    stages = {s.name: spec.resolved(s) for s in spec.stages}
    assert stages["simulate"].completion_pct == 80 and stages["simulate"].cs_split_type == (
        "nfiles(5)"
    )
    assert stages["calib"].param_overrides == (("--calib ", "yes"),)
    assert stages["calib"].job_type == "demo_job"  # the campaign default
    assert [(d.upstream, d.downstream, d.file_patterns) for d in spec.dependencies] == [
        ("generate", "simulate", "gen_%.root"),
        ("simulate", "reco", "sim_%.root"),
        ("simulate", "calib", "%calib%.root"),
    ]
    assert spec.keywords == {"tune": "T2"}
    assert spec.positions["calib"] == (400.0, 90.5)
    after = stage_ids(editor)
    assert after["reco"] == ids["reconstruct"]  # renamed in place: its history stays
    assert "reconstruct" not in after


def test_a_campaign_renamed_in_the_editor_keeps_its_id(editor: Editor) -> None:
    body = body_of(editor.state())
    body["positions"] = {**body["positions"], "campaign demo_mc": [-150, 10]}
    assert editor.save(body).status_code == 200
    body["campaign"]["name"] = "demo_renamed"
    answer = editor.save(body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["campaign_id"] == editor.campaign_id
    assert editor.spec("demo_renamed").positions["campaign demo_renamed"] == (-150.0, 10.0)
    assert [s.name for s in editor.spec("demo_renamed").stages] == [
        "generate",
        "simulate",
        "reconstruct",
    ]


def test_a_removed_stage_is_detached_and_a_stage_with_a_new_name_is_added(editor: Editor) -> None:
    ids = stage_ids(editor)
    body = body_of(editor.state())
    body["stages"] = [s for s in body["stages"] if s["name"] != "reconstruct"]
    body["dependencies"] = body["dependencies"][:1]
    assert editor.save(body).status_code == 200
    assert stage_ids(editor) == {"generate": ids["generate"], "simulate": ids["simulate"]}
    with editor.db.transaction() as session:
        assert session.get(CampaignStage, ids["reconstruct"]).campaign_id is None


def test_a_campaign_built_in_the_editor_is_created_once(editor: Editor) -> None:
    state = editor.call("pat", "GET", "/campaigns/new/editor")
    assert state.status_code == 200
    body = {
        "campaign": {
            "name": "built",
            "state": "Active",
            "keywords": {},
            "defaults": {"login_setup": "demo_local", "job_type": "demo_job"},
        },
        "stages": [
            {"name": "one", "was": None, "fields": {"stage_type": "generator"}},
            {"name": "two", "was": None, "fields": {"completion_pct": 70}},
        ],
        "dependencies": [{"upstream": "one", "downstream": "two", "file_patterns": "one_%"}],
        "login_setups": [],
        "job_types": [
            {
                "name": "built_job",
                "launch_script": "poms-demo-launch",
                "parameters": [["--x ", "1"]],
                "output_file_patterns": "%.root",
                "recoveries": [],
            }
        ],
        "positions": {"one": [0, 0], "two": [220, 0]},
    }
    stage_of(body, "two")["fields"]["job_type"] = "built_job"
    made = editor.call("pat", "POST", "/campaigns/graph?experiment=demo", json=body)
    assert made.status_code == 201, made.get_json()
    answer = made.get_json()
    assert answer["editor"] == f"/campaigns/{answer['campaign_id']}/editor?experiment=demo"
    spec = editor.spec("built")
    assert [(d.upstream, d.downstream, d.file_patterns) for d in spec.dependencies] == [
        ("one", "two", "one_%")
    ]
    assert spec.resolved(spec.stages[1]).job_type == "built_job"
    assert [j.name for j in spec.job_types] == ["built_job", "demo_job"]
    again = editor.call("pat", "POST", "/campaigns/graph?experiment=demo", json=body)
    assert again.status_code == 409
    assert again.get_json()["error"]["where"] == {"node": "campaign", "name": None, "field": "name"}


@pytest.mark.parametrize(
    ("stage", "field", "value", "code"),
    [
        ("simulate", "completion_pct", "150", "bad_ini"),
        ("simulate", "completion_pct", "many", "bad_ini"),
        ("generate", "cs_split_type", "nfiles(x)", "bad_ini"),
        ("generate", "output_ancestor_depth", "0", "bad_ini"),
        ("generate", "param_overrides", "not json", "bad_ini"),
        ("reconstruct", "job_type", "no_such_job_type", "bad_campaign"),
        ("reconstruct", "login_setup", "no_such_setup", "bad_campaign"),
    ],
)
def test_an_invalid_field_is_refused_naming_it_and_nothing_is_saved(
    editor: Editor, stage: str, field: str, value: str, code: str
) -> None:
    before = editor.ini()
    body = body_of(editor.state())
    body["campaign"]["name"] = "renamed_first"  # applied before the stage check: undone
    stage_of(body, "generate")["name"] = "gen" if stage != "generate" else "generate"
    body["dependencies"][0]["upstream"] = "gen" if stage != "generate" else "generate"
    stage_of(body, stage)["fields"][field] = value
    answer = editor.save(body)
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == code
    assert error["where"] == {"node": "stage", "name": stage, "field": field}
    assert f"campaign_stage {stage}" in error["message"] and field in error["message"]
    assert editor.ini() == before


def test_a_badly_shaped_graph_is_refused_naming_the_part(editor: Editor) -> None:
    body = body_of(editor.state())
    body["stages"][1]["fields"]["colour"] = "red"
    answer = editor.save(body)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"].startswith("stages.1.fields.colour: not a field")
    body = body_of(editor.state())
    body["dependencies"].append(
        {"upstream": "generate", "downstream": "generate", "file_patterns": "%"}
    )
    message = editor.save(body).get_json()["error"]["message"]
    assert "depends on itself" in message
    body = body_of(editor.state())
    body["campaign"]["name"] = "a/b"
    message = editor.save(body).get_json()["error"]["message"]
    assert message == "campaign.name: 'a/b' may not contain '/'"


def test_someone_who_may_not_modify_the_campaign_gets_403_and_nothing_changes(
    editor: Editor,
) -> None:
    before = editor.ini()
    page = editor.call("bob", "GET", f"/campaigns/{editor.campaign_id}/editor")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "read-only" in html and 'data-may-modify="false"' in html
    body = body_of(editor.state("bob"))
    stage_of(body, "simulate")["fields"]["completion_pct"] = "50"
    answer = editor.save(body, who="bob")
    assert answer.status_code == 403, answer.get_json()
    assert answer.get_json()["error"]["code"] == "forbidden"
    assert editor.ini() == before


def test_a_save_from_another_site_is_refused(editor: Editor) -> None:
    before = editor.ini()
    body = body_of(editor.state())
    stage_of(body, "simulate")["fields"]["completion_pct"] = "50"
    answer = editor.client.put(
        f"/campaigns/{editor.campaign_id}/graph",
        json=body,
        headers={"Origin": "https://elsewhere.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "cross_site"
    assert editor.ini() == before


def test_the_ini_a_save_would_store_can_be_previewed(editor: Editor) -> None:
    body = body_of(editor.state())
    stage_of(body, "simulate")["fields"]["completion_pct"] = 75
    answer = editor.call("pat", "POST", "/campaigns/graph/ini", json=body)
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    spec = parse_ini(answer.get_data(as_text=True))
    assert spec.resolved(spec.stages[1]).completion_pct == 75
    stage_of(body, "simulate")["fields"]["completion_type"] = "sometimes"
    refused = editor.call("pat", "POST", "/campaigns/graph/ini", json=body)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["where"]["field"] == "completion_type"
