"""Recoveries in order on exactly the right files, then dependents, on four service
processes over RabbitMQ and PostgreSQL (the acceptance scenario of the tracking issue).

simulate's job 0 fails on two inputs and job 1 loses one output. The job type recovers
with consumed_status (whose run loses one output again) and then pending_files:

  S  (6 inputs) → R1 consumed_status on the 2 failed inputs
  R1 (2 inputs) → R2 pending_files on the 1 input whose output R1 lost
  R2 located    → list exhausted → reconstruct on S's lineage outputs (5 files)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from poms_shared.testing.db import DatabaseUnavailable
from poms_shared.testing.http import call, wait_until
from poms_shared.testing.stack import DistributedStack, campaign_stack

pytestmark = pytest.mark.e2e

RECOVERY_INI = """
[campaign]
name=recovering
campaign_stage_list=generate,simulate,reconstruct

[campaign_defaults]
software_version=v1_0
completion_type=located
completion_pct=50
login_setup=demo_local
job_type=recovering_job

[campaign_stage generate]
stage_type=generator
param_overrides=[["--stage ", "generate"], ["--jobs ", "3"]]

[campaign_stage simulate]
param_overrides=[["--stage ", "simulate"], ["--jobs ", "3"], ["--dataset ", "%(dataset)s"],
    ["--fail-on ", "'gen_*_0_0.root,gen_*_1_1.root'"], ["--lose-on ", "'gen_*_2_0.root'"]]

[campaign_stage reconstruct]
param_overrides=[["--stage ", "reconstruct"], ["--jobs ", "2"], ["--dataset ", "%(dataset)s"]]

[job_type recovering_job]
launch_script=poms-demo-launch
parameters=[["--version ", "%(version)s"], ["--experiment ", "%(experiment)s"]]
output_file_patterns=%.root
recoveries=[["consumed_status", [["--fail-on ", "none"], ["--lose-on ", "'gen_*_0_0.root'"]]],
    ["pending_files", [["--fail-on ", "none"], ["--lose-on ", "none"]]]]

[dependencies simulate]
campaign_stage_1 = generate
file_pattern_1 = gen_%.root

[dependencies reconstruct]
campaign_stage_1 = simulate
file_pattern_1 = sim_%.root
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[DistributedStack]:
    try:
        with campaign_stack(tmp_path_factory.mktemp("var"), RECOVERY_INI) as running:
            yield running
    except DatabaseUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


def get(stack: DistributedStack, path: str) -> dict:
    status, body = call(f"{stack.web_url}/api/v1{path}")
    assert status == 200, (path, body)
    return body


def stage_submissions(stack: DistributedStack) -> dict[str, list[dict]]:
    detail = get(stack, "/campaigns/recovering")
    return {s["name"]: s["submissions"] for s in detail["stages_detail"]}


def inputs_of(stack: DistributedStack, sid: int) -> list[str]:
    files = get(stack, f"/submissions/{sid}/files")
    return sorted(f["name"] for f in files["inputs"])


def generic(names: list[str]) -> list[str]:
    """File names without the batch cluster id (``gen_17_0_0.root`` → ``gen_0_0.root``)."""
    return sorted(re.sub(r"^(\w+?)_\d+_", r"\1_", n) for n in names)


def test_recoveries_run_in_order_on_the_right_files_then_dependents(stack):
    status, body = call(f"{stack.web_url}/api/v1/campaigns/recovering/launch", "POST")
    assert status == 202, body

    def reconstructed():
        subs = stage_submissions(stack)
        return subs["reconstruct"] and subs["reconstruct"][0]["status"] == "Located" and subs

    subs = wait_until(reconstructed, 240)
    simulate = sorted(subs["simulate"], key=lambda s: s["submission_id"])
    assert len(simulate) == 3, simulate  # the original and two recoveries
    original, first, second = (s["submission_id"] for s in simulate)

    lineage = get(stack, f"/submissions/{original}/lineage")
    assert [r["submission_id"] for r in lineage["recoveries"]] == [first, second]
    assert [r["recovery_type"] for r in lineage["recoveries"]] == [
        "consumed_status",
        "pending_files",
    ]
    assert lineage["recovery_position"] == 2  # each step evaluated once
    reco = subs["reconstruct"][0]["submission_id"]
    assert [d["submission_id"] for d in lineage["dependents"]] == [reco]
    assert get(stack, f"/submissions/{first}/lineage")["recovery_parent"]["submission_id"] == (
        original
    )

    # each recovery ran on exactly the files the previous run failed to do
    assert generic(inputs_of(stack, original)) == [
        "gen_0_0.root", "gen_0_1.root", "gen_1_0.root", "gen_1_1.root", "gen_2_0.root",
        "gen_2_1.root",
    ]  # fmt: skip
    assert generic(inputs_of(stack, first)) == ["gen_0_0.root", "gen_1_1.root"]
    assert generic(inputs_of(stack, second)) == ["gen_0_0.root"]

    # the final counts add up: 6 simulated, one never located, 5 reconstructed
    files = get(stack, f"/submissions/{original}/files")
    assert files["counts"]["failed"] == 2 and files["counts"]["consumed"] == 4
    assert generic(inputs_of(stack, reco)) == [
        "sim_0_0.root", "sim_0_1.root", "sim_1_0.root", "sim_1_1.root", "sim_2_1.root",
    ]  # fmt: skip
    reco_detail = get(stack, f"/submissions/{reco}")
    assert len(reco_detail["output_files"]) == 5
    assert all(f["location"] for f in reco_detail["output_files"])


def test_the_preview_and_a_manual_recovery(stack):
    subs = stage_submissions(stack)
    original = min(s["submission_id"] for s in subs["simulate"])
    preview = get(stack, f"/submissions/{original}/recovery-preview?type=pending_files")
    # the output S lost (from gen_*_2_0) was never recovered: pending_files still finds it
    assert [generic(step["files"]) for step in preview["steps"]] == [["gen_2_0.root"]]
    status, body = call(
        f"{stack.web_url}/api/v1/submissions/{original}/recover",
        "POST",
        {"recovery_type": "pending_files"},
    )
    assert status == 202, body
    manual = body["submission_id"]
    assert wait_until(lambda: generic(inputs_of(stack, manual)), 60) == ["gen_2_0.root"]
    status, body = call(
        f"{stack.web_url}/api/v1/submissions/{original}/recover",
        "POST",
        {"recovery_type": "added_files"},
    )
    assert status == 400 and body["error"]["message"] == "No recovery needed, launch skipped."
    status, body = call(
        f"{stack.web_url}/api/v1/submissions/{original}/recover",
        "POST",
        {"recovery_type": "everything"},
    )
    assert status == 400 and "unknown recovery type 'everything'" in body["error"]["message"]
