"""Campaign graph rules: leading stage, dependent launches, campaign completion."""

import pytest

from poms_campaign_manager.domain.dependents import (
    dependency_dataset_name,
    plan_dependent_launches,
)
from poms_shared.domain.dag import (
    CampaignLaunchError,
    Edge,
    campaign_done,
    choose_leading_stage,
    leading_stages,
)

STAGES = {1: "gen", 2: "sim", 3: "reco"}
CHAIN = [Edge(1, 2, "gen_%.root"), Edge(2, 3, "sim_%.root")]


def test_the_unique_leading_stage_is_the_one_nothing_feeds():
    assert choose_leading_stage("mc", STAGES, CHAIN) == 1


def test_a_self_dependency_does_not_stop_a_stage_from_leading():
    assert leading_stages([1, 2], [Edge(1, 1, "%"), Edge(1, 2, "%")]) == [1]


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([Edge(1, 2, "%")], r"2 leading stages \(gen, reco\)"),
        ([Edge(1, 2, "%"), Edge(2, 3, "%"), Edge(3, 1, "%")], "no leading stage"),
    ],
)
def test_launching_a_campaign_without_exactly_one_leading_stage_is_an_error(edges, message):
    with pytest.raises(CampaignLaunchError, match=message):
        choose_leading_stage("mc", STAGES, edges)


def test_dependents_get_numbered_datasets_in_downstream_id_order_and_self_deps_none():
    edges = [Edge(2, 5, "b%"), Edge(2, 4, "a%"), Edge(2, 2, "%"), Edge(1, 2, "%")]
    plans = plan_dependent_launches(77, 2, edges, "production", "alice")
    assert [(p.stage_id, p.dataset_name, p.file_patterns) for p in plans] == [
        (2, None, "%"),
        (4, "poms_depends_77_1", "a%"),
        (5, "poms_depends_77_2", "b%"),
    ]


def test_analysis_dependency_datasets_carry_the_user_name():
    assert dependency_dataset_name(5, 1, "analysis", "bob") == "poms_bob_depends_5_1"
    assert dependency_dataset_name(5, 1, "production", "bob") == "poms_depends_5_1"


@pytest.mark.parametrize(
    ("located", "active", "done"),
    [({1, 2, 3}, set(), True), ({1, 2}, set(), False), ({1, 2, 3}, {3}, False)],
)
def test_a_campaign_is_done_when_every_stage_is_located_and_nothing_runs(located, active, done):
    assert campaign_done([1, 2, 3], located, active) is done
