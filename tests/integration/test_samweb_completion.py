"""Completion and recovery over SAM: the built dimensions, evaluated by the fake server.

One project ``P`` ran on ``input_def`` (in1..in7 at snapshot time; in9 arrived later).
What became of each input in P:

    in1 consumed  (process 1, completed)   children out1.root, out1.log (v1, located)
    in2 completed (process 1, completed)   child out2.root of the wrong version (v0)
    in3 failed    (process 2, completed)   child out3.root made before the launch
    in4 skipped   (process 2, completed)
    in5 consumed  (process 3, bad)         child out5.root (v1, not located)
    in6 delivered (process 2, completed)
    in7 never delivered

Another project ``Q`` consumed in3, which must not count for ``P``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from poms_shared.catalog import sam_dims as d
from poms_shared.catalog.sam_http import SamHttp
from poms_shared.catalog.sam_records import summary_from_json
from poms_shared.catalog.samweb import SamwebCatalog
from poms_shared.testing.fake_samweb import FakeSamweb

EXP = "exp"
P = "alice-reco-20250301"
LAUNCHED = datetime(2025, 3, 1, tzinfo=UTC)
SUB = d.SamSubmission(
    submission_id=42, project=P, version="v1", created=LAUNCHED, depth=1, dataset="input_def"
)
AFTER, BEFORE = LAUNCHED + timedelta(hours=1), LAUNCHED - timedelta(hours=1)


@pytest.fixture
def sam() -> Iterator[FakeSamweb]:
    with FakeSamweb() as fake:
        world = fake.world(EXP)
        for i in range(1, 8):
            world.add_file(f"in{i}")
        world.define("input_def", "file_name in%")
        world.start_project(P, "input_def")
        world.start_project("Q", "input_def")
        world.add_file("in9")
        for name, state, process in [
            ("in1", "consumed", 1),
            ("in2", "completed", 1),
            ("in3", "failed", 2),
            ("in4", "skipped", 2),
            ("in5", "consumed", 3),
            ("in6", "delivered", 2),
        ]:
            world.deliver(P, name, state, process)
        world.projects[P].processes[3] = "bad"
        world.deliver("Q", "in3", "consumed")
        for name, parent, version, made, located in [
            ("out1.root", "in1", "v1", AFTER, True),
            ("out1.log", "in1", "v1", AFTER, True),
            ("out2.root", "in2", "v0", AFTER, True),
            ("out3.root", "in3", "v1", BEFORE, True),
            ("out5.root", "in5", "v1", AFTER, False),
        ]:
            world.add_file(name, parents=[parent], version=version, created=made, located=located)
        yield fake


@pytest.fixture
def catalog(sam: FakeSamweb) -> SamwebCatalog:
    return SamwebCatalog(SamHttp(sam.url, retries=1, backoff=0), experiment=EXP)


def ins(*numbers: int) -> list[str]:
    return [f"in{n}" for n in numbers]


@pytest.mark.parametrize(
    ("rtype", "patterns", "files"),
    [
        ("consumed_status", None, ins(3, 4, 6, 7)),
        ("unknown_type", None, ins(3, 4, 6, 7)),
        ("process_status", None, ins(3, 4, 5, 6, 7)),
        ("proj_status", None, ins(3, 4, 5, 6, 7)),
        ("added_files", None, ins(9)),
        ("delivered_not_consumed", None, ins(4, 6)),
        ("pending_files", "%.root", ins(2, 3, 4, 6, 7)),
        ("pending_files", "%.root,%.log", ins(2, 3, 4, 5, 6, 7)),
    ],
)
def test_each_recovery_type_selects_the_files_it_promises(catalog, rtype, patterns, files):
    dims = catalog.recovery_dims(EXP, rtype, SUB, patterns)
    assert dims is not None
    assert catalog.list(EXP, dims) == files
    assert catalog.count(EXP, dims) == len(files)


def test_added_files_falls_back_to_the_projects_definition(catalog):
    dims = catalog.recovery_dims(EXP, "added_files", d.SamSubmission(42, P, "v1", LAUNCHED))
    assert dims == f"defname:input_def minus snapshot_for_project_name {P}"
    assert catalog.list(EXP, dims) == ["in9"]


def test_process_status_falls_back_to_what_the_project_did_not_consume(sam, catalog):
    sam.fail_next(2, status=500)  # SAM's recovery_dimensions fails, retry included
    dims = catalog.recovery_dims(EXP, "process_status", SUB)
    assert len(sam.calls(f"projects/name/{P}/recovery_dimensions")) == 2
    assert catalog.list(EXP, dims or "") == ins(3, 4, 6)


def test_process_status_finds_nothing_to_do_when_sam_says_so(sam, catalog):
    world = sam.world(EXP)
    world.start_project("done", "input_def")
    for name in ins(1, 2, 3, 4, 5, 6, 7, 9):
        world.deliver("done", name, "consumed")
    assert catalog.recovery_dimensions(EXP, "done", use_process=True) == ""
    assert (
        catalog.recovery_dims(EXP, "process_status", d.SamSubmission(1, "done", "v1", LAUNCHED))
        is None
    )


def test_sams_recovery_answer_is_widened_to_completed_files(catalog):
    raw = catalog.recovery_dimensions(EXP, P, use_process=False)
    assert "consumed_status consumed" in raw
    assert catalog.list(EXP, raw) == ins(2, 3, 4, 6, 7)  # in2 "completed" counts as undone
    widened = d.process_status_dims(P, raw)
    assert catalog.list(EXP, widened or "") == ins(3, 4, 6, 7)


def test_a_recovery_definition_can_be_created_and_launched_on(catalog):
    dims = catalog.recovery_dims(EXP, "consumed_status", SUB)
    name = d.recovery_definition_name(SUB.submission_id, 0, "t0k3n")
    catalog.create_definition(EXP, name, dims or "")
    assert catalog.count_files(EXP, name) == 4
    assert name == "poms_recover_t0k3n_42_0"


@pytest.mark.parametrize(
    ("patterns", "depth", "count"),
    [
        ("%.root", 1, 1),  # in1; out5.root is not located, out2 wrong version, out3 too early
        ("%.root,%.log", 1, 1),
        ("%.log", 1, 1),
        ("%.txt", 1, 0),
        ("%.root", 2, 0),  # no grandchildren
    ],
)
def test_the_located_check_counts_inputs_with_located_outputs(catalog, patterns, depth, count):
    sub = d.SamSubmission(42, P, "v1", LAUNCHED, depth=depth)
    assert catalog.count(EXP, d.located_check_dims(sub, patterns)) == count


def test_the_located_check_follows_the_ancestor_depth(sam, catalog):
    sam.world(EXP).add_file("ana1.root", parents=["out1.root"], version="v1", created=AFTER)
    sub = d.SamSubmission(42, P, "v1", LAUNCHED, depth=2)
    assert catalog.count(EXP, d.located_check_dims(sub, "%.root")) == 1
    assert catalog.count(EXP, d.located_check_dims(sub, "%.log")) == 0


def test_the_dependency_definition_holds_the_new_outputs_of_the_version(catalog):
    dname = d.dependency_name(42, 1)
    dims = d.dependency_dims(SUB, stage_type="regular", file_patterns="%.root", dname=dname)
    catalog.create_definition(EXP, dname, dims or "")
    assert catalog.list(EXP, f"defname:{dname}") == ["out1.root", "out5.root"]
    both = d.dependency_dims(SUB, stage_type="regular", file_patterns="%.root,%.log", dname=dname)
    assert catalog.list(EXP, both or "") == ["out1.log", "out1.root", "out5.root"]
    passed = d.dependency_dims(SUB, stage_type="approval", file_patterns=None, dname=dname)
    assert catalog.count(EXP, passed or "") == 8


def test_the_project_summary_totals_files_and_jobs(sam, catalog):
    summary = catalog.project_summary(EXP, P)
    assert summary is not None
    assert (summary.project, summary.status, summary.definition) == (P, "running", "input_def")
    assert summary.files_in_snapshot == 7
    totals = (
        summary.tot_consumed,
        summary.tot_failed,
        summary.tot_skipped,
        summary.tot_delivered,
        summary.tot_unknown,
        summary.tot_cancelled,
    )
    assert totals == (3, 1, 1, 1, 0, 0)
    assert summary.delivered_to_sam == 6
    assert (summary.tot_jobs, summary.tot_jobfails) == (2, 1)  # completed processes only
    assert summary.file_counts["consumed"] == 2
    per_process = summary_from_json(P, sam.world(EXP).summary(P, with_processes=True))
    assert per_process.tot_consumed == 3 and per_process.tot_delivered == 1
    assert (per_process.tot_jobs, per_process.tot_jobfails) == (3, 1)
    assert catalog.project_summary(EXP, "no_such_project") is None
