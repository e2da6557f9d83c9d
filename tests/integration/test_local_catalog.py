"""The local data catalog over POMS's own tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from submission_fixtures import bare_stage

from poms_campaign_manager.domain.splits import (
    SplitContext,
    next_split,
    parse_split_type,
    realise,
)
from poms_shared.catalog import Catalog, CatalogFile
from poms_shared.catalog.local import LocalCatalog, run_of
from poms_shared.db.models import Experiment
from poms_shared.db.session import Database
from poms_shared.db.tables import Dataset, DatasetFile, File, Submission, SubmissionFile
from poms_shared.domain.statuses import SubmissionStatus

EXP = "exp"
BASE = 1_699_999_200
METADATA = [{"run": 1}, {"run_number": 1}, {"run": [2, 7]}, {"run": "4"}, {}]


@pytest.fixture
def db(database: Database) -> Database:
    """Five files f0..f4 an hour apart; ``raw`` holds them all; f0-f2 are located."""
    with database.transaction() as session:
        session.add_all(
            [Experiment(experiment=EXP, name="Exp"), Experiment(experiment="other", name="O")]
        )
        session.flush()
        files = [
            File(
                experiment=EXP,
                name=f"f{i}",
                size=10 * i,
                location="/data" if i < 3 else None,
                file_metadata=METADATA[i],
                created=datetime.fromtimestamp(BASE + i * 3600, UTC),
            )
            for i in range(5)
        ]
        files.append(File(experiment="other", name="f0"))
        raw = Dataset(experiment=EXP, name="raw")
        session.add_all([*files, raw])
        session.flush()
        session.add_all(
            DatasetFile(dataset_id=raw.dataset_id, file_id=f.file_id) for f in files[:5]
        )
    return database


def _stage_with_submissions(session, consumed: dict[SubmissionStatus, list[str]]) -> int:
    stage = bare_stage(session, EXP)
    ids = {f.name: f.file_id for f in session.query(File).filter(File.experiment == EXP)}
    for status, files in consumed.items():
        sub = Submission(campaign_stage_id=stage.campaign_stage_id, status_id=int(status))
        session.add(sub)
        session.flush()
        session.add_all(
            SubmissionFile(submission_id=sub.submission_id, file_id=ids[n]) for n in files
        )
    session.flush()
    return stage.campaign_stage_id


def names(files: list[CatalogFile]) -> list[str]:
    return [f.name for f in files]


def test_the_local_catalog_implements_the_port(db):
    with db.transaction() as session:
        assert isinstance(LocalCatalog(session), Catalog)


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("raw", ["f0", "f1", "f2", "f3", "f4"]),
        ("files:f_", ["f0", "f1", "f2", "f3", "f4"]),
        ("files:f%3", ["f3"]),
        ("missing", []),
    ],
)
def test_a_dataset_name_or_a_files_query_resolves_to_the_experiments_files(db, dataset, expected):
    with db.transaction() as session:
        catalog = LocalCatalog(session)
        assert names(catalog.list_files(EXP, dataset)) == expected
        assert catalog.count_files(EXP, dataset) == len(expected)
        assert catalog.dataset_exists(EXP, dataset) is (dataset != "missing")


def test_files_carry_size_run_creation_time_and_staged_ness(db):
    with db.transaction() as session:
        files = LocalCatalog(session).list_files(EXP, "raw")
    assert [(f.size, f.run, f.staged) for f in files] == [
        (0, 1, True),
        (10, 1, True),
        (20, 2, True),
        (30, 4, False),
        (40, None, False),
    ]
    assert files[1].created == datetime.fromtimestamp(BASE + 3600, UTC)


@pytest.mark.parametrize(
    ("metadata", "run"),
    [
        ({"run": 5}, 5),
        ({"run_number": "6"}, 6),
        ({"run": [[7, 1]]}, None),
        ({"run": [8, 2]}, 8),
        ({"run": "x"}, None),
        ({}, None),
    ],
)
def test_the_run_number_comes_from_run_or_run_number_metadata(metadata, run):
    assert run_of(metadata) == run


def test_runs_and_files_of_one_run(db):
    with db.transaction() as session:
        catalog = LocalCatalog(session)
        assert catalog.runs(EXP, "raw") == [1, 2, 4]
        assert names(catalog.files_for_run(EXP, "raw", 1)) == ["f0", "f1"]
        assert catalog.files_for_run(EXP, "raw", 3) == []


def test_files_since_takes_files_created_after_the_start_up_to_the_end(db):
    with db.transaction() as session:
        catalog = LocalCatalog(session)
        assert names(catalog.files_since(EXP, "raw", BASE)) == ["f1", "f2", "f3", "f4"]
        assert names(catalog.files_since(EXP, "raw", BASE, BASE + 2 * 3600)) == ["f1", "f2"]


def test_defining_a_dataset_never_shrinks_it_and_returns_its_size(db):
    with db.transaction() as session:
        catalog = LocalCatalog(session)
        assert catalog.define_dataset(EXP, "pick", ["f3", "f1"], "two") == 2
        assert catalog.define_dataset(EXP, "pick", ["f0"]) == 3
        assert names(catalog.list_files(EXP, "pick")) == ["f0", "f1", "f3"]
        with pytest.raises(LookupError, match="unknown file"):
            catalog.define_dataset(EXP, "pick", ["nope"])


def test_a_snapshot_freezes_the_files_under_its_own_id(db):
    with db.transaction() as session:
        catalog = LocalCatalog(session)
        catalog.define_dataset(EXP, "grow", ["f0"])
        first = catalog.snapshot(EXP, "grow")
        catalog.define_dataset(EXP, "grow", ["f1"])
        second = catalog.snapshot(EXP, "grow")
        assert catalog.snapshot_files(first) == ["f0"]
        assert catalog.snapshot_files(second) == ["f0", "f1"]
        assert catalog.dataset_exists(EXP, f"snapshot_{first}")
        assert catalog.snapshot_files(999_999) == []


def test_unconsumed_files_skip_what_launched_submissions_of_the_stage_were_given(db):
    with db.transaction() as session:
        stage_id = _stage_with_submissions(
            session,
            {
                SubmissionStatus.LOCATED: ["f0"],
                SubmissionStatus.RUNNING: ["f2"],
                SubmissionStatus.LAUNCH_FAILED: ["f3"],
            },
        )
        catalog = LocalCatalog(session)
        assert names(catalog.unconsumed_files(EXP, "raw", stage_id)) == ["f1", "f3", "f4"]
        assert len(catalog.unconsumed_files(EXP, "raw", stage_id + 1)) == 5


def test_drainingn_runs_to_exhaustion_over_the_local_catalog(db):
    spec, state, slices = parse_split_type("drainingn(2)"), None, []
    with db.transaction() as session:
        catalog = LocalCatalog(session)
        for _ in range(5):
            ctx = SplitContext(experiment=EXP, dataset="raw", last_split=state, now=BASE)
            decision = next_split(spec, ctx, catalog)
            if decision.exhausted:
                break
            state = realise(decision, catalog, EXP)
            slices.append(names(catalog.list_files(EXP, decision.dataset or "")))
    assert slices == [["f0", "f1"], ["f2", "f3"], ["f4"]]
    assert decision.exhausted
