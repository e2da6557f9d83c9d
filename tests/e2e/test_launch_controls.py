"""Launch variants, holds, schedules, split position, approvals, logs and job control
through the API, on four service processes over RabbitMQ and PostgreSQL."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from poms_shared.testing.db import DatabaseUnavailable
from poms_shared.testing.http import call, wait_until
from poms_shared.testing.stack import DistributedStack, campaign_stack

pytestmark = pytest.mark.e2e

CONTROLS_INI = """
[campaign]
name=controls

[campaign_defaults]
software_version=v1_0
completion_type=located
completion_pct=50
login_setup=demo_local
job_type=demo_job

[campaign_stage slow]
job_type=slow_job
completion_type=complete

[campaign_stage review]
stage_type=approval

[campaign_stage after]
param_overrides=[["--stage ", "reconstruct"], ["--jobs ", "1"], ["--dataset ", "%(dataset)s"]]

[campaign_stage sweep]
dataset_or_split_data=[["electron","muon"],["1GeV","3GeV"]]
cs_split_type=multiparam
completion_type=complete
param_overrides=[["--stage ", "generate"], ["--jobs ", "1"], ["--tune ", "%(parameter)s"]]

[job_type slow_job]
launch_script=poms-local-submit -N 2 -- sleep 120
parameters=[]
output_file_patterns=%

[login_setup broken_setup]
host=localhost
account=poms
setup=no-such-setup-command-xyz

[dependencies after]
campaign_stage_1 = review
file_pattern_1 = %
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[DistributedStack]:
    try:
        with campaign_stack(tmp_path_factory.mktemp("var"), CONTROLS_INI) as running:
            yield running
    except DatabaseUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


def stage_ids(stack: DistributedStack, campaign: str) -> dict[str, int]:
    _, detail = call(f"{stack.web_url}/api/v1/campaigns/{campaign}")
    return {s["name"]: s["stage_id"] for s in detail["stages_detail"]}


def submission(stack: DistributedStack, sid: int) -> dict:
    status, body = call(f"{stack.web_url}/api/v1/submissions/{sid}")
    assert status == 200, body
    return body


def status_is(stack: DistributedStack, sid: int, *wanted: str):
    def probe():
        return submission(stack, sid)["status"] in wanted

    probe.__name__ = f"submission {sid} in {wanted}"
    return probe


def test_a_test_launch_of_one_stage_answers_with_its_submission(stack):
    gen = stage_ids(stack, "demo_mc")["generate"]
    status, body = call(f"{stack.web_url}/api/v1/stages/{gen}/launch", "POST", {"test": True})
    assert status == 202, body
    sid = body["submission_id"]
    wait_until(status_is(stack, sid, "Located"), timeout=90)
    detail = submission(stack, sid)
    assert detail["test"] is True
    assert "--stage generate" in detail["command"]
    _, log = call(f"{stack.web_url}/api/v1/submissions/{sid}/log")
    assert "== process_id:" in log and "POMS_BATCH_ID=" in log
    _, tail = call(f"{stack.web_url}/api/v1/submissions/{sid}/log?tail=1")
    assert tail.count("\n") <= 1


def test_a_held_stage_queues_launches_and_release_replays_them(stack):
    gen = stage_ids(stack, "demo_mc")["generate"]
    url = f"{stack.web_url}/api/v1/stages/{gen}"
    assert call(f"{url}/hold", "POST")[0] == 200
    status, body = call(f"{url}/launch", "POST", {})
    assert status == 423 and body["error"]["code"] == "held"
    held_id = body["error"]["held_launch_id"]
    _, listing = call(f"{stack.web_url}/api/v1/held-launches?stage_id={gen}")
    assert [h["held_launch_id"] for h in listing["items"]] == [held_id]
    _, released = call(f"{url}/release", "POST")
    assert released["replayed"] == [held_id]
    assert call(f"{stack.web_url}/api/v1/held-launches?stage_id={gen}")[1]["items"] == []


def test_the_global_hold_holds_every_stage_until_released(stack):
    gen = stage_ids(stack, "demo_mc")["generate"]
    assert call(f"{stack.web_url}/api/v1/launches/hold", "POST")[0] == 200
    try:
        status, body = call(f"{stack.web_url}/api/v1/stages/{gen}/launch", "POST", {})
        assert status == 423
    finally:
        _, released = call(f"{stack.web_url}/api/v1/launches/release", "POST")
    assert body["error"]["held_launch_id"] in released["replayed"]


def test_schedules_validate_cron_and_show_the_next_runs(stack):
    gen = stage_ids(stack, "demo_mc")["generate"]
    url = f"{stack.web_url}/api/v1/stages/{gen}/schedule"
    status, body = call(url, "PUT", {"cron": "every tuesday"})
    assert status == 400 and "does not parse" in body["error"]["message"]
    status, body = call(url, "PUT", {"cron": "0 3 * * 1"})
    assert status == 200 and body["cron"] == "0 3 * * 1" and len(body["next_runs"]) == 5
    assert "T03:00:00" in body["next_runs"][0]
    assert call(url, "DELETE")[1]["cron"] is None


def test_split_position_can_be_reset_or_set_and_bad_values_are_refused(stack):
    gen = stage_ids(stack, "demo_mc")["generate"]
    url = f"{stack.web_url}/api/v1/stages/{gen}/split"
    assert call(url, "POST", {"position": 3})[1]["cs_last_split"] == 3
    assert call(url, "POST", {"reset": True})[1]["cs_last_split"] is None
    status, body = call(url, "POST", {"position": -1})
    assert status == 400 and "non-negative" in body["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/v1/stages/999999/launch", {}, 404),
        ("/api/v1/stages/999999/hold", None, 404),
        ("/api/v1/submissions/999999/kill", None, 404),
    ],
)
def test_unknown_targets_get_a_clear_404(stack, path, body, expected):
    status, answer = call(f"{stack.web_url}{path}", "POST", body)
    assert status == expected and answer["error"]["code"] == "not_found"


def test_an_approval_stage_waits_for_a_person_and_approval_launches_dependents(stack):
    ids = stage_ids(stack, "controls")
    status, body = call(
        f"{stack.web_url}/api/v1/stages/{ids['review']}/launch",
        "POST",
        {"dataset": "poms_depends_1_1"},
    )
    assert status == 202, body
    sid = body["submission_id"]
    wait_until(status_is(stack, sid, "Awaiting Approval"), timeout=30)
    assert submission(stack, sid)["why"] == "waiting for a person to approve or reject it"
    assert call(f"{stack.web_url}/api/v1/submissions/{sid}/approve", "POST")[0] == 202
    wait_until(status_is(stack, sid, "Located"), timeout=30)
    assert submission(stack, sid)["why"] is None
    after = wait_until(lambda: _submissions_of(stack, "controls", "after"), timeout=30)
    assert after[0]["dataset"] == f"poms_depends_{sid}_1"
    wait_until(status_is(stack, after[0]["submission_id"], "Located"), timeout=90)


def test_rejecting_an_approval_removes_it(stack):
    review = stage_ids(stack, "controls")["review"]
    _, body = call(f"{stack.web_url}/api/v1/stages/{review}/launch", "POST", {"dataset": "x"})
    sid = body["submission_id"]
    wait_until(status_is(stack, sid, "Awaiting Approval"), timeout=30)
    assert call(f"{stack.web_url}/api/v1/submissions/{sid}/reject", "POST")[0] == 202
    wait_until(status_is(stack, sid, "Removed"), timeout=30)
    status, answer = call(f"{stack.web_url}/api/v1/submissions/{sid}/approve", "POST")
    assert status == 400 and "not Awaiting Approval" in answer["error"]["message"]


def _submissions_of(stack: DistributedStack, campaign: str, stage: str) -> list[dict]:
    _, detail = call(f"{stack.web_url}/api/v1/campaigns/{campaign}")
    return next(s for s in detail["stages_detail"] if s["name"] == stage)["submissions"]


def test_a_multiparam_stage_walks_its_combinations_then_refuses_with_no_more_splits(stack):
    sweep = stage_ids(stack, "controls")["sweep"]
    url = f"{stack.web_url}/api/v1/stages/{sweep}"
    datasets = []
    for _ in range(4):
        status, body = call(f"{url}/launch", "POST", {})
        assert status == 202, body
        datasets.append(submission(stack, body["submission_id"])["dataset"])
    assert datasets == ["electron_1GeV", "muon_1GeV", "electron_3GeV", "muon_3GeV"]
    status, body = call(f"{url}/launch", "POST", {})
    assert status == 400 and body["error"]["message"] == "No more splits in this campaign."
    assert call(f"{url}/split", "POST", {"reset": True})[0] == 200
    status, body = call(f"{url}/launch", "POST", {})
    assert submission(stack, body["submission_id"])["dataset"] == "electron_1GeV"


def test_show_commands_reserves_a_submission_and_returns_the_runnable_command(stack):
    gen = stage_ids(stack, "demo_mc")["generate"]
    status, body = call(
        f"{stack.web_url}/api/v1/stages/{gen}/launch", "POST", {"commands_only": True}
    )
    assert status == 202, body
    assert "poms-demo-launch" in str(body["commands"])
    detail = submission(stack, body["submission_id"])
    assert detail["status"] == "New" and detail["batch_id"] is None


def test_killing_a_running_submission_removes_its_jobs(stack):
    slow = stage_ids(stack, "controls")["slow"]
    _, body = call(f"{stack.web_url}/api/v1/stages/{slow}/launch", "POST", {})
    sid = body["submission_id"]
    wait_until(status_is(stack, sid, "Running", "Idle"), timeout=60)
    status, answer = call(f"{stack.web_url}/api/v1/submissions/{sid}/kill", "POST")
    assert status == 202 and answer["submission_ids"] == [sid]
    wait_until(status_is(stack, sid, "Removed"), timeout=60)
    status, answer = call(f"{stack.web_url}/api/v1/submissions/{sid}/kill", "POST")
    assert status == 400 and "past Running" in answer["error"]["message"]


def test_a_job_type_test_launch_runs_on_its_own_test_stage(stack):
    _, detail = call(f"{stack.web_url}/api/v1/campaigns/demo_mc")
    job_type_id = detail["stages_detail"][0]["job_type_id"]
    status, body = call(
        f"{stack.web_url}/api/v1/job-types/{job_type_id}/test", "POST", {"commands_only": True}
    )
    assert status == 202, body
    detail = submission(stack, body["submission_id"])
    assert detail["test"] is True and detail["stage"] == "_test_demo_job"
    status, again = call(
        f"{stack.web_url}/api/v1/job-types/{job_type_id}/test", "POST", {"commands_only": True}
    )
    assert submission(stack, again["submission_id"])["stage"] == "_test_demo_job"
    assert call(f"{stack.web_url}/api/v1/job-types/999999/test", "POST")[0] == 404


def test_launching_as_another_user_records_both_people(stack):
    gen = stage_ids(stack, "demo_mc")["generate"]
    _, body = call(
        f"{stack.web_url}/api/v1/stages/{gen}/launch",
        "POST",
        {"as_user": "shifter", "commands_only": True},
    )
    detail = submission(stack, body["submission_id"])
    assert detail["launcher"] == "shifter" and detail["launched_by"] == "poms"
    assert "POMS_LAUNCHER" in str(body["commands"]) and "shifter" in str(body["commands"])


def test_pausing_a_campaign_holds_its_launches_until_it_resumes(stack):
    base = f"{stack.web_url}/api/v1/campaigns/demo_mc"
    assert call(f"{base}/pause", "POST")[1]["paused"] is True
    gen = stage_ids(stack, "demo_mc")["generate"]
    status, body = call(f"{stack.web_url}/api/v1/stages/{gen}/launch", "POST", {})
    assert status == 423
    _, resumed = call(f"{base}/resume", "POST")
    assert body["error"]["held_launch_id"] in resumed["replayed"]
    _, info = call(f"{stack.web_url}/api/v1/stages/{gen}")
    assert info["held"] is False


def test_a_login_setup_test_runs_the_setup_and_prints_the_environment(stack):
    _, detail = call(f"{stack.web_url}/api/v1/campaigns/demo_mc")
    setup_id = detail["stages_detail"][0]["login_setup_id"]
    base = f"{stack.web_url}/api/v1/login-setups/{setup_id}"
    status, started = call(f"{base}/test", "POST")
    assert status == 202, started
    assert started["log_url"] == f"/api/v1/login-setups/{setup_id}/tests/{started['log_name']}"

    def finished():
        _, items = call(f"{base}/tests")
        mine = [i for i in items["items"] if i["log_name"] == started["log_name"]]
        return mine and mine[0]["outcome"] != "running" and mine[0]

    entry = wait_until(finished, 60)
    assert entry["outcome"] == "succeeded"
    status, text = call(stack.web_url + started["log_url"])
    assert status == 200
    assert "POMS_LAUNCHER=poms\n" in text and "JOBSUB_GROUP=demo\n" in text
    assert "login setup test: environment printed successfully" in text
    assert "POMS4_SUBMISSION_ID" not in text  # no submission is made
    assert call(f"{base}/tests/..%2Fetc")[0] == 404
    assert call(f"{stack.web_url}/api/v1/login-setups/999999/test", "POST")[0] == 404


def test_a_login_setup_test_that_fails_says_so(stack):
    _, setups = call(f"{stack.web_url}/api/v1/login-setups?experiment=demo")
    setup_id = next(i["login_setup_id"] for i in setups["items"] if i["name"] == "broken_setup")
    _, started = call(f"{stack.web_url}/api/v1/login-setups/{setup_id}/test", "POST")

    def finished():
        try:
            response = urllib.request.urlopen(stack.web_url + started["log_url"], timeout=10)
        except urllib.error.HTTPError:
            return False  # the log is not there until the launcher starts the test
        return response.headers["X-POMS-Outcome"] != "running" and response

    response = wait_until(finished, 60)
    assert response.headers["X-POMS-Outcome"] == "failed"
    text = response.read().decode()
    assert "no-such-setup-command-xyz" in text
    assert "the login setup exited with status 127" in text


def test_a_bad_split_type_is_refused_when_the_stage_is_edited(stack):
    sweep = stage_ids(stack, "controls")["sweep"]
    url = f"{stack.web_url}/api/v1/stages/{sweep}"
    status, body = call(url, "PATCH", {"split_type": "bysize(3)"})
    assert status == 400
    assert "unknown split type 'bysize'" in body["error"]["message"]
    status, body = call(url, "PATCH", {"split_type": "nfiles(0)"})
    assert status == 400 and "positive whole number" in body["error"]["message"]
    assert call(url)[1]["split_type"] == "multiparam"  # unchanged
