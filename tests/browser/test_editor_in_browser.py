"""The campaign graph editor in headless Chromium against the real services: a campaign
built with the forms (stages added, connected with a file pattern, fields set through
the split-type picker, the combinations editor and the key/value editors) is saved and
its exported `.ini` says what was built; ``*N`` and ``name*N`` add stages as the
reference's rule names them (§12.13)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from dialogs import accept_dialogs

from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.ini import parse_ini
from poms_shared.testing.stack import DistributedStack

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency").expect


def open_editor(page: Any, url: str) -> None:
    page.goto(url)
    expect(page.locator("#editor[data-ready='true']")).to_be_visible()
    expect(page.locator(".editor-tables")).to_be_hidden()


def panel(page: Any) -> Any:
    return page.locator("#panel")


def tool(page: Any, name: str) -> Any:
    return page.locator(".toolbar").get_by_role("button", name=name, exact=True)


def field(page: Any, key: str) -> Any:
    return page.locator(f"#panel .field[data-field='{key}']")


def add_stage(page: Any, text: str) -> None:
    tool(page, "Add stage").click()
    panel(page).get_by_label("New stage name", exact=True).fill(text)
    page.locator("#panel").get_by_role("button", name="Add", exact=True).click()


def overview(page: Any, kind: str) -> list[str]:
    tool(page, "Overview").click()
    return [t.strip() for t in page.locator(f"#panel ul.overview-{kind} button").all_inner_texts()]


def pick_overview(page: Any, kind: str, name: str) -> None:
    tool(page, "Overview").click()
    page.locator(f"#panel ul.overview-{kind}").get_by_role("button", name=name, exact=True).click()


def positions(page: Any) -> dict[str, list[int]]:
    """Node positions as a save would send them (by node label)."""
    found: dict[str, list[int]] = page.evaluate(
        "() => document.getElementById('editor').drawing.positions()"
    )
    return found


def drag(page: Any, label: str, dx: int, dy: int) -> None:
    """Drag the node with this label by (dx, dy) screen pixels, as a person would."""
    at = page.evaluate(
        """label => document.getElementById('editor').drawing.cy.nodes()
             .filter(n => n.data('label') === label).renderedPosition()""",
        label,
    )
    box = page.locator("#graph").bounding_box()
    x, y = box["x"] + at["x"], box["y"] + at["y"]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=8)
    page.mouse.up()


def start_campaign(page: Any, poms: DistributedStack, name: str) -> None:
    """A new campaign in the editor: name and the demo's templates as defaults."""
    open_editor(page, f"{poms.web_url}/campaigns/new/editor")
    expect(page.locator("#panel form.campaign-form")).to_be_visible()
    panel(page).get_by_label("Campaign name", exact=True).fill(name)
    field(page, "login_setup").locator("select").select_option("demo_local")
    field(page, "job_type").locator("select").select_option("demo_job")


def test_a_two_stage_campaign_built_in_the_editor_is_saved_and_exported_as_built(page, poms):
    name = "browser_built"
    start_campaign(page, poms, name)
    field(page, "software_version").locator("input").fill("v2_0")
    keywords = field(page, "campaign_keywords")
    keywords.get_by_role("button", name="Add keyword").click()
    keywords.locator("input.key").fill("tune")
    keywords.locator("input.value").fill("T9")

    # the first stage: a generator with its own overrides and multiparam combinations
    add_stage(page, "gen")
    expect(panel(page).get_by_label("Stage name", exact=True)).to_have_value("gen")
    field(page, "stage_type").locator("select").select_option("generator")
    overrides = field(page, "param_overrides")
    overrides.get_by_role("checkbox").uncheck()
    overrides.get_by_role("button", name="Add pair").click()
    overrides.locator("input.key").fill("--stage ")
    overrides.locator("input.value").fill("gen")
    panel(page).get_by_label("Split type", exact=True).select_option("multiparam")
    expect(field(page, "cs_split_type").locator(".split-help")).to_contain_text("combination")
    field(page, "dataset_or_split_data").get_by_role("button", name="Edit combinations…").click()
    panel(page).get_by_label("list 1, one value per line", exact=True).fill("electron\nmuon")
    page.get_by_role("button", name="Add list").click()
    panel(page).get_by_label("list 2, one value per line", exact=True).fill("1GeV\n3GeV")
    expect(page.locator(".multiparam-editor .note")).to_contain_text(
        "4 combinations: electron_1GeV, muon_1GeV, electron_3GeV, muon_3GeV"
    )
    page.get_by_role("button", name="Apply").click()
    combos = '[["electron","muon"],["1GeV","3GeV"]]'
    expect(field(page, "dataset_or_split_data").locator("input")).to_have_value(combos)

    # the second stage, unconnected; a bad percentage is shown next to its field
    tool(page, "Overview").click()
    add_stage(page, "sim")
    percent = field(page, "completion_pct")
    percent.locator("input").fill("150")
    percent.locator("input").blur()
    expect(percent.locator("output.field-error")).to_have_text("a number above 0 and at most 100")
    tool(page, "Save").click()
    expect(page.locator("#editor-status")).to_contain_text("Fix 1 item(s) first: sim")
    percent = field(page, "completion_pct")
    percent.locator("input").fill("80")
    percent.locator("input").blur()
    expect(percent.locator("output.field-error")).to_be_empty()
    panel(page).get_by_label("Split type", exact=True).select_option("nfiles")
    panel(page).get_by_label("split parameter n", exact=True).fill("5")
    field(page, "dataset_or_split_data").locator("input").fill("gen_output")

    # connected with a file pattern
    tool(page, "Connect").click()
    panel(page).get_by_label("Upstream stage", exact=False).select_option(label="gen")
    panel(page).get_by_label("Downstream stage", exact=False).select_option(label="sim")
    panel(page).get_by_label("File patterns", exact=True).fill("gen_%.root")
    page.locator("#panel").get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#panel form.dependency-form h2")).to_have_text("Dependency gen → sim")
    assert overview(page, "dependencies") == ["gen → sim: gen_%.root"]

    # moved by hand: the position is saved
    before = positions(page)["sim"]
    drag(page, "sim", 40, 90)
    moved = positions(page)["sim"]
    assert moved != before

    tool(page, "Save").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/editor"))
    open_editor(page, page.url)
    assert overview(page, "stages") == ["gen", "sim"]
    assert positions(page)["sim"] == moved

    ini = page.request.get(f"{poms.web_url}/api/v1/campaigns/{name}/ini").text()
    spec = parse_ini(ini)
    assert [s.name for s in spec.stages] == ["gen", "sim"]
    gen, sim = (spec.resolved(s) for s in spec.stages)
    assert (gen.stage_type, gen.cs_split_type) == ("generator", "multiparam")
    assert gen.param_overrides == (("--stage ", "gen"),)
    assert gen.dataset_or_split_data == combos
    assert (sim.completion_pct, sim.cs_split_type, sim.dataset_or_split_data) == (
        80,
        "nfiles(5)",
        "gen_output",
    )
    for stage in (gen, sim):
        assert (stage.login_setup, stage.job_type, stage.software_version) == (
            "demo_local",
            "demo_job",
            "v2_0",
        )
    assert [(d.upstream, d.downstream, d.file_patterns) for d in spec.dependencies] == [
        ("gen", "sim", "gen_%.root")
    ]
    assert spec.keywords == {"tune": "T9"}
    assert {"gen", "sim", f"campaign {name}"} <= set(spec.positions)
    assert spec.positions["sim"] == (float(moved[0]), float(moved[1]))


def test_star_n_copies_a_stage_and_name_star_n_adds_stages_after_it(page, poms):
    asked = accept_dialogs(page)
    start_campaign(page, poms, DEMO_CAMPAIGN)  # a name already taken, to see the refusal
    add_stage(page, "reco")
    field(page, "completion_pct").locator("input").fill("70")

    add_stage(page, "*2")  # with reco selected: two copies of it
    expect(panel(page).get_by_label("Stage name", exact=True)).to_have_value("reco_0")
    expect(field(page, "completion_pct").locator("input")).to_have_value("70")
    assert overview(page, "stages") == ["reco", "reco_0", "reco_1"]
    assert overview(page, "dependencies") == []  # copies take no dependency

    pick_overview(page, "stages", "reco")
    add_stage(page, "ana*2")  # two new stages taking files from reco
    expect(panel(page).get_by_label("Stage name", exact=True)).to_have_value("ana_0")
    expect(field(page, "completion_pct").locator("input")).to_have_value("")
    assert overview(page, "stages") == ["reco", "reco_0", "reco_1", "ana_0", "ana_1"]
    assert overview(page, "dependencies") == ["reco → ana_0: %", "reco → ana_1: %"]

    pick_overview(page, "stages", "reco")
    add_stage(page, "*2")  # reco_0 and reco_1 exist: nothing is added
    expect(page.locator("#panel .add-stage-form output.field-error")).to_contain_text(
        "another stage is named reco_0"
    )

    tool(page, "Show .ini").click()
    text = page.locator("#panel pre.ini").inner_text()
    preview = parse_ini(text)
    copies = {s.name: preview.resolved(s).completion_pct for s in preview.stages}
    assert copies == {"reco": 70, "reco_0": 70, "reco_1": 70, "ana_0": 95, "ana_1": 95}

    pick_overview(page, "stages", "reco_1")
    tool(page, "Delete").click()
    assert asked[-1].startswith("Delete stage reco_1")
    assert overview(page, "stages") == ["reco", "reco_0", "ana_0", "ana_1"]

    tool(page, "Save").click()  # the name is taken: the error is shown at the name
    expect(page.locator("#editor-status")).to_contain_text("already exists")
    name_error = page.locator("#panel form.campaign-form .field[data-field='name'] output")
    expect(name_error).to_contain_text(f"a campaign named '{DEMO_CAMPAIGN}' already exists")
    panel(page).get_by_label("Campaign name", exact=True).fill("browser_clones")
    tool(page, "Save").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/editor"))
    spec = parse_ini(page.request.get(f"{poms.web_url}/api/v1/campaigns/browser_clones/ini").text())
    assert [s.name for s in spec.stages] == ["reco", "reco_0", "ana_0", "ana_1"]


def test_job_types_and_login_setups_made_in_the_editor_are_created_on_save(page, poms):
    asked = accept_dialogs(page)
    name = "browser_templates"
    start_campaign(page, poms, name)
    add_stage(page, "only")

    tool(page, "New job type").click()
    expect(panel(page).locator("h2")).to_have_text("Job type new_job_type_1")
    panel(page).get_by_label("Name", exact=True).fill("browser_job")
    panel(page).get_by_label("Name", exact=True).blur()
    panel(page).get_by_label("Launch script", exact=True).fill("poms-demo-launch --fast")
    parameters = field(page, "parameters")
    parameters.get_by_role("button", name="Add pair").click()
    parameters.locator("input.key").fill("--jobs ")
    parameters.locator("input.value").fill("1")
    pick_overview(page, "stages", "only")
    field(page, "job_type").locator("select").select_option("browser_job")

    # a stored login setup is not changed in place: it is copied under a new name
    pick_overview(page, "login-setups", "demo_local")
    expect(panel(page).get_by_label("Host", exact=True)).to_be_disabled()
    panel(page).get_by_label("Copy as a new login setup", exact=True).fill("browser_local")
    panel(page).get_by_role("button", name="Copy", exact=True).click()
    assert asked[-1] == "Switch only from demo_local to browser_local?"
    panel(page).get_by_label("Account", exact=True).fill("tester")
    assert overview(page, "login-setups") == ["browser_local"]
    assert overview(page, "job-types") == ["demo_job", "browser_job"]

    tool(page, "Save").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/editor"))
    spec = parse_ini(page.request.get(f"{poms.web_url}/api/v1/campaigns/{name}/ini").text())
    only = spec.resolved(spec.stages[0])
    assert (only.job_type, only.login_setup) == ("browser_job", "browser_local")
    [job] = [j for j in spec.job_types if j.name == "browser_job"]
    assert (job.launch_script, job.parameters) == ("poms-demo-launch --fast", (("--jobs ", "1"),))
    [setup] = spec.login_setups
    assert (setup.name, setup.account) == ("browser_local", "tester")
