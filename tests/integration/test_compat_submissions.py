"""The original client's submission methods: registration, reports, details, job control,
the stage submissions page (reference §8.2–8.4, §10.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from test_submissions_api import World, changes, sent, world_fixture  # noqa: F401 (the fixture)

from poms_shared.db.models import Campaign
from poms_shared.db.submissions import record_status
from poms_shared.db.tables import File, Submission
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT
from poms_shared.domain.statuses import SubmissionStatus


def form(world: World, name: str, fields: dict[str, Any], who: str | None = None) -> Any:
    headers = world.as_(who) if who else {}
    return world.client.post(f"/{name}", data=fields, headers=headers)


def error(answer: Any) -> str:
    message: str = answer.get_json()["error"]["message"]
    return message


# ---- get_submission_id_for ------------------------------------------------------------


def test_registration_answers_task_equals_the_new_id(world: World) -> None:
    answer = form(
        world,
        "get_submission_id_for",
        {
            "campaign_stage_id": world.stages["simulate"],
            "command_executed": "jobsub_submit -G demo --sam_project=demo_p1 file://x.sh",
            "input_dataset": "inputs_1",
            "user": "pat",
            "test": "int",
        },
    )
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    text = answer.get_data(as_text=True)
    assert text.startswith("Task=")
    with world.db.transaction() as session:
        sub = session.get(Submission, int(text.removeprefix("Task=")))
        assert sub is not None and SubmissionStatus(sub.status_id) == SubmissionStatus.NEW
        assert sub.project == "demo_p1" and sub.launcher == "pat"
        assert sub.submission_params["dataset"] == "inputs_1"
        assert sub.submission_params["launched_by"] == "poms"


def test_a_stage_may_be_named_by_a_fragment_matching_one_stage(world: World) -> None:
    answer = form(world, "get_task_id_for", {"campaign": "simul"})
    sid = int(answer.get_data(as_text=True).removeprefix("Task="))
    with world.db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None and sub.campaign_stage_id == world.stages["simulate"]


def test_registration_with_a_task_id_completes_that_submission(world: World) -> None:
    [sid] = world.add()
    answer = form(
        world,
        "get_task_id_for",
        {
            "campaign": world.stages["simulate"],
            "task_id": sid,
            "command_executed": "jobsub_submit --project_name p9",
        },
        who="pat",
    )
    assert answer.get_data(as_text=True) == f"Task={sid}"
    with world.db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None and sub.project == "p9"
        assert sub.command_executed == "jobsub_submit --project_name p9"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Missing form field: campaign_stage_id"),
        ({"campaign_stage_id": "e"}, "campaign_stage_id: 'e' matches more than one stage"),
        ({"campaign": "zzz"}, "campaign: no stage of experiment demo"),
        ({"campaign_stage_id": "simulate", "parent_submission_id": "x"}, "parent_submission_id"),
        ({"campaign_stage_id": "simulate", "submission_id": "99999"}, "submission 99999"),
    ],
)
def test_a_bad_registration_names_the_field(
    world: World, fields: dict[str, Any], message: str
) -> None:
    before = changes(world.db)
    answer = form(world, "get_submission_id_for", fields)
    assert 400 <= answer.status_code < 500
    assert message in error(answer)
    assert changes(world.db) == before


def test_registration_needs_permission_to_operate_the_stage(world: World) -> None:
    before = changes(world.db)
    answer = form(world, "get_submission_id_for", {"campaign_stage_id": "simul"}, who="ann")
    assert answer.status_code == 403
    assert changes(world.db) == before


# ---- update_submission ---------------------------------------------------------------


def test_update_submission_answers_ok_and_records_the_batch_id(world: World) -> None:
    [sid] = world.add()
    answer = form(
        world,
        "update_submission",
        {"submission_id": sid, "jobsub_job_id": "77@schedd1", "status": "New", "project": "p"},
    )
    assert answer.get_data(as_text=True) == "Ok."
    with world.db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None and (sub.batch_id, sub.project) == ("77@schedd1", "p")
    assert sent(world.db, "SetSubmissionStatus") == []  # already New: nothing to ask


def test_update_submission_of_an_unknown_submission_answers_unknown(world: World) -> None:
    answer = form(world, "update_submission", {"submission_id": 99999, "status": "Running"})
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "Unknown.")


def test_an_unknown_status_is_ignored_as_the_agents_expect(world: World) -> None:
    [sid] = world.add()
    before = changes(world.db)
    answer = form(world, "update_submission", {"submission_id": sid, "status": "Unknown"})
    assert answer.get_data(as_text=True) == "Ok."
    assert changes(world.db) == before


def test_update_submission_promotes_running_past_the_threshold(world: World) -> None:
    [sid] = world.add(status=SubmissionStatus.IDLE)
    fields = {"submission_id": sid, "status": "Running", "pct_complete": "100"}
    assert form(world, "update_submission", fields, who="pat").get_data(as_text=True) == "Ok."
    assert [m["status"] for m in sent(world.db, "SetSubmissionStatus")] == ["Completed"]
    bad = form(world, "update_submission", {**fields, "pct_complete": "most"})
    assert bad.status_code == 400 and error(bad).startswith("pct_complete")
    long = form(world, "update_submission", {"submission_id": sid, "jobsub_job_id": "9" * 300})
    assert long.status_code == 400 and error(long).startswith("jobsub_job_id")


def test_update_submission_with_redirect_goes_back_to_the_page(world: World) -> None:
    [sid] = world.add()
    page = "http://localhost/submission_details?submission_id=1"
    fields = {"submission_id": sid, "status": "Idle", "redirect": "1"}
    answer = world.client.post("/update_submission", data=fields, headers={"Referer": page})
    assert answer.status_code == 303 and answer.headers["Location"] == page
    plain = form(world, "update_submission", {**fields, "redirect": "0"})
    assert plain.get_data(as_text=True) == "Ok."


def test_update_submission_needs_permission_to_operate(world: World) -> None:
    [sid] = world.add()
    before = changes(world.db)
    fields = {"submission_id": sid, "jobsub_job_id": "1@x"}
    assert form(world, "update_submission", fields, who="ann").status_code == 403
    assert changes(world.db) == before


# ---- details, history, running --------------------------------------------------------


def test_submission_details_give_the_page_data(world: World) -> None:
    [parent] = world.add(status=SubmissionStatus.LOCATED)
    [sid] = world.add(
        command_executed="fife_launch --dataset_definition my_def", submission_params={}
    )
    [child] = world.add("reconstruct", submission_params={"parent": sid})
    data = world.client.get(f"/submission_details?submission_id={sid}&fmt=json").get_json()
    assert data["submission_id"] == sid and data["dataset"] == "my_def"
    assert data["dependents"] == [child] and data["recoveries"] == []
    assert data["history"][0]["status"] == "New"
    assert parent != sid
    refused = world.client.get(
        f"/submission_details?submission_id={sid}", headers=world.as_("nora")
    )
    assert refused.status_code == 403
    missing = world.client.get("/submission_details")
    assert missing.status_code == 400 and "submission_id" in error(missing)


def test_session_status_history_lists_statuses_in_time_order(world: World) -> None:
    [sid] = world.add()
    with world.db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        record_status(
            session, sub, SubmissionStatus.IDLE, at=datetime.now(UTC) + timedelta(minutes=1)
        )
    rows = world.client.get(f"/session_status_history?submission_id={sid}").get_json()
    assert [r["status"] for r in rows] == ["New", "Idle"]
    datetime.strptime(rows[0]["created"], "%Y-%m-%d %H:%M:%S")  # the original's format


def test_running_submissions_counts_per_campaign_or_lists_them(world: World) -> None:
    world.add(status=SubmissionStatus.RUNNING, batch_id="5@s")
    world.add(status=SubmissionStatus.LOCATED)
    with world.db.transaction() as session:
        cid = session.scalar(select(Campaign.campaign_id).where(Campaign.name == DEMO_CAMPAIGN))
    counts = world.client.get(f"/running_submissions?campaign_id_list={cid},99999").get_json()
    assert counts == {str(cid): 1, "99999": 0}
    listed = world.client.get("/running_submissions?campaign_id_list=").get_json()
    assert [row[1:] for row in listed] == [["5@s", DEMO_EXPERIMENT]]
    bad = world.client.get("/running_submissions?campaign_id_list=a,b")
    assert bad.status_code == 400 and error(bad).startswith("campaign_id_list")


# ---- force locate, abort, kill_jobs ----------------------------------------------------


def test_force_locate_and_abort_are_asked_of_the_services(world: World) -> None:
    [sid] = world.add(status=SubmissionStatus.COMPLETED)
    assert form(world, "force_locate_submission", {"submission_id": sid}).get_data() == b"Ok."
    assert [m["status"] for m in sent(world.db, "SetSubmissionStatus")] == ["Located"]
    assert form(world, "abort_launch", {"submission_id": sid}).status_code == 200
    assert [m["submission_id"] for m in sent(world.db, "AbortLaunch")] == [sid]
    assert form(world, "abort_launch", {"submission_id": sid}, who="ann").status_code == 403


def test_kill_jobs_asks_for_confirmation_before_doing_anything(world: World) -> None:
    [sid] = world.add(status=SubmissionStatus.RUNNING, batch_id="9@schedd")
    before = changes(world.db)
    asked = form(world, "kill_jobs", {"submission_id": sid, "act": "kill"}).get_json()
    assert asked["confirmed"] is False and asked["submission_ids"] == [sid]
    assert asked["selector"] == f"--constraint POMS4_SUBMISSION_ID=={sid}"
    assert asked["jobids"] == "--jobid=9@schedd"
    assert changes(world.db) == before
    done = form(world, "kill_jobs", {"submission_id": sid, "act": "kill", "confirm": "yes"})
    assert done.get_json()["confirmed"] is True
    [control] = sent(world.db, "JobControl")
    assert (control["submission_ids"], control["action"]) == ([sid], "kill")


def test_kill_jobs_reaches_a_whole_campaign(world: World) -> None:
    one = world.add("simulate", status=SubmissionStatus.IDLE)
    two = world.add("reconstruct", status=SubmissionStatus.RUNNING)
    world.add("reconstruct", status=SubmissionStatus.LOCATED)  # past Running: untouched
    with world.db.transaction() as session:
        cid = session.scalar(select(Campaign.campaign_id).where(Campaign.name == DEMO_CAMPAIGN))
    done = form(world, "kill_jobs", {"campaign_id": cid, "act": "hold", "confirm": "1"})
    assert sorted(done.get_json()["submission_ids"]) == sorted(one + two)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"act": "kill"}, "Missing form field: submission_id"),
        ({"submission_id": "1", "campaign_id": "2", "act": "kill"}, "campaign_id: give only one"),
        ({"submission_id": "{sid}", "act": "explode"}, "act: one of"),
        ({"submission_id": "x", "act": "kill"}, "submission_id: expected a whole number"),
    ],
)
def test_bad_kill_jobs_requests_name_the_field(
    world: World, fields: dict[str, str], message: str
) -> None:
    [sid] = world.add(status=SubmissionStatus.RUNNING)
    before = changes(world.db)
    sent_fields = {k: v.format(sid=sid) for k, v in {**fields, "confirm": "1"}.items()}
    answer = form(world, "kill_jobs", sent_fields)
    assert answer.status_code == 400 and error(answer).startswith(message)
    assert changes(world.db) == before


def test_kill_jobs_needs_permission_even_to_ask(world: World) -> None:
    [sid] = world.add(status=SubmissionStatus.RUNNING)
    answer = form(world, "kill_jobs", {"submission_id": sid, "act": "kill"}, who="ann")
    assert answer.status_code == 403


# ---- campaign_stage_submissions -------------------------------------------------------


def test_stage_submissions_give_the_page_data(world: World) -> None:
    [up] = world.add("simulate", status=SubmissionStatus.LOCATED, batch_id="12.0@sch1")
    [down] = world.add("reconstruct", submission_params={"parent": up}, project="proj")
    with world.db.transaction() as session:
        session.add(
            File(
                experiment=DEMO_EXPERIMENT, name="o.root", location="/o", producing_submission_id=up
            )
        )
    fields = f"campaign_name={DEMO_CAMPAIGN}&stage_name=*&fmt=json"
    page = world.client.get(f"/campaign_stage_submissions?{fields}").get_json()
    assert (page["campaign_name"], page["stage_name"]) == (DEMO_CAMPAIGN, "*")
    data = page["data"]
    assert [s["submission_id"] for s in data["submissions"]] == [down, up]
    first = data["submissions"][1]
    assert (first["jobsub_cluster"], first["jobsub_schedd"]) == ("12.0", "sch1")
    assert first["available_output"] == 1 and first["campaign_stage_name"] == "simulate"
    assert data["depends"] == {str(up): None, str(down): up}
    assert data["depth"] == {str(up): 0, str(down): 1}
    assert "snapshot_for_project_name proj" in data["submissions"][0]["output_dims"]
    assert data["prevlink"].startswith("campaign_stage_submissions?campaign_name=")
    one = world.client.get(
        f"/campaign_stage_submissions?campaign_stage_id={world.stages['reconstruct']}"
    ).get_json()
    assert one["stage_name"] == "reconstruct"
    assert [s["submission_id"] for s in one["data"]["submissions"]] == [down]


def test_stage_submissions_take_a_time_window(world: World) -> None:
    [old] = world.add(created=datetime(2024, 5, 1, tzinfo=UTC), updated=None)
    world.add()
    stage = world.stages["simulate"]
    url = f"/campaign_stage_submissions?campaign_stage_id={stage}"
    window = world.client.get(f"{url}&tmin=2024-04-30&tmax=2024-05-02").get_json()["data"]
    assert [s["submission_id"] for s in window["submissions"]] == [old]
    assert window["tdays"] == 2 and window["tmin"] == "2024-04-30 00:00:00"
    default = world.client.get(url).get_json()["data"]
    assert old not in [s["submission_id"] for s in default["submissions"]]  # before the stage
    bad = world.client.get(f"{url}&tmax=soon")
    assert bad.status_code == 400 and error(bad).startswith("tmax")


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "Missing form field: campaign_name"),
        (f"campaign_name={DEMO_CAMPAIGN}&stage_name=nope", 400, "stage_name"),
        ("campaign_name=nope", 404, "campaign 'nope'"),
        ("campaign_id=99999", 404, "campaign 99999"),
        ("campaign_stage_id=x", 400, "campaign_stage_id"),
    ],
)
def test_bad_stage_submission_scopes_are_named(
    world: World, query: str, status: int, message: str
) -> None:
    answer = world.client.get(f"/campaign_stage_submissions?{query}")
    assert answer.status_code == status and message in error(answer)


def test_stage_submissions_need_a_member(world: World) -> None:
    url = f"/campaign_stage_submissions?campaign_stage_id={world.stages['simulate']}"
    assert world.client.get(url, headers=world.as_("nora")).status_code == 403
    assert world.client.get(url, headers=world.as_("ann")).status_code == 200
