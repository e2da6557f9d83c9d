"""Campaign .ini reading, validation and writing (reference §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from poms_shared.ini import (
    CampaignSpec,
    DependencySpec,
    IniError,
    JobTypeSpec,
    LoginSetupSpec,
    StageFields,
    StageSpec,
    parse_ini,
    write_ini,
)

# The complete example of reference §7.5.
EXAMPLE = (Path(__file__).parents[1] / "data" / "nu_flux_2025.ini").read_text()


def _regular(overrides: list[list[str]], **more: Any) -> StageFields:
    return StageFields(
        param_overrides=tuple((key, value) for key, value in overrides),
        merge_overrides=False,
        stage_type="regular",
        default_clear_cronjob=True,
        **more,
    )


EXPECTED_EXAMPLE = CampaignSpec(
    name="nu_flux_2025",
    experiment="examplex",
    poms_role="production",
    state_active=True,
    keywords={"tune": "T7", "beam": "fhc"},
    defaults=StageFields(
        vo_role="Production",
        software_version="v2_4_1",
        dataset_or_split_data="from_parent",
        cs_split_type="None",
        default_clear_cronjob=True,
        completion_type="located",
        completion_pct=90,
        param_overrides=(),
        test_param_overrides=(("-Osubmit.N=", "2"),),
        merge_overrides=False,
        login_setup="examplex_prod_login",
        job_type="examplex_fife_generic",
        stage_type="regular",
        output_ancestor_depth=1,
    ),
    positions={
        "campaign nu_flux_2025": (-400, 0),
        "gen": (-150, 0),
        "sim": (100, 0),
        "reco": (350, -60),
        "calib": (350, 60),
    },
    stages=(
        StageSpec(
            "gen",
            StageFields(
                stage_type="generator",
                dataset_or_split_data='[["nue","numu"],["1GeV","3GeV"]]',
                cs_split_type="multiparam",
                completion_type="complete",
                param_overrides=(
                    ("--stage=", "gen"),
                    ("-Oglobal.config=", "%(parameter)s_%(tune)s"),
                    ("-Osubmit.N=", "20"),
                ),
                merge_overrides=False,
                default_clear_cronjob=True,
            ),
        ),
        StageSpec("sim", _regular([["--stage=", "sim"], ["-Oglobal.sam_dataset=", "%(dataset)s"]])),
        StageSpec(
            "reco",
            _regular(
                [
                    ["--stage=", "reco"],
                    ["-Oglobal.sam_dataset=", "%(dataset)s"],
                    ["-Oglobal.release=", "%(version)s"],
                ]
            ),
        ),
        StageSpec(
            "calib",
            _regular(
                [["-Oglobal.sam_dataset=", "%(dataset)s"]],
                job_type="examplex_calib",
                completion_pct=100,
            ),
        ),
    ),
    login_setups=(
        LoginSetupSpec(
            "examplex_prod_login",
            host="%(experiment)sgpvm03.example.org",
            account="%(experiment)spro",
            setup="source /cvmfs/examplex/setup.sh; setup examplexcode %(version)s",
        ),
    ),
    job_types=(
        JobTypeSpec(
            "examplex_fife_generic",
            launch_script="fife_launch -c /examplex/app/poms/generic.cfg",
            parameters=(("-Oglobal.experiment=", "%(experiment)s"), ("-Osubmit.N=", "10")),
            output_file_patterns="%.root",
            recoveries=(
                ("consumed_status", ()),
                ("process_status", (("-Osubmit.memory=", "4000MB"),)),
            ),
        ),
        JobTypeSpec(
            "examplex_calib",
            launch_script="fife_launch -c /examplex/app/poms/calib.cfg",
            output_file_patterns="%calib%.root,data_tier 'calibrated'",
        ),
    ),
    dependencies=(
        DependencySpec("gen", "sim", "gen_%.root"),
        DependencySpec("sim", "reco", "sim_%.root"),
        DependencySpec("sim", "calib", "sim_%.root"),
    ),
)


def test_reference_example_parses_to_the_expected_spec() -> None:
    assert parse_ini(EXAMPLE) == EXPECTED_EXAMPLE


def test_reference_example_writes_back_to_its_own_text() -> None:
    # Only the comment, the keyword order and the node order differ from the hand-written file.
    written = write_ini(parse_ini(EXAMPLE))
    assert 'campaign_keywords={"beam": "fhc", "tune": "T7"}' in written
    assert "recoveries = [[" in written
    assert "[campaign_stage calib]\ncompletion_pct=100\n" in written
    assert parse_ini(written) == EXPECTED_EXAMPLE


# ---- validation --------------------------------------------------------------------------

MINIMAL = """\
[campaign]
name=c1
{campaign}
[campaign_defaults]
login_setup=ls
job_type=jt
{defaults}
[campaign_stage gen]
{gen}
[campaign_stage sim]
vo_role=Production
{sim}
{extra}
"""


def _file(
    campaign: str = "", defaults: str = "", gen: str = "", sim: str = "", extra: str = ""
) -> str:
    return MINIMAL.format(campaign=campaign, defaults=defaults, gen=gen, sim=sim, extra=extra)


SIM = "campaign_stage sim"
DEPS = "[dependencies sim]\n"
ERROR_CASES = [
    pytest.param(_file(sim="completion_pct=abc"), SIM, "completion_pct",
                 "must be a number between 0 and 100, got 'abc'", id="pct-text"),
    pytest.param(_file(sim="completion_pct=0"), SIM, "completion_pct", "between 0 and 100",
                 id="pct-zero"),
    pytest.param(_file(sim="completion_pct=100.5"), SIM, "completion_pct", "between 0 and 100",
                 id="pct-over"),
    pytest.param(_file(sim="completion_type=done"), SIM, "completion_type",
                 "must be one of located, complete, got 'done'", id="completion-type"),
    pytest.param(_file(sim="stage_type=datahandling"), SIM, "stage_type",
                 "must be one of test, generator, approval, regular, datatransfer",
                 id="stage-type"),
    pytest.param(_file(sim="merge_overrides=yes"), SIM, "merge_overrides",
                 "must be True or False, got 'yes'", id="bool"),
    pytest.param(_file(defaults="default_clear_cronjob=1"), "campaign_defaults",
                 "default_clear_cronjob", "must be True or False", id="bool-defaults"),
    pytest.param(_file(sim="output_ancestor_depth=0"), SIM, "output_ancestor_depth",
                 "whole number of at least 1", id="depth-zero"),
    pytest.param(_file(sim="output_ancestor_depth=1.5"), SIM, "output_ancestor_depth",
                 "whole number of at least 1", id="depth-fraction"),
    pytest.param(_file(sim="param_overrides=[[a, b]]"), SIM, "param_overrides",
                 "must be a JSON list of [key, value] pairs", id="pairs-not-json"),
    pytest.param(_file(sim='param_overrides={"a": "b"}'), SIM, "param_overrides",
                 "must be a JSON list of [key, value] pairs", id="pairs-object"),
    pytest.param(_file(sim='test_param_overrides=[["a"]]'), SIM, "test_param_overrides",
                 "must be a JSON list of [key, value] pairs", id="pairs-short"),
    pytest.param(_file(sim='param_overrides=[["a", ["b"]]]'), SIM, "param_overrides",
                 "plain values", id="pairs-nested"),
    pytest.param(_file(sim="completion_pc=90"), SIM, "completion_pc", "unknown key",
                 id="unknown-stage-key"),
    pytest.param(MINIMAL.replace("job_type=jt\n", "").format(campaign="", defaults="", gen="",
                 sim="", extra=""), "campaign_stage gen", "job_type",
                 "not set here nor in [campaign_defaults]", id="no-job-type"),
    pytest.param(MINIMAL.replace("login_setup=ls\n", "").format(campaign="", defaults="", gen="",
                 sim="", extra=""), "campaign_stage gen", "login_setup",
                 "not set here nor in [campaign_defaults]", id="no-login-setup"),
    pytest.param(_file(campaign="state=Paused"), "campaign", "state",
                 "must be Active or Inactive", id="state"),
    pytest.param(_file(campaign="campaign_keywords=[1]"), "campaign", "campaign_keywords",
                 "must be a JSON object", id="keywords-list"),
    pytest.param(_file(defaults="campaign_keywords={oops"), "campaign_defaults",
                 "campaign_keywords", "must be a JSON object", id="keywords-defaults"),
    pytest.param(_file().replace("name=c1\n", "experiment=x\n"), "campaign", "name",
                 "missing required key", id="no-name"),
    pytest.param(_file(extra=DEPS + "campaign_stage_1 = nope\nfile_pattern_1 = %"),
                 "dependencies sim", "campaign_stage_1", "unknown stage 'nope'", id="dep-unknown"),
    pytest.param(_file(extra=DEPS + "campaign_stage_1 = gen"), "dependencies sim",
                 "campaign_stage_1", "no matching file_pattern_1", id="dep-no-pattern"),
    pytest.param(_file(extra=DEPS + "campaign_stage_1 = gen\nfile_pattern_1 = %\nfile_pattern_2 ="),
                 "dependencies sim", "file_pattern_2", "no matching campaign_stage_2",
                 id="dep-no-stage"),
    pytest.param(_file(extra=DEPS + "stage_1 = gen"), "dependencies sim", "stage_1",
                 "unknown key", id="dep-bad-key"),
    pytest.param(_file(extra="[dependencies reco]\ncampaign_stage_1 = gen\nfile_pattern_1 = %"),
                 "dependencies reco", None, "no [campaign_stage reco] section",
                 id="dep-downstream"),
    pytest.param(_file(extra="[launch_template ls]\nhost=h"), "launch_template ls", None,
                 "unknown kind of section", id="section-kind"),
    pytest.param(_file(extra="[job_type]\nlaunch_script=x"), "job_type", None,
                 "needs a name", id="section-no-name"),
    pytest.param(_file(extra="[node_positions]\nnxy0=[1, 2, 3]"), "node_positions", "nxy0",
                 'must be a JSON list ["<node label>", x, y]', id="position"),
    pytest.param(_file(extra="[node_positions]\nxy0=[\"gen\", 2, 3]"), "node_positions", "xy0",
                 "unknown key (expected nxy<N>)", id="position-key"),
    pytest.param(_file(extra="[login_setup ls]\naccount=a"), "login_setup ls", "host",
                 "missing required key", id="login-host"),
    pytest.param(_file(extra="[job_type jt]\nparameters=[]"), "job_type jt", "launch_script",
                 "missing required key", id="job-script"),
    pytest.param(_file(extra="[job_type jt]\nlaunch_script=x\nrecoveries=[\"added_files\"]"),
                 "job_type jt", "recoveries", "[recovery type, [[key, value], ...]]",
                 id="recoveries"),
    pytest.param(_file(extra="[campaign_stage  gen ]\nvo_role=x"), "campaign_stage  gen ", None,
                 "stage 'gen' is defined twice", id="stage-twice"),
    pytest.param(_file(sim="cs_split_type=bysize(3)"), "campaign_stage sim", "cs_split_type",
                 "unknown split type 'bysize'", id="split-unknown"),
    pytest.param(_file(sim="cs_split_type=nfiles(ten)"), "campaign_stage sim", "cs_split_type",
                 "unable to parse integer parameter 'ten'", id="split-params"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "section", "key", "message"), ERROR_CASES)
def test_invalid_files_are_refused_naming_section_and_key(
    text: str, section: str, key: str | None, message: str
) -> None:
    with pytest.raises(IniError) as caught:
        parse_ini(text)
    assert caught.value.section == section
    assert caught.value.key == key
    assert message in caught.value.message
    where = f"[{section}] " + (f"{key}: " if key else "")
    assert str(caught.value).startswith(where)


def test_error_text_names_section_and_key() -> None:
    with pytest.raises(IniError) as caught:
        parse_ini(_file(sim="completion_pct=abc"))
    assert str(caught.value) == (
        "[campaign_stage sim] completion_pct: must be a number between 0 and 100, got 'abc'"
    )
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name=x\n", "Bad file format at line 1"),
        ("[campaign]\nname=x\njust words\n", "Bad file format at line 3"),
        ("[campaign]\nname=x\nname=y\n", "Bad file format at line 3: key given twice"),
        ("[campaign_stage a]\nvo_role=x\n", "no [campaign] section"),
        ("[campaign]\nname=x\n", "needs at least one stage"),
    ],
)
def test_file_level_errors(text: str, message: str) -> None:
    with pytest.raises(IniError, match=message.replace("[", r"\[")):
        parse_ini(text)


# ---- compatibility and verbatim values -------------------------------------------------


def test_values_are_verbatim_and_semicolons_are_not_comments() -> None:
    spec = parse_ini(
        _file(
            sim='param_overrides=[["-Oa=", "%(dataset)s"], ["-Ob=", "100%%"]]',
            extra="[login_setup ls]\nhost=h\naccount=a\nsetup=a; b ;c # not a comment\n"
            "# a comment line\n"
            "[dependencies sim]\ncampaign_stage_1 = gen\nfile_pattern_1 = %%trig%%",
        )
    )
    stage = {s.name: s for s in spec.stages}["sim"]
    assert stage.fields.param_overrides == (("-Oa=", "%(dataset)s"), ("-Ob=", "100%%"))
    assert spec.login_setups[0].setup == "a; b ;c # not a comment"
    assert spec.dependencies == (DependencySpec("gen", "sim", "%%trig%%"),)


def test_original_exporter_quirks_are_accepted() -> None:
    spec = parse_ini(
        _file(
            defaults="completion_pct=None\ncompletion_type=None\n"
            'campaign_keywords={"k": "v"}\ntest_param_overrides=None',
            gen='param_overrides="[]"\nstate=Active',
        )
    )
    assert spec.defaults.completion_pct is None and spec.defaults.completion_type is None
    assert spec.keywords == {"k": "v"}  # taken from the defaults when [campaign] has none
    assert spec.stages[0].fields.param_overrides == ()


def test_campaign_keywords_and_state_are_read_from_the_campaign_section() -> None:
    spec = parse_ini(_file(campaign='state=Inactive\ncampaign_keywords={"a": "1"}'))
    assert spec.state_active is False
    assert spec.keywords == {"a": "1"}


def test_section_names_may_use_tabs_and_extra_blanks() -> None:
    spec = parse_ini(_file().replace("[campaign_stage gen]", "[campaign_stage\t  gen ]"))
    assert [stage.name for stage in spec.stages] == ["gen", "sim"]


def test_keys_keep_their_case() -> None:
    # A case-folding reader would accept VO_ROLE as vo_role; keys are names, so it is refused.
    with pytest.raises(IniError) as caught:
        parse_ini(_file(sim="VO_ROLE=Analysis"))
    assert caught.value.key == "VO_ROLE"


# ---- writing and round trips -------------------------------------------------------------

ROUND_TRIP_SPECS = [
    pytest.param(EXPECTED_EXAMPLE, id="reference-example"),
    pytest.param(
        CampaignSpec(
            name="percent; and semicolons",
            keywords={"pattern": "%%(x)s;100%", "n": 3, "nested": {"a": [1, 2]}},
            defaults=StageFields(login_setup="ls", job_type="jt", cs_split_type="nfiles(10)"),
            stages=(StageSpec("only", StageFields(param_overrides=(("-Oa=", "%(dataset)s;%%"),))),),
            login_setups=(LoginSetupSpec("ls", "h%(experiment)s", "a", "setup x; setup y;;"),),
            job_types=(JobTypeSpec("jt", "run %% -c a;b", (("n", 5), ("f", 1.5), ("z", None))),),
        ),
        id="percent-semicolon",
    ),
    pytest.param(
        CampaignSpec(
            name="no defaults",
            state_active=False,
            stages=(
                StageSpec("b", StageFields(login_setup="ls", job_type="jt", completion_pct=33.3)),
                StageSpec("a", StageFields(login_setup="ls", job_type="jt", vo_role="Analysis")),
            ),
            positions={"a": (1.25, -2), "b": (3, 4)},
            dependencies=(DependencySpec("a", "b", ""), DependencySpec("b", "b", "%.root")),
        ),
        id="self-dependency-inactive",
    ),
    pytest.param(
        CampaignSpec(
            name="loop",
            defaults=StageFields(login_setup="ls", job_type="jt", test_param_overrides=()),
            stages=(StageSpec("x"), StageSpec("y"), StageSpec("z")),
            dependencies=(
                DependencySpec("y", "x"),
                DependencySpec("x", "y"),
                DependencySpec("z", "y"),
            ),
        ),
        id="cycle",
    ),
    pytest.param(
        CampaignSpec(
            name="multi line",
            defaults=StageFields(login_setup="ls", job_type="jt"),
            stages=(StageSpec("s"),),
            login_setups=(LoginSetupSpec("ls", "h", "a", "source a.sh\n  setup b\r\nsetup c;\n"),),
        ),
        id="line-breaks",
    ),
]


@pytest.mark.parametrize("spec", ROUND_TRIP_SPECS)
def test_write_then_parse_gives_the_same_spec(spec: CampaignSpec) -> None:
    text = write_ini(spec)
    assert parse_ini(text) == spec
    assert write_ini(parse_ini(text)) == text  # and the text is stable


def test_lists_of_pairs_are_frozen_into_tuples() -> None:
    lists: Any = [["-Oa=", "x"], ["-Ob=", 2]]
    assert StageFields(param_overrides=lists).param_overrides == (("-Oa=", "x"), ("-Ob=", 2))


def test_line_breaks_become_semicolons_like_the_original_exporter() -> None:
    setup = LoginSetupSpec("ls", "h", "a", "source a.sh\n  setup b\r\nsetup c;\n")
    assert setup.setup == "source a.sh; setup b; setup c;"


def test_equal_specs_write_the_same_text_whatever_dict_order() -> None:
    one = CampaignSpec("c", keywords={"a": 1, "b": 2}, positions={"x": (0, 0), "y": (1, 1)})
    two = CampaignSpec("c", keywords={"b": 2, "a": 1}, positions={"y": (1, 1), "x": (0, 0)})
    assert one == two
    assert write_ini(one) == write_ini(two)


def test_writer_omits_stage_keys_equal_to_the_defaults() -> None:
    spec = parse_ini(
        _file(
            defaults="vo_role=Production\ncompletion_pct=90\nparam_overrides=[]",
            gen="vo_role=Production\ncompletion_pct=90\nparam_overrides=[]\njob_type=jt",
            sim="completion_pct=80",
        )
    )
    stages = {stage.name: stage.fields for stage in spec.stages}
    assert stages["gen"] == StageFields(
        merge_overrides=False, stage_type="regular", default_clear_cronjob=True
    )
    text = write_ini(spec)
    gen_section = text.split("[campaign_stage gen]\n")[1].split("\n\n")[0]
    assert gen_section.splitlines() == [
        "merge_overrides=False",
        "stage_type=regular",
        "default_clear_cronjob=True",
    ]
    assert "[campaign_stage sim]\ncompletion_pct=80\n" in text
    assert spec.resolved(spec.stages[0]).completion_pct == 90


def test_campaign_defaults_and_positions_are_optional_sections() -> None:
    spec = CampaignSpec("c", stages=(StageSpec("s", StageFields(login_setup="l", job_type="j")),))
    text = write_ini(spec)
    assert "[campaign_defaults]" not in text and "[node_positions]" not in text
    with_positions = CampaignSpec("c", stages=spec.stages, positions={"s": (1, 2)})
    assert '[node_positions]\nnxy0=["s", 1, 2]\n' in write_ini(with_positions)
    assert "[node_positions]" not in write_ini(with_positions, full=False)


def test_stages_are_ordered_upstream_first() -> None:
    spec = parse_ini(
        _file(
            extra="[campaign_stage reco]\n[campaign_stage merge]\n"
            "[dependencies merge]\ncampaign_stage_2 = sim\nfile_pattern_2 = b\n"
            "campaign_stage_1 = reco\nfile_pattern_1 = a\n"
            "[dependencies reco]\ncampaign_stage_1 = sim\nfile_pattern_1 = %\n"
            "[dependencies sim]\ncampaign_stage_1 = merge\nfile_pattern_1 = %\n"
            "campaign_stage_2 = gen\nfile_pattern_2 = %\n"
        ).replace("[campaign_stage sim]\nvo_role=Production", "[campaign_stage sim]")
    )
    # sim <- merge <- (reco, sim) is a loop: the loop's members keep their file order.
    assert [stage.name for stage in spec.stages] == ["gen", "sim", "reco", "merge"]
    assert [(d.upstream, d.downstream) for d in spec.dependencies] == [
        ("merge", "sim"),
        ("gen", "sim"),
        ("sim", "reco"),
        ("reco", "merge"),
        ("sim", "merge"),
    ]
    assert "campaign_stage_list=gen,sim,reco,merge\n" in write_ini(spec)


def test_acyclic_stages_are_topologically_sorted_with_file_order_for_ties() -> None:
    stages = tuple(StageSpec(n, StageFields(login_setup="l", job_type="j")) for n in "dcba")
    deps = (DependencySpec("a", "c"), DependencySpec("b", "d"), DependencySpec("a", "b"))
    spec = CampaignSpec("c", stages=stages, dependencies=deps)
    assert [stage.name for stage in spec.stages] == ["a", "c", "b", "d"]
    text = write_ini(spec)
    assert text.index("[campaign_stage a]") < text.index("[campaign_stage d]")
    assert text.index("[dependencies c]") < text.index("[dependencies b]")
