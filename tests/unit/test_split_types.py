"""Split types (reference §5): slice sequences, parsing, exhaustion, reset, length, test splits."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from poms_campaign_manager.domain.splits import (
    NO_MORE_SPLITS,
    SplitContext,
    SplitDecision,
    SplitError,
    StageSplitSnapshot,
    decide_launch,
    manual_position,
    next_split,
    parse_split_type,
    realise,
    reset_split,
    split_length,
)
from poms_shared.catalog.port import Catalog, CatalogFile
from poms_shared.testing.catalog import FakeCatalog

EXP = "exp"
BASE = 1_699_999_200  # 2023-11-14T22:00:00Z, on the hour
RUNS = {"f0": 1, "f1": 1, "f2": 2, "f3": 4, "f4": None}
STAGED = {"f0", "f1", "f2"}


def make_catalog() -> FakeCatalog:
    catalog = FakeCatalog()
    catalog.add(
        EXP,
        "raw",
        [
            CatalogFile(
                name=f"f{i}",
                size=100,
                run=RUNS[f"f{i}"],
                created=datetime.fromtimestamp(BASE + i * 3600, UTC),
                location="/data" if f"f{i}" in STAGED else None,
            )
            for i in range(5)
        ],
    )
    return catalog


def ctx(dataset: str = "raw", last: int | None = None, **kw: object) -> SplitContext:
    fields: dict = {"experiment": EXP, "dataset": dataset, "stage_id": 7, "last_split": last}
    fields.update(now=BASE + 10 * 3600, token="T", **kw)
    return SplitContext(**fields)


Slice = tuple[str | None, tuple[str, ...] | None]


def run_out(
    expression: str, dataset: str = "raw", limit: int = 12
) -> tuple[list[Slice], SplitDecision]:
    """Launch until exhausted, committing each state as the launch handler would."""
    catalog, state = make_catalog(), None
    slices: list[Slice] = []
    for _ in range(limit):
        decision = next_split(parse_split_type(expression), ctx(dataset, state), catalog)
        if decision.exhausted:
            return slices, decision
        files = decision.define.files if decision.define else None
        slices.append((decision.dataset, files))
        state = realise(decision, catalog, EXP)
    raise AssertionError(f"{expression} did not end within {limit} launches")


SEQUENCES = [
    ("list", "a,b,c", [("a", None), ("b", None), ("c", None)]),
    (
        "multiparam",
        '[["electron","muon"],["1GeV","3GeV"]]',
        [
            ("electron_1GeV", None),
            ("muon_1GeV", None),
            ("electron_3GeV", None),
            ("muon_3GeV", None),
        ],
    ),
    (
        "nfiles(2)",
        "raw",
        [
            ("raw_slice0_files2", ("f0", "f1")),
            ("raw_slice1_files2", ("f2", "f3")),
            ("raw_slice2_files2", ("f4",)),
        ],
    ),
    (
        "nfiles_4",
        "raw",
        [("raw_slice0_files4", ("f0", "f1", "f2", "f3")), ("raw_slice1_files4", ("f4",))],
    ),
    (
        "mod(3)",
        "raw",
        [
            ("raw_slice0_of_3", ("f0", "f3")),
            ("raw_slice1_of_3", ("f1", "f4")),
            ("raw_slice2_of_3", ("f2",)),
        ],
    ),
    (
        "byrun(low=1,high=3)",
        "raw",
        [("raw_T_run_1", ("f0", "f1")), ("raw_T_run_2", ("f2",)), ("raw_T_run_3", ())],
    ),
    ("byrun( low=2, high=2 )", "raw", [("raw_T_run_2", ("f2",))]),
    (
        "byexistingruns()",
        "raw",
        [
            ("raw_slice_0_run_1", ("f0", "f1")),
            ("raw_slice_101_run_2", ("f2",)),
            ("raw_slice_102_run_4", ("f3",)),
        ],
    ),
    (
        "drainingn(2)",
        "raw",
        [
            ("raw_slice_0_stage_2", ("f0", "f1")),
            ("raw_slice_101_stage_2", ("f2", "f3")),
            ("raw_slice_102_stage_2", ("f4",)),
        ],
    ),
    (
        "stagedfiles(2)",
        "raw",
        [("raw_slice_0_stage_2", ("f0", "f1")), ("raw_slice_101_stage_2", ("f2",))],
    ),
    (
        f"new(firsttime={BASE},window=2h,fts=0,lasttime={BASE + 6 * 3600})",
        "raw",
        [
            ("raw_T_time_2023-11-14T22:00:00__2023-11-15T00:00:00", ("f1", "f2")),
            ("raw_T_time_2023-11-15T00:00:00__2023-11-15T02:00:00", ("f3", "f4")),
            ("raw_T_time_2023-11-15T02:00:00__2023-11-15T04:00:00", ()),
        ],
    ),
]


@pytest.mark.parametrize(
    ("expression", "dataset", "expected"), SEQUENCES, ids=lambda v: str(v)[:24]
)
def test_each_split_type_hands_out_its_slices_in_order_then_ends(expression, dataset, expected):
    slices, last = run_out(expression, dataset)
    assert slices == expected
    assert last.message == NO_MORE_SPLITS
    assert last.dataset is None


@pytest.mark.parametrize(
    ("expression", "dataset", "expected"),
    [
        ("None", "raw", "raw"),
        ("", "from_parent", "from_parent"),
        ("limitn(2)", "raw", "raw_T_limit2"),
    ],
)
def test_never_ending_split_types_give_the_same_slice_and_keep_the_state(
    expression, dataset, expected
):
    catalog = make_catalog()
    for _ in range(4):
        decision = next_split(parse_split_type(expression), ctx(dataset, 3), catalog)
        assert (decision.dataset, decision.new_last_split, decision.exhausted) == (
            expected,
            3,
            False,
        )


def test_draining_hands_out_only_files_the_stage_has_not_had():
    catalog = make_catalog()
    catalog.consume(7, ["f0", "f2"])
    catalog.consume(8, ["f1"])  # another stage's consumption does not count
    decision = next_split(parse_split_type("draining"), ctx(), catalog)
    assert decision.dataset == "raw_draining_7_T"
    assert decision.define is not None and decision.define.files == ("f1", "f3", "f4")
    assert not decision.exhausted and decision.new_last_split is None


def test_list_items_are_trimmed_unlike_the_reference_which_kept_the_blank():
    slices, _ = run_out("list", "a, b,\n c,")
    assert [s for s, _ in slices] == ["a", "b", "c"]


def test_byrun_includes_the_high_run_although_the_reference_stopped_before_it():
    slices, _ = run_out("byrun(low=3,high=4)")
    assert [s for s, _ in slices] == ["raw_T_run_3", "raw_T_run_4"]


def test_new_local_formats_the_window_in_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "Etc/GMT-2")  # POSIX sign: two hours east of Greenwich
    time.tzset()
    try:
        spec = parse_split_type(f"new_local(firsttime={BASE},window=1h,fts=0)")
        decision = next_split(spec, ctx(), make_catalog())
    finally:
        monkeypatch.undo()
        time.tzset()
    assert decision.dataset == "raw_T_time_2023-11-15T00:00:00__2023-11-15T01:00:00"
    assert decision.new_last_split == BASE + 3600


@pytest.mark.parametrize(("clear_cronjob", "clear_schedule"), [(True, True), (False, False)])
def test_exhaustion_says_no_more_splits_and_asks_to_clear_the_schedule_when_the_stage_wants_it(
    clear_cronjob, clear_schedule
):
    decision = next_split(
        parse_split_type("mod(2)"), ctx(last=2, clear_cronjob=clear_cronjob), make_catalog()
    )
    assert decision == SplitDecision(
        dataset=None,
        new_last_split=2,
        exhausted=True,
        message=NO_MORE_SPLITS,
        clear_schedule=clear_schedule,
    )


def test_deciding_writes_nothing_so_a_failed_launch_leaves_the_split_where_it_was():
    catalog = make_catalog()
    before = (dict(catalog.datasets), dict(catalog.snapshots))
    first = next_split(parse_split_type("drainingn(2)"), ctx(), catalog)
    again = next_split(parse_split_type("drainingn(2)"), ctx(), catalog)
    assert first == again
    assert (catalog.datasets, catalog.snapshots) == before
    assert first.track is not None and first.track.files == ("f0", "f1")


def test_reset_starts_the_sequence_over():
    catalog = make_catalog()
    spec = parse_split_type("nfiles(2)")
    assert next_split(spec, ctx(last=reset_split()), catalog).dataset == "raw_slice0_files2"


PARSED = [
    ("nfiles(10)", "nfiles", {"n": 10}),
    ("nfiles_10", "nfiles", {"n": 10}),
    ("mod( 3 )", "mod", {"n": 3}),
    ("mod_3", "mod", {"n": 3}),
    ("drainingn(5)", "drainingn", {"n": 5}),
    ("stagedfiles(3)", "stagedfiles", {"n": 3}),
    ("limitn(4)", "limitn", {"n": 4}),
    ("byrun()", "byrun", {"low": 1, "high": 999999}),
    ("byrun( low=1, high=4 )", "byrun", {"low": 1, "high": 4}),
    ("byrun(high=9)", "byrun", {"low": 1, "high": 9}),
    ("None", "none", {}),
    ("none", "none", {}),
    ("", "none", {}),
    (None, "none", {}),
    ("list()", "list", {}),
    ("multiparam", "multiparam", {}),
    ("draining", "draining", {}),
    ("byexistingruns()", "byexistingruns", {}),
    ("new()", "new", {"window": 604800, "round": 1, "fts": 1800, "localtime": 0}),
    ("new( window=1d )", "new", {"window": 86400, "round": 1, "fts": 1800, "localtime": 0}),
    (
        "new(firsttime=1497934800,window=1w,round=1h,fts=5m)",
        "new",
        {"window": 604800, "round": 3600, "fts": 300, "localtime": 0, "firsttime": 1497934800},
    ),
    ("new_local", "new", {"window": 604800, "round": 1, "fts": 1800, "localtime": 1}),
    ("new_local(window=6h)", "new", {"window": 21600, "round": 1, "fts": 1800, "localtime": 1}),
]


@pytest.mark.parametrize(("expression", "kind", "params"), PARSED)
def test_expressions_parse_to_a_type_and_parameters_with_blanks_accepted(expression, kind, params):
    spec = parse_split_type(expression)
    assert (spec.kind, spec.params) == (kind, params)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("foo(3)", "unknown split type 'foo'"),
        ("nfiles(x)", "nfiles: unable to parse integer parameter 'x'"),
        ("nfiles", "nfiles: unable to parse integer parameter ''"),
        ("nfiles(0)", "nfiles: unable to parse integer"),
        ("mod(-1)", "mod: unable to parse integer"),
        ("nfiles(3", "nfiles: unbalanced parentheses"),
        ("byrun(low=5,high=2)", "low=5 is above high=2"),
        ("byrun(lo=1)", "unknown parameter 'lo'"),
        ("byrun(low=a)", "low='a' is not a whole number"),
        ("byrun(low)", "not of the form name=value"),
        ("new(window=abc)", "window='abc' is not a duration"),
        ("new(window=0)", "window and round must be positive"),
        ("list(3)", "split type list takes no parameters"),
    ],
)
def test_malformed_expressions_raise_a_split_error_naming_the_type_and_problem(expression, message):
    with pytest.raises(SplitError, match=message.replace("(", r"\(")):
        parse_split_type(expression)


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ("[[a]]", "multiparam: dataset is not JSON"),
        ('{"a": 1}', "non-empty list of lists"),
        ('[["a"], []]', "every entry must be a non-empty list"),
    ],
)
def test_bad_multiparam_data_raises_a_split_error(dataset, message):
    with pytest.raises(SplitError, match=message):
        next_split(parse_split_type("multiparam"), ctx(dataset), make_catalog())


def test_a_negative_position_is_rejected():
    with pytest.raises(SplitError, match="position -1 is negative"):
        next_split(parse_split_type("nfiles(2)"), ctx(last=-1), make_catalog())


@pytest.mark.parametrize(
    ("expression", "dataset", "length"),
    [
        ("None", "raw", None),
        ("list", "a,b,c", 3),
        ("multiparam", '[["a","b","c"],["x","y"]]', 6),
        ("nfiles(2)", "raw", 3),
        ("mod(4)", "raw", 4),
        ("byrun(low=2,high=5)", "raw", 4),
        ("limitn(2)", "raw", None),
        ("draining", "raw", None),
        ("drainingn(2)", "raw", 3),
        ("stagedfiles(2)", "raw", 2),
        ("byexistingruns", "raw", 3),
        (f"new(firsttime={BASE},window=2h,fts=0,lasttime={BASE + 6 * 3600})", "raw", 3),
    ],
)
def test_length_is_the_number_of_slices_from_the_start_when_knowable(expression, dataset, length):
    assert split_length(parse_split_type(expression), ctx(dataset), make_catalog()) == length


@pytest.mark.parametrize(
    ("main", "test_split", "test", "expected"),
    [
        ("nfiles(2)", "nfiles(1)", True, ("f0",)),  # the reference would read nfiles(2) here
        ("nfiles(2)", "nfiles(1)", False, ("f0", "f1")),
        ("nfiles(2)", "", True, ("f0", "f1")),
        ("nfiles(2)", None, True, ("f0", "f1")),
        ("nfiles(2)", "limitn(3)", True, ("f0", "f1", "f2")),
    ],
)
def test_test_launches_use_the_test_split_type_with_its_own_parameters(
    main, test_split, test, expected
):
    decision = decide_launch(main, test_split, ctx(), make_catalog(), test=test)
    assert decision.define is not None and decision.define.files == expected


SNAPSHOTS = {
    11: StageSplitSnapshot(11, campaign_id=1, split_type="nfiles(2)", last_split=3),
    12: StageSplitSnapshot(12, campaign_id=2, split_type="nfiles(2)", last_split=1),
    13: StageSplitSnapshot(13, campaign_id=1, split_type="mod(3)", last_split=2),
}


@pytest.mark.parametrize(
    ("selected", "custom", "expected"),
    [
        (11, None, 3),  # the snapshot's own position, not its id (reference quirk #8)
        (11, "0", None),
        (0, None, None),
        (12, "11", 3),
        (11, "not a number", 3),
    ],
)
def test_a_manual_position_comes_from_a_matching_snapshot_of_the_campaign(
    selected, custom, expected
):
    assert manual_position(selected, custom, SNAPSHOTS, 1, "nfiles(2)") == expected


@pytest.mark.parametrize(
    ("selected", "message"),
    [
        (99, "snapshot 99 not found"),
        (12, "snapshot 12 does not belong to this campaign"),
        (13, "snapshot 13 does not match the split type"),
    ],
)
def test_a_manual_position_from_a_foreign_snapshot_is_rejected(selected, message):
    with pytest.raises(SplitError, match=message):
        manual_position(selected, None, SNAPSHOTS, 1, "nfiles(2)")


def test_the_fake_catalog_implements_the_port():
    catalog: Catalog = make_catalog()  # mypy checks the signatures, isinstance the names
    assert isinstance(catalog, Catalog)
