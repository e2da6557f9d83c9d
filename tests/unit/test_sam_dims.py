"""The SAM dimensions POMS writes for located checks, dependencies and recoveries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from poms_shared.catalog import sam_dims as d
from poms_shared.catalog.sam_dims import DimsError, SamSubmission
from poms_shared.domain.recovery import RECOVERY_TYPES, recovery_kind

P = "alice-reco-20250304"
T = "'2025-03-04T05:06:07+00:00'"
SUB = SamSubmission(
    submission_id=42,
    project=P,
    version="v1_2",
    created=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
    depth=1,
    dataset="raw_def",
)


def sub(**changes: object) -> SamSubmission:
    values = {**SUB.__dict__, **changes}
    return SamSubmission(**values)  # type: ignore[arg-type]


# ---- building blocks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dims", "cleaned"),
    [
        ("file_name '%' and version v1", "version v1"),
        ("defname:a union (file_name __located__ )", "defname:a"),
        ("(file_name __no_project__ ) union defname:b", "defname:b"),
        ("defname:a union (file_name __no_project__ )", "defname:a"),
        ("(file_name __located__ ) union defname:c", "defname:c"),
        ("  snapshot_id 7 ", "snapshot_id 7"),
        ("file_name '%.root' and version v1", "file_name '%.root' and version v1"),
    ],
)
def test_clean_up_removes_only_the_no_op_fragments(dims, cleaned):
    assert d.clean_dims(dims) == cleaned


@pytest.mark.parametrize(
    ("pattern", "like", "fragment"),
    [
        ("%.root", False, "file_name %.root"),
        ("%.root", True, "file_name like '%.root'"),
        ("data_tier reco", False, "data_tier reco"),
        ("data_tier 'reco' and run_number 5", True, "data_tier 'reco' and run_number 5"),
        ("", True, "file_name like '%'"),
        ("a=b", False, "file_name 'a=b'"),
    ],
)
def test_a_pattern_becomes_a_file_name_fragment_unless_it_is_a_raw_dimension(
    pattern, like, fragment
):
    assert d.pattern_fragment(pattern, like=like) == fragment


@pytest.mark.parametrize(
    ("depth", "nested"),
    [
        (1, "isparentof:( X )"),
        (3, "isparentof:( isparentof:( isparentof:( X ) ) )"),
    ],
)
def test_nesting_repeats_the_relation_depth_times(depth, nested):
    assert d.nest("isparentof", "X", depth) == nested


@pytest.mark.parametrize(
    "call",
    [
        lambda: d.nest("ischildof", "X", 0),
        lambda: d.quoted("it's"),
        lambda: d.value(""),
        lambda: d.name("has blank"),
        lambda: d.name(None, "project"),
        lambda: d.dataset_dims("raw) or (defname:other"),
        lambda: d.dependency_name(0, 1),
        lambda: d.dependency_name(5, 1, "bad user"),
        lambda: d.recovery_definition_name(5, -1),
    ],
)
def test_input_that_would_change_a_dimensions_meaning_is_refused(call):
    with pytest.raises(DimsError):
        call()


def test_times_are_iso_with_an_offset_and_naive_ones_are_utc():
    assert d.iso(datetime(2025, 1, 2, 3, 4, 5)) == "2025-01-02T03:04:05+00:00"
    cet = timezone(timedelta(hours=1))
    assert d.iso(datetime(2025, 1, 2, 3, 4, 5, 999, tzinfo=cet)) == "2025-01-02T03:04:05+01:00"
    assert d.epoch_iso(0) == "1970-01-01T00:00:00+00:00"


# ---- datasets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "dims"),
    [
        (lambda: d.dataset_dims("raw_def"), "defname:raw_def"),
        (lambda: d.dataset_dims("files:f%3"), "file_name like 'f%3'"),
        (lambda: d.dataset_dims("files:"), "file_name like '%'"),
        (lambda: d.snapshot_dims(17), "snapshot_id 17"),
        (lambda: d.file_list_dims(["b", "a", "b"]), "file_name a,b"),
        (lambda: d.file_list_dims(["x y.root", "and"]), "file_name 'and','x y.root'"),
        (lambda: d.file_list_dims([]), d.NO_FILES),
        (lambda: d.run_dims("defname:r", 5), "( defname:r ) and run_number 5"),
        (
            lambda: d.created_between("defname:r", 0, 3600),
            "( defname:r ) and create_date > '1970-01-01T00:00:00+00:00'"
            " and create_date <= '1970-01-01T01:00:00+00:00'",
        ),
        (
            lambda: d.created_between("defname:r", 60),
            "( defname:r ) and create_date > '1970-01-01T00:01:00+00:00'",
        ),
        (
            lambda: d.without_datasets("defname:raw", ["s1", "files:f%"]),
            "( defname:raw ) minus ( defname:s1 or file_name like 'f%' )",
        ),
        (lambda: d.without_datasets("defname:raw", []), "defname:raw"),
    ],
)
def test_port_datasets_map_to_sam_dimensions(call, dims):
    assert call() == dims


# ---- located checks (§3.4) ---------------------------------------------------------------


def _located(pattern: str, depth: int = 1) -> str:
    inner = f"{pattern} and version 'v1_2' and create_date > {T} with availability physical"
    return d.nest("isparentof", inner, depth)


@pytest.mark.parametrize(
    ("submission", "patterns", "dims"),
    [
        (SUB, "%.root", f"snapshot_for_project_name {P} and {_located('file_name %.root')}"),
        (
            SUB,
            "%.root, %.root,%.log,%.root",
            f"snapshot_for_project_name {P} and {_located('file_name %.root')}"
            f" and {_located('file_name %.log')} and {_located('file_name %.root')}",
        ),
        (SUB, "", f"snapshot_for_project_name {P} and {_located('file_name %')}"),
        (
            sub(depth=2),
            ["data_tier 'reco'"],
            f"snapshot_for_project_name {P} and " + _located("data_tier 'reco'", 2),
        ),
    ],
)
def test_the_project_check_asks_for_located_descendants_per_pattern(submission, patterns, dims):
    assert d.located_check_dims(submission, patterns) == dims


def test_the_no_project_check_counts_the_definition_the_jobs_declared():
    assert d.no_project_check_dims(42) == "defname:poms_depends_42_1"
    assert d.no_project_check_dims(42, "alice") == "defname:poms_alice_depends_42_1"


def test_a_located_check_needs_a_project():
    with pytest.raises(DimsError, match="project"):
        d.located_check_dims(sub(project=None), "%")


# ---- dependency definitions (§3.6, §3.7) --------------------------------------------------


@pytest.mark.parametrize(
    ("sid", "index", "user", "defname"),
    [(42, 1, None, "poms_depends_42_1"), (42, 3, "alice", "poms_alice_depends_42_3")],
)
def test_dependency_definitions_are_named_per_submission_and_owner(sid, index, user, defname):
    assert d.dependency_name(sid, index, user) == defname


CHILDREN = f"ischildof:( snapshot_for_project_name {P} ) and version v1_2 and create_date > {T}"


@pytest.mark.parametrize(
    ("submission", "stage_type", "patterns", "dims"),
    [
        (SUB, "regular", "%.root", f"{CHILDREN} and file_name like '%.root'"),
        (
            SUB,
            "regular",
            "%.root,%.log",
            f"{CHILDREN} and ( file_name like '%.root' or file_name like '%.log' )",
        ),
        (
            sub(depth=2),
            "regular",
            "data_tier reco",
            f"ischildof:( ischildof:( snapshot_for_project_name {P} ) ) and version v1_2"
            f" and create_date > {T} and data_tier reco",
        ),
        (SUB, "approval", None, "defname:raw_def and file_name like '%'"),
        (sub(dataset=None), "datatransfer", "%.x", "defname:dname and file_name like '%.x'"),
        (SUB, "generator", "%.root", None),
        (sub(project=None), "regular", "%.root", None),
        (sub(project=""), "approval", "%.root", None),
    ],
)
def test_dependency_dimensions_select_the_outputs_downstream_stages_consume(
    submission, stage_type, patterns, dims
):
    built = d.dependency_dims(
        submission, stage_type=stage_type, file_patterns=patterns, dname="dname"
    )
    assert built == dims


def test_approval_and_transfer_stages_pass_their_input_through_to_every_dependency():
    assert d.pass_through_definitions(42, 2, "raw_def", "alice") == [
        ("poms_alice_depends_42_1", "defname:raw_def"),
        ("poms_alice_depends_42_2", "defname:raw_def"),
    ]
    assert d.pass_through_definitions(42, 0, "raw_def") == []


# ---- recovery (§4.2, §4.5) ---------------------------------------------------------------

CONSUMED = f"snapshot_for_project_name {P} minus ( project_name {P} and consumed_status co% )"


def _kids(pattern: str) -> str:
    return f"isparentof:( version v1_2 and file_name like '{pattern}' and create_date > {T} )"


@pytest.mark.parametrize(
    ("rtype", "kind"),
    [
        ("consumed_status", "consumed_status"),
        ("proj_status", "process_status"),
        (" process_status ", "process_status"),
        ("added_files", "added_files"),
        ("delivered_not_consumed", "delivered_not_consumed"),
        ("pending_files", "pending_files"),
        ("something_else", "consumed_status"),
    ],
)
def test_recovery_type_names_resolve_and_unknown_ones_mean_consumed_status(rtype, kind):
    assert recovery_kind(rtype) == kind


@pytest.mark.parametrize(
    ("rtype", "submission", "extra", "dims"),
    [
        ("consumed_status", SUB, {}, CONSUMED),
        ("no_such_type", SUB, {}, CONSUMED),
        ("added_files", SUB, {}, f"defname:raw_def minus snapshot_for_project_name {P}"),
        (
            "added_files",
            sub(dataset=None),
            {"project_dataset": "proj_def"},
            f"defname:proj_def minus snapshot_for_project_name {P}",
        ),
        (
            "delivered_not_consumed",
            SUB,
            {},
            f"project_name {P} and consumed_status "
            "skipped,unknown,delivered,transferred,unconsumed,cancelled",
        ),
        (
            "pending_files",
            SUB,
            {"output_patterns": "%.root,%.log"},
            f"snapshot_for_project_name {P} minus ( {_kids('%.root')} and {_kids('%.log')} )",
        ),
        (
            "pending_files",
            SUB,
            {},
            f"snapshot_for_project_name {P} minus ( {_kids('%')} )",
        ),
        (
            "process_status",
            SUB,
            {"sam_answer": "snapshot_for_project_name x minus consumed_status consumed"},
            "snapshot_for_project_name x minus consumed_status 'co%'",
        ),
        ("process_status", SUB, {"sam_answer": "  "}, None),
        (
            "process_status",
            SUB,
            {"sam_answer": None},
            f"project_name {P} minus ( project_name {P} and consumed_status co% )",
        ),
    ],
)
def test_each_recovery_type_builds_its_dimension(rtype, submission, extra, dims):
    assert d.recovery_dims(rtype, submission, **extra) == dims


@pytest.mark.parametrize(
    ("answer", "rewritten"),
    [
        ("a minus consumed_status consumed", "a minus consumed_status 'co%'"),
        ("a minus consumed_status 'consumed' and b", "a minus consumed_status 'co%' and b"),
        ("consumed_status consumed,completed", "consumed_status consumed,completed"),
        ("consumed_status consumed_x", "consumed_status consumed_x"),
    ],
)
def test_process_status_widens_only_a_lone_consumed_to_consumed_or_completed(answer, rewritten):
    assert d.process_status_dims(P, answer) == rewritten


def test_the_delivered_not_consumed_dimension_names_the_project():
    assert "<P>" not in (d.recovery_dims("delivered_not_consumed", SUB) or "")
    assert f"project_name {P} " in (d.recovery_dims("delivered_not_consumed", SUB) or "")


@pytest.mark.parametrize("rtype", [*RECOVERY_TYPES, "other"])
def test_every_recovery_type_needs_the_submissions_project(rtype):
    with pytest.raises(DimsError, match="SAM project"):
        d.recovery_dims(rtype, sub(project=None), sam_answer="x")


def test_added_files_needs_some_dataset():
    with pytest.raises(DimsError, match="dataset"):
        d.recovery_dims("added_files", sub(dataset=None))


def test_recovery_definitions_carry_a_unique_token_the_submission_and_the_position():
    assert d.recovery_definition_name(42, 2, "abc") == "poms_recover_abc_42_2"
    first, second = d.recovery_definition_name(42, 0), d.recovery_definition_name(42, 0)
    assert re.fullmatch(r"poms_recover_[0-9a-f]{32}_42_0", first)
    assert first != second
