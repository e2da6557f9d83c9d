"""Saving and loading campaigns (reference §7.3-7.4, §12.4) on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from poms_shared.db.campaigns import (
    CampaignError,
    CampaignNotFound,
    load_campaign_spec,
    save_campaign,
)
from poms_shared.db.models import (
    Campaign,
    CampaignDependency,
    CampaignStage,
    Experiment,
    Experimenter,
    JobType,
    JobTypeRecovery,
    LoginSetup,
)
from poms_shared.db.session import Database
from poms_shared.ini import CampaignSpec, StageFields, StageSpec, parse_ini

# The complete example of reference §7.5.
EXAMPLE = (Path(__file__).parents[1] / "data" / "nu_flux_2025.ini").read_text()

SAVE = {"experiment": "examplex", "actor": "alice", "role": "production"}
COUNTED = (
    Campaign,
    CampaignStage,
    CampaignDependency,
    JobType,
    JobTypeRecovery,
    LoginSetup,
    Experimenter,
)


@pytest.fixture
def db(database: Database) -> Database:
    with database.transaction() as session:
        session.add_all(
            [
                Experiment(experiment="examplex", name="Example X"),
                Experiment(experiment="samdev", name="Shared entries"),
            ]
        )
    return database


def _sorted_templates(spec: CampaignSpec) -> CampaignSpec:
    return dataclasses.replace(
        spec,
        job_types=tuple(sorted(spec.job_types, key=lambda j: j.name)),
        login_setups=tuple(sorted(spec.login_setups, key=lambda s: s.name)),
    )


def _counts(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in COUNTED
        }


def test_save_then_load_gives_the_parsed_spec(db: Database) -> None:
    spec = parse_ini(EXAMPLE)
    with db.transaction() as session:
        result = save_campaign(session, spec, **SAVE)
    assert result.warnings == []
    assert sorted(result.stage_ids) == ["calib", "gen", "reco", "sim"]
    with db.transaction() as session:
        loaded = load_campaign_spec(session, experiment="examplex", name="nu_flux_2025")
    assert _sorted_templates(loaded) == _sorted_templates(spec)


def test_stage_rows_hold_resolved_values(db: Database) -> None:
    with db.transaction() as session:
        ids = save_campaign(session, parse_ini(EXAMPLE), **SAVE).stage_ids
    with db.transaction() as session:
        gen = session.get(CampaignStage, ids["gen"])
        calib = session.get(CampaignStage, ids["calib"])
        assert gen is not None and calib is not None
        assert gen.dataset == '[["nue","numu"],["1GeV","3GeV"]]'
        assert gen.campaign_stage_type == "generator"
        assert gen.software_version == "v2_4_1"  # from the campaign defaults
        assert gen.test_param_overrides == [["-Osubmit.N=", "2"]]
        assert gen.login_setup.name == "examplex_prod_login"
        assert calib.job_type.name == "examplex_calib"
        assert calib.completion_pct == 100.0 and calib.dataset == "from_parent"
        campaign = session.scalars(select(Campaign)).one()
        assert campaign.campaign_keywords == {"tune": "T7", "beam": "fhc"}
        assert campaign.creator_role == "production" and campaign.active
        recoveries = (
            session.scalars(select(JobType).where(JobType.name == "examplex_fife_generic"))
            .one()
            .recoveries
        )
        assert [(r.recovery_order, r.recovery_type.name) for r in recoveries] == [
            (0, "consumed_status"),
            (1, "process_status"),
        ]


def test_a_removed_stage_is_detached_with_its_dependencies(db: Database) -> None:
    spec = parse_ini(EXAMPLE)
    with db.transaction() as session:
        first = save_campaign(session, spec, **SAVE)
    smaller = dataclasses.replace(
        spec,
        stages=tuple(s for s in spec.stages if s.name != "calib"),
        dependencies=tuple(d for d in spec.dependencies if d.downstream != "calib"),
    )
    with db.transaction() as session:
        second = save_campaign(session, smaller, **SAVE)
    calib_id = first.stage_ids["calib"]
    assert second.campaign_id == first.campaign_id
    assert second.stage_ids == {k: v for k, v in first.stage_ids.items() if k != "calib"}
    with db.transaction() as session:
        calib = session.get(CampaignStage, calib_id)
        assert calib is not None and calib.campaign_id is None
        touching = select(CampaignDependency).where(
            (CampaignDependency.upstream_stage_id == calib_id)
            | (CampaignDependency.downstream_stage_id == calib_id)
        )
        assert session.scalars(touching).all() == []
        assert session.scalar(select(func.count()).select_from(CampaignDependency)) == 2
        loaded = load_campaign_spec(session, experiment="examplex", name="nu_flux_2025")
    assert [s.name for s in loaded.stages] == ["gen", "sim", "reco"]


def test_existing_job_types_are_kept_and_reported(db: Database) -> None:
    with db.transaction() as session:
        session.add(JobType(experiment="examplex", name="examplex_calib", launch_script="old"))
    with db.transaction() as session:
        result = save_campaign(session, parse_ini(EXAMPLE), **SAVE)
    assert result.warnings == ["job type 'examplex_calib' already exists and will not change"]
    with db.transaction() as session:
        kept = session.scalars(select(JobType).where(JobType.name == "examplex_calib")).one()
        assert kept.launch_script == "old"


def test_shared_samdev_templates_are_used_as_a_fallback(db: Database) -> None:
    with db.transaction() as session:
        session.add(
            LoginSetup(experiment="samdev", name="generic", launch_host="h", launch_account="a")
        )
        session.add(JobType(experiment="samdev", name="generic", launch_script="run"))
    spec = CampaignSpec(
        "shared",
        stages=(StageSpec("only", StageFields(login_setup="generic", job_type="generic")),),
    )
    with db.transaction() as session:
        save_campaign(session, spec, **SAVE)
    with db.transaction() as session:
        loaded = load_campaign_spec(session, experiment="examplex", name="shared")
    assert [(t.name, t.launch_script) for t in loaded.job_types] == [("generic", "run")]


def test_a_bad_reference_fails_and_writes_nothing(db: Database) -> None:
    spec = parse_ini(EXAMPLE.replace("job_type=examplex_calib\n", "login_setup=nowhere\n", 1))
    before = _counts(db)
    with pytest.raises(CampaignError) as caught, db.transaction() as session:
        save_campaign(session, spec, **SAVE)
    assert str(caught.value) == (
        "[campaign_stage calib] login_setup: login setup 'nowhere' not found in 'examplex' or"
        " 'samdev'"
    )
    assert _counts(db) == before


def test_an_unknown_recovery_type_names_the_job_type(db: Database) -> None:
    spec = parse_ini(EXAMPLE.replace('"process_status"', '"proj_status"'))
    expected = r"\[job_type examplex_fife_generic\] recoveries: unknown recovery type 'proj_status'"
    with pytest.raises(CampaignError, match=expected), db.transaction() as session:
        save_campaign(session, spec, **SAVE)
    assert _counts(db)["job_types"] == 0


def test_an_unknown_experiment_is_refused(db: Database) -> None:
    refused = pytest.raises(CampaignError, match="Experiment 'nowhere' does not exist")
    with refused, db.transaction() as session:
        save_campaign(session, parse_ini(EXAMPLE), **{**SAVE, "experiment": "nowhere"})


def test_loading_an_unknown_campaign_says_so(db: Database) -> None:
    with pytest.raises(CampaignNotFound) as caught, db.transaction() as session:
        load_campaign_spec(session, experiment="examplex", name="nope")
    assert str(caught.value) == "Campaign 'nope' was not found for 'examplex' experiment"
    assert isinstance(caught.value, LookupError)
