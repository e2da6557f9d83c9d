"""Launch command composition (reference §6.4, §6.5, §6.9)."""

import pytest

from poms_launcher.domain.compose import (
    CompositionError,
    LaunchIdentity,
    LaunchSpec,
    compose_command,
    find_batch_ids,
    launch_environment,
    legacy_campaign_name,
    merge_parameters,
    substitution_values,
    to_pairs,
)

VALUES = {
    "dataset": "ds1",
    "parameter": "ds1",
    "version": "v2",
    "group": "nova",
    "experimenter": "alice",
    "experiment": "nova",
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (LaunchSpec("run", [("-a=", "1"), ("-b=", "2")]), [("-a=", "1"), ("-b=", "2")]),
        (
            LaunchSpec("run", [("-a=", "1"), ("-b=", "2")], stage_overrides=[("-a=", "9")]),
            [("-a=", "9"), ("-b=", "2")],
        ),
        (
            LaunchSpec("run", [("-a=", "1")], stage_overrides=[("-c=", "3")]),
            [("-a=", "1"), ("-c=", "3")],
        ),
        (
            LaunchSpec("run", [("-a=", "1")], campaign_default_overrides=[("-a=", "d")]),
            [("-a=", "1")],
        ),
        (
            LaunchSpec(
                "run",
                [("-a=", "1")],
                campaign_default_overrides=[("-a=", "d")],
                merge_overrides=True,
            ),
            [("-a=", "d")],
        ),
        (
            LaunchSpec(
                "run",
                [("-a=", "1")],
                campaign_default_overrides=[("-a=", "d")],
                stage_overrides=[("-a=", "s")],
                merge_overrides=True,
            ),
            [("-a=", "s")],
        ),
        (LaunchSpec("run", [("-a=", "1")], test_overrides=[("-a=", "t")]), [("-a=", "1")]),
        (
            LaunchSpec("run", [("-a=", "1")], test=True, test_overrides=[("-a=", "t")]),
            [("-a=", "t")],
        ),
        (
            LaunchSpec(
                "run",
                [("-a=", "1")],
                test=True,
                test_overrides=[("-a=", "t")],
                extra_overrides=[("-a=", "x")],
            ),
            [("-a=", "x")],
        ),
    ],
)
def test_parameters_follow_the_override_precedence_and_keep_key_positions(spec, expected):
    assert merge_parameters(spec) == expected


def test_command_is_script_plus_concatenated_pairs_with_substitution():
    spec = LaunchSpec(
        "fife_launch -c x.cfg", [("-Oglobal.dataset=", "%(dataset)s"), ("--stage ", "sim")]
    )
    assert compose_command(spec, VALUES) == "fife_launch -c x.cfg -Oglobal.dataset=ds1 --stage sim"


def test_campaign_keywords_substitute_but_launch_values_win_on_clashes():
    spec = LaunchSpec("run %(tune)s %(dataset)s", keywords={"tune": "T7", "dataset": "kw"})
    assert compose_command(spec, VALUES) == "run T7 ds1"


def test_double_percent_is_a_literal_percent():
    spec = LaunchSpec("run", [("--pattern=", "%%.root")])
    assert compose_command(spec, VALUES) == "run --pattern=%.root"


@pytest.mark.parametrize("script", ["run %(nosuch)s", "run 100%"])
def test_bad_substitutions_are_composition_errors(script):
    with pytest.raises(CompositionError):
        compose_command(LaunchSpec(script), VALUES)


def test_substitution_values_expand_keywords_inside_dataset_and_map_samdev_group():
    values = substitution_values(
        dataset="ds_%(tune)s",
        version="v1",
        experiment="samdev",
        launcher="bob",
        keywords={"tune": "T1"},
    )
    assert values["dataset"] == values["parameter"] == "ds_T1"
    assert values["group"] == "fermilab"
    assert values["experimenter"] == "bob"


@pytest.mark.parametrize("raw", ["x", [["only-one"]], [1, 2]])
def test_malformed_override_lists_are_rejected(raw):
    with pytest.raises(CompositionError):
        to_pairs(raw, "stage param_overrides")


def test_environment_carries_poms4_and_legacy_names():
    env = launch_environment(
        LaunchIdentity(
            submission_id=12,
            stage_id=3,
            stage_name="sim stage",
            stage_type="regular",
            campaign_id=2,
            campaign_name="mc",
            job_type_id=5,
            launcher="alice",
            experiment="nova",
            test=True,
            parent_submission_id=None,
        )
    )
    assert env["POMS4_SUBMISSION_ID"] == env["POMS_TASK_ID"] == "12"
    assert env["POMS4_CAMPAIGN_STAGE_ID"] == env["POMS_CAMPAIGN_ID"] == "3"
    assert env["POMS4_CAMPAIGN_STAGE_NAME"] == "sim_stage"
    assert env["POMS4_TEST_LAUNCH"] == "True"
    assert env["POMS_PARENT_TASK_ID"] == ""
    assert env["POMS_CAMPAIGN_NAME"] == "mc__sim_stage"
    assert env["JOBSUB_GROUP"] == env["GROUP"] == "nova"


@pytest.mark.parametrize(
    ("campaign", "stage", "expected"),
    [("mc", "mc", "mc"), ("mc", "mc_sim", "mc__sim"), ("mc", "reco", "mc__reco")],
)
def test_legacy_campaign_name(campaign, stage, expected):
    assert legacy_campaign_name(campaign, stage) == expected


def test_batch_ids_are_read_from_wrapper_markers_in_the_launch_output():
    out = "noise\nSubmitted cluster 7\nPOMS_BATCH_ID=7@local\nPOMS_BATCH_ID=\n"
    assert find_batch_ids(out) == ["7@local"]
