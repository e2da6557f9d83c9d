"""The jobsub wrapper's pure rules: what it reads, the argv it builds, what it parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from poms_shared.wrapper.jobsub import (
    batch_id,
    classad,
    dataset_in,
    find_real_tool,
    install,
    job_id_in,
    submit_argv,
)
from poms_shared.wrapper.reporting import LaunchEnv, child_env, exit_status
from poms_shared.wrapper.run_script import fake_batch_id

LAUNCH_ENV = {
    "POMS4_CAMPAIGN_STAGE_ID": "12",
    "POMS4_CAMPAIGN_STAGE_NAME": "sim",
    "POMS4_CAMPAIGN_STAGE_TYPE": "regular",
    "POMS4_CAMPAIGN_ID": "3",
    "POMS4_CAMPAIGN_NAME": "nu_flux",
    "POMS4_SUBMISSION_ID": "77",
    "POMS4_TEST_LAUNCH": "False",
    "POMS4_EXPERIMENT": "nova",
    "POMS_CAMPAIGN_ID": "12",
    "POMS_CAMPAIGN_NAME": "nu_flux__sim",
    "POMS_TASK_ID": "77",
    "POMS_PARENT_TASK_ID": "",
    "POMS_LAUNCHER": "pat",
    "POMS_CAMPAIGN_TAGS": "mc, 2025",
    "POMS_JOBSUB_EXTRA": "--memory 2GB",
    "GROUP": "nova",
}


def test_the_launch_environment_is_read_with_the_legacy_names_as_fallback() -> None:
    launch = LaunchEnv.read(LAUNCH_ENV)
    assert (launch.stage_id, launch.submission_id, launch.parent_id) == ("12", "77", None)
    assert launch.tags == ("mc", "2025") and launch.extra == ("--memory", "2GB")
    assert launch.experiment == "nova" and launch.user({}) == "pat"
    legacy = LaunchEnv.read({"POMS_CAMPAIGN_ID": "5", "GROUP": "dune", "USER": "ann"})
    assert (legacy.stage_id, legacy.submission_id, legacy.experiment) == ("5", None, "dune")
    assert legacy.user({"USER": "ann"}) == "ann"


def test_the_real_tool_gets_poms_options_classads_extra_then_the_users_arguments() -> None:
    launch = LaunchEnv.read(LAUNCH_ENV)
    argv = submit_argv("/jobsub/jobsub_submit", launch, "77", ["-G", "nova", "file:///x.sh"])
    assert argv[:5] == ["/jobsub/jobsub_submit", "-e", "POMS_CAMPAIGN_ID", "-e", "POMS_TASK_ID"]
    assert argv[-5:] == ["--memory", "2GB", "-G", "nova", "file:///x.sh"]
    ads = [a.removeprefix("--lines=") for a in argv if a.startswith("--lines=")]
    assert ads == [
        '+FIFE_CATEGORIES="POMS_TASK_ID_77,POMS_CAMPAIGN_ID_12,mc,2025"',
        "+POMS_TASK_ID=77",
        "+POMS_CAMPAIGN_ID=12",
        '+POMS_LAUNCHER="pat"',
        '+POMS_CAMPAIGN_NAME="nu_flux__sim"',
        "+POMS4_CAMPAIGN_STAGE_ID=12",
        '+POMS4_CAMPAIGN_STAGE_NAME="sim"',
        "+POMS4_CAMPAIGN_ID=3",
        '+POMS4_CAMPAIGN_NAME="nu_flux"',
        "+POMS4_SUBMISSION_ID=77",
        '+POMS4_CAMPAIGN_TYPE="regular"',
        "+POMS4_TEST_LAUNCH=False",
    ]


def test_without_a_submission_id_no_task_classads_are_added() -> None:
    launch = LaunchEnv.read({"POMS_CAMPAIGN_ID": "12"})
    argv = submit_argv("js", launch, None, ["file:///x"])
    assert argv == [
        "js",
        "-e",
        "POMS_CAMPAIGN_ID",
        '--lines=+FIFE_CATEGORIES="POMS_CAMPAIGN_ID_12"',
        "--lines=+POMS_CAMPAIGN_ID=12",
        "--lines=+POMS4_CAMPAIGN_STAGE_ID=12",
        "file:///x",
    ]


def test_string_classads_are_quoted_and_escaped() -> None:
    assert classad("POMS_CAMPAIGN_NAME", 'a "b"') == r'+POMS_CAMPAIGN_NAME="a \"b\""'
    assert classad("POMS_TASK_ID", "not-a-number") == '+POMS_TASK_ID="not-a-number"'


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (
            "Use job id 4242000.0@jobsub01.fnal.gov to retrieve output",
            "4242000.0@jobsub01.fnal.gov",
        ),
        ("1 job(s) submitted to cluster 4242000.", None),
    ],
)
def test_the_job_id_comes_from_the_retrieve_output_line(line: str, found: str | None) -> None:
    assert job_id_in(line) == found


def test_the_batch_id_drops_the_process_number() -> None:
    assert batch_id("4242000.0@jobsub01.fnal.gov") == "4242000@jobsub01.fnal.gov"


def test_the_dataset_definition_is_found_in_the_arguments() -> None:
    assert dataset_in(["--dataset_definition", "my_def", "file:///x"]) == "my_def"
    assert dataset_in(["--dataset-definition=d2"]) == "d2"
    assert dataset_in(["-N", "3"]) is None


def test_the_real_tool_is_found_past_the_shims(tmp_path: Path) -> None:
    shims, real = tmp_path / "shims", tmp_path / "real"
    install(shims)
    real.mkdir()
    (real / "jobsub_submit").write_text("#!/bin/sh\n")
    (real / "jobsub_submit").chmod(0o755)
    path = f"{shims}:{tmp_path / 'empty'}:{real}"
    assert find_real_tool("jobsub_submit", {"PATH": path}) == str(real / "jobsub_submit")
    assert find_real_tool("jobsub_submit", {"PATH": str(shims)}) is None
    client_dir = {"PATH": str(shims), "JOBSUB_CLIENT_DIR": str(real)}
    assert find_real_tool("jobsub_submit", client_dir) == str(real / "jobsub_submit")


def test_install_writes_executable_shims_for_both_tools(tmp_path: Path) -> None:
    made = install(tmp_path / "bin")
    assert [p.name for p in made] == ["jobsub_submit", "jobsub_submit_dag"]
    assert all(p.stat().st_mode & 0o111 for p in made)
    assert "POMS_JOBSUB_TOOL=jobsub_submit_dag" in made[1].read_text()


def test_the_child_gets_the_submission_id_under_both_names() -> None:
    launch = LaunchEnv.read({"POMS4_CAMPAIGN_STAGE_ID": "12"})
    env = child_env({"PATH": "/bin"}, launch, "90")
    assert env["POMS_TASK_ID"] == env["POMS4_SUBMISSION_ID"] == "90"
    assert env["POMS_CAMPAIGN_ID"] == "12"


def test_exit_statuses_and_fake_batch_ids_look_like_the_shells() -> None:
    assert (exit_status(0), exit_status(3), exit_status(-9)) == (0, 3, 137)
    assert fake_batch_id(1700000000, "node.fnal.gov") == "1700000000.0@fakebatch1.node.fnal.gov"
