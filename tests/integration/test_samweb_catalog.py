"""The samweb catalog over HTTP against the fake SAM server; shared checks also run locally."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from submission_fixtures import bare_stage

from poms_campaign_manager.domain.splits import SplitContext, next_split, parse_split_type, realise
from poms_shared.catalog import Catalog, CatalogError, CatalogFile
from poms_shared.catalog.factory import make_catalog
from poms_shared.catalog.local import LocalCatalog
from poms_shared.catalog.sam_http import SamHttp
from poms_shared.catalog.samweb import SamwebCatalog
from poms_shared.db.models import Experiment
from poms_shared.db.tables import Dataset, DatasetFile, File, Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.settings import load_settings
from poms_shared.testing.db import sqlite_database
from poms_shared.testing.fake_samweb import FakeSamweb

EXP = "exp"
BASE = 1_699_999_200
RUNS: list[list[int]] = [[1], [1], [2, 7], [4], []]
LOCAL_METADATA = [{"run": 1}, {"run_number": 1}, {"run": [2, 7]}, {"run": "4"}, {}]


def names(files: list[CatalogFile]) -> list[str]:
    return [f.name for f in files]


def created(i: int) -> datetime:
    return datetime.fromtimestamp(BASE + i * 3600, UTC)


@pytest.fixture
def sam() -> Iterator[FakeSamweb]:
    with FakeSamweb() as fake:
        yield fake


def samweb(sam: FakeSamweb, *, retries: int = 2, timeout: float = 2.0, **kw) -> SamwebCatalog:
    http = SamHttp(sam.url, timeout=timeout, retries=retries, backoff=0)
    return SamwebCatalog(http, experiment=EXP, **kw)


def _fill_sam(sam: FakeSamweb) -> None:
    world = sam.world(EXP)
    for i in range(5):
        world.add_file(f"f{i}", size=10 * i, run=RUNS[i], created=created(i), located=i < 3)
    world.define("raw", "file_name f0,f1,f2,f3,f4")
    sam.world("other").add_file("f0")


def _fill_db(session) -> None:
    session.add_all([Experiment(experiment=EXP, name="Exp"), Experiment(experiment="o", name="O")])
    session.flush()
    files = [
        File(
            experiment=EXP,
            name=f"f{i}",
            size=10 * i,
            location="/data" if i < 3 else None,
            file_metadata=LOCAL_METADATA[i],
            created=created(i),
        )
        for i in range(5)
    ]
    raw = Dataset(experiment=EXP, name="raw")
    session.add_all([*files, File(experiment="o", name="f0"), raw])
    session.flush()
    session.add_all(DatasetFile(dataset_id=raw.dataset_id, file_id=f.file_id) for f in files)


@pytest.fixture(params=["local", "samweb"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path, sam: FakeSamweb) -> Iterator[Catalog]:
    """The same five files f0..f4 (an hour apart, f0-f2 on disk) in either catalog."""
    if request.param == "samweb":
        _fill_sam(sam)
        yield samweb(sam)
        return
    with sqlite_database(tmp_path) as db:
        with db.transaction() as session:
            _fill_db(session)
        with db.transaction() as session:
            yield LocalCatalog(session)


# ---- behaviour both adapters share ---------------------------------------------------------


def test_both_adapters_implement_the_port(catalog):
    assert isinstance(catalog, Catalog)


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("raw", ["f0", "f1", "f2", "f3", "f4"]),
        ("files:f_", ["f0", "f1", "f2", "f3", "f4"]),
        ("files:f%3", ["f3"]),
        ("missing", []),
    ],
)
def test_a_definition_or_a_files_query_resolves_to_the_experiments_files(
    catalog, dataset, expected
):
    assert names(catalog.list_files(EXP, dataset)) == expected
    assert catalog.count_files(EXP, dataset) == len(expected)
    assert catalog.dataset_exists(EXP, dataset) is (dataset != "missing")


def test_files_carry_size_first_run_creation_time_and_staged_ness(catalog):
    files = catalog.list_files(EXP, "raw")
    assert [(f.size, f.run, f.staged) for f in files] == [
        (0, 1, True),
        (10, 1, True),
        (20, 2, True),
        (30, 4, False),
        (40, None, False),
    ]
    assert files[1].created == created(1)


def test_runs_and_the_files_of_one_run_use_each_files_first_run(catalog):
    assert catalog.runs(EXP, "raw") == [1, 2, 4]
    assert names(catalog.files_for_run(EXP, "raw", 1)) == ["f0", "f1"]
    assert catalog.files_for_run(EXP, "raw", 7) == []
    assert catalog.files_for_run(EXP, "raw", 3) == []


def test_files_since_takes_files_created_after_the_start_up_to_the_end(catalog):
    assert names(catalog.files_since(EXP, "raw", BASE)) == ["f1", "f2", "f3", "f4"]
    assert names(catalog.files_since(EXP, "raw", BASE, BASE + 2 * 3600)) == ["f1", "f2"]


def test_defining_a_dataset_never_shrinks_it_and_returns_its_size(catalog):
    assert catalog.define_dataset(EXP, "pick", ["f3", "f1"], "two") == 2
    assert catalog.define_dataset(EXP, "pick", ["f0"]) == 3
    assert catalog.define_dataset(EXP, "pick", ["f1"]) == 3
    assert names(catalog.list_files(EXP, "pick")) == ["f0", "f1", "f3"]
    with pytest.raises(LookupError, match="unknown file"):
        catalog.define_dataset(EXP, "pick", ["nope"])


def test_a_snapshot_freezes_the_files_under_its_own_id(catalog):
    catalog.define_dataset(EXP, "grow", ["f0"])
    first = catalog.snapshot(EXP, "grow")
    catalog.define_dataset(EXP, "grow", ["f1"])
    second = catalog.snapshot(EXP, "grow")
    assert catalog.snapshot_files(first) == ["f0"]
    assert catalog.snapshot_files(second) == ["f0", "f1"]
    assert catalog.snapshot_files(999_999) == []


def test_drainingn_runs_to_exhaustion(catalog):
    spec, state, slices = parse_split_type("drainingn(2)"), None, []
    for _ in range(5):
        ctx = SplitContext(experiment=EXP, dataset="raw", last_split=state, now=BASE)
        decision = next_split(spec, ctx, catalog)
        if decision.exhausted:
            break
        state = realise(decision, catalog, EXP)
        slices.append(names(catalog.list_files(EXP, decision.dataset or "")))
    assert slices == [["f0", "f1"], ["f2", "f3"], ["f4"]]
    assert decision.exhausted


# ---- samweb specifics ----------------------------------------------------------------------


def test_a_widened_query_definition_keeps_its_query(sam):
    _fill_sam(sam)
    sam.world(EXP).define("late", "run_number 4")
    catalog = samweb(sam)
    assert catalog.define_dataset(EXP, "late", ["f0"]) == 2
    assert sam.world(EXP).definitions["late"].dims == "( run_number 4 ) or file_name f0"
    assert names(catalog.list_files(EXP, "late")) == ["f0", "f3"]
    assert catalog.define_dataset(EXP, "pick", ["f2", "f1"]) == 2
    catalog.define_dataset(EXP, "pick", ["f0"])
    assert sam.world(EXP).definitions["pick"].dims == "file_name f0,f1,f2"


def test_unconsumed_files_leave_out_datasets_handed_to_the_stage(sam):
    _fill_sam(sam)
    sam.world(EXP).define("slice_a", "file_name f0,f2")
    handed = {7: ["slice_a", "files:f4"]}
    catalog = samweb(sam, handed_out=lambda stage: handed.get(stage, []))
    assert names(catalog.unconsumed_files(EXP, "raw", 7)) == ["f1", "f3"]
    assert len(catalog.unconsumed_files(EXP, "raw", 8)) == 5
    # without the hook the SAM definition is taken to drain itself (§5.8)
    assert len(samweb(sam).unconsumed_files(EXP, "raw", 7)) == 5


def test_the_factory_picks_the_adapter_and_reads_handed_out_datasets(sam, tmp_path):
    _fill_sam(sam)
    sam.world(EXP).define("slice_a", "file_name f0,f1")
    sam.world(EXP).define("slice_b", "file_name f2")
    given = {
        SubmissionStatus.RUNNING: "slice_a",
        SubmissionStatus.LAUNCH_FAILED: "slice_b",
        SubmissionStatus.LOCATED: "",
    }
    settings = load_settings(catalog="samweb", sam_url=sam.url, sam_retries=0, experiment=EXP)
    with sqlite_database(tmp_path) as db, db.transaction() as session:
        stage_id = _stage_with_submissions(session, given)
        catalog = make_catalog(settings, session)
        assert isinstance(catalog, SamwebCatalog)
        assert names(catalog.unconsumed_files(EXP, "raw", stage_id)) == ["f2", "f3", "f4"]
        local = make_catalog(load_settings(catalog="local"), session)
        assert isinstance(local, LocalCatalog)
        with pytest.raises(CatalogError, match="POMS_SAM_URL"):
            make_catalog(load_settings(catalog="samweb", sam_url=""), session)


def _stage_with_submissions(session, given: dict[SubmissionStatus, str]) -> int:
    session.add(Experiment(experiment=EXP, name="Exp"))
    stage = bare_stage(session, EXP)
    for status, dataset in given.items():
        params = {"dataset": dataset} if dataset else {}
        session.add(
            Submission(
                campaign_stage_id=stage.campaign_stage_id,
                status_id=int(status),
                submission_params=params,
            )
        )
    session.flush()
    return stage.campaign_stage_id


def test_snapshot_ids_belong_to_the_adapters_experiment(sam):
    _fill_sam(sam)
    snap = sam.world(EXP).snapshot("raw")
    http = SamHttp(sam.url, retries=0, backoff=0)
    assert SamwebCatalog(http, experiment=EXP).snapshot_files(snap) == [f"f{i}" for i in range(5)]
    assert SamwebCatalog(http, experiment="other").snapshot_files(snap) == []


def test_long_dimensions_travel_in_a_post_body(sam):
    world = sam.world(EXP)
    many = [f"a_rather_long_file_name_number_{i:04d}.root" for i in range(60)]
    for n in many:
        world.add_file(n)
    catalog = samweb(sam)
    assert catalog.define_dataset(EXP, "many", many) == 60
    assert any(r.method == "POST" for r in sam.calls("files/list"))
    assert catalog.count_files(EXP, "many") == 60


def test_creating_an_existing_definition_replaces_it(sam):
    _fill_sam(sam)
    catalog = samweb(sam)
    catalog.create_definition(EXP, "pick", "file_name '%' and file_name f1", "first")
    assert sam.world(EXP).definitions["pick"].dims == "file_name f1"  # cleaned up
    catalog.create_definition(EXP, "pick", "run_number 1")
    assert [r.method for r in sam.calls("definitions/")] == ["POST", "POST", "DELETE", "POST"]
    described = catalog.describe_definition(EXP, "pick")
    assert described is not None and described.dims == "run_number 1"
    assert catalog.list(EXP, "defname:pick") == ["f0", "f1"]
    assert catalog.delete_definition(EXP, "pick") is True
    assert catalog.delete_definition(EXP, "pick") is False
    assert catalog.describe_definition(EXP, "pick") is None
