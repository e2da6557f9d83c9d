"""The original client's session, as plain HTTP form posts, against the running services.

Upload an `.ini` → launch a stage (303, submission id in the Location) → the jobsub
wrapper's registration (``get_submission_id_for``) and report (``update_submission``)
for a job launched by hand → ``campaign_stage_submissions`` and ``submission_details``
in JSON → ``kill_jobs`` (first the confirmation, then for real) — on four service
processes over RabbitMQ and PostgreSQL, authenticated with an API token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from poms_shared.testing.db import DatabaseUnavailable
from poms_shared.testing.http import NotYet, wait_until
from poms_shared.testing.stack import DistributedStack, campaign_stack

pytestmark = pytest.mark.e2e

SESSION_INI = """
[campaign]
experiment=demo
poms_role=production
name=compat_session
campaign_stage_list=run

[campaign_defaults]
software_version=v1_0
completion_type=complete
completion_pct=100
login_setup=demo_local
job_type=sleepy

[campaign_stage run]
param_overrides=[]

[job_type sleepy]
launch_script=poms-local-submit -N 2 -- sleep 300
parameters=[]
output_file_patterns=%
"""


class Poms:
    """What the original client does: form POSTs to <base>/<method>, no redirects."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, files: Any = None, **fields: Any) -> requests.Response:
        fields = {"experiment": "demo", "role": "production", **fields}
        form = {k: str(v) for k, v in fields.items() if v is not None}
        return self.http.post(
            f"{self.base}/{method}", data=form, files=files, allow_redirects=False, timeout=60
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedStack]:
    try:
        with campaign_stack(tmp_path_factory.mktemp("var")) as running:
            yield running
    except DatabaseUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture(scope="module")
def poms(stack: DistributedStack) -> Poms:
    made = requests.post(f"{stack.web_url}/api/v1/tokens", json={"name": "client"}, timeout=30)
    assert made.status_code == 201, made.text
    return Poms(stack.web_url, made.json()["token"])


def test_the_original_client_session(poms: Poms) -> None:
    uploaded = poms.call(
        "ini_to_campaign", files={"upload": ("session.ini", SESSION_INI)}, pcl_call=1
    )
    assert uploaded.status_code == 200, uploaded.text

    campaign_id = poms.call("get_campaign_id", campaign_name="compat_session").json()
    stage_id = poms.call(
        "get_campaign_stage_id", campaign_name="compat_session", campaign_stage_name="run"
    ).json()
    assert isinstance(campaign_id, int) and isinstance(stage_id, int)
    assert poms.call("get_campaign_stage_name", campaign_stage_id=stage_id).json() == [
        "compat_session",
        "run",
    ]

    launched = poms.call("launch_jobs", campaign_stage_id=stage_id)
    assert launched.status_code == 303, launched.text
    launched_sid = int(launched.headers["Location"].split("_")[-1])

    # the wrapper, for a job someone launched by hand: register, submit, report the id
    registered = poms.call(
        "get_submission_id_for",
        campaign_stage_id=stage_id,
        command_executed="jobsub_submit -G demo file:///tmp/hand.sh",
        user="poms",
    )
    assert registered.status_code == 200 and registered.text.startswith("Task="), registered.text
    hand_sid = int(registered.text.split("=", 1)[1])
    assert hand_sid != launched_sid
    reported = poms.call(
        "update_submission", submission_id=hand_sid, jobsub_job_id="4242@jobsub01", status="New"
    )
    assert (reported.status_code, reported.text.strip()) == (200, "Ok.")
    unknown = poms.call("update_submission", submission_id=2**31 - 2, status="New")
    assert unknown.text.strip() == "Unknown." or unknown.status_code == 404

    listed = poms.call(
        "campaign_stage_submissions", campaign_name="compat_session", stage_name="run", fmt="json"
    )
    assert listed.status_code == 200, listed.text
    assert {launched_sid, hand_sid} <= _submission_ids(listed.json())

    def running() -> dict[str, Any]:
        details = poms.call("submission_details", submission_id=launched_sid, fmt="json").json()
        if _status(details) != "Running":
            raise NotYet(f"submission {launched_sid} is {_status(details)}")
        return details

    wait_until(running, timeout=90)
    hand = poms.call("submission_details", submission_id=hand_sid, fmt="json").json()
    assert "4242@jobsub01" in str(hand)

    confirm_first = poms.call("kill_jobs", submission_id=launched_sid, act="kill")
    assert confirm_first.status_code == 200 and str(launched_sid) in confirm_first.text
    time.sleep(1)
    assert (
        _status(poms.call("submission_details", submission_id=launched_sid, fmt="json").json())
        == "Running"
    )
    killed = poms.call("kill_jobs", submission_id=launched_sid, act="kill", confirm="yes")
    assert killed.status_code in (200, 202), killed.text

    def removed() -> bool:
        details = poms.call("submission_details", submission_id=launched_sid, fmt="json").json()
        if _status(details) != "Removed":
            raise NotYet(f"submission {launched_sid} is {_status(details)}")
        return True

    wait_until(removed, timeout=60)
    history = poms.call("session_status_history", submission_id=launched_sid).json()
    assert [h["status"] for h in history][-1] == "Removed"


def _submission_ids(page: Any) -> set[int]:
    return {int(row["submission_id"]) for row in page["data"]["submissions"]}


def _status(details: Any) -> str:
    return str(details["status"])
