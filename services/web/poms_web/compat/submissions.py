"""Compatibility methods: submissions (reference §8.2 "Submissions", §8.3, §8.4, §10.2).

Each is a thin layer over what ``/api/v1`` does (``adapters.registration``,
``adapters.submission_lists``, ``control_api``), with the same permission checks.
Decisions where the reference is odd (Appendix C):

- ``force_locate_submission`` needs permission to operate the submission, as its REST
  twin does (the reference only asked to view it);
- ``kill_jobs`` on a campaign reaches every stage of it (the reference: one stage);
- ``running_submissions`` takes a missing ``campaign_id_list`` as empty, and lists only
  the acting experiment's submissions;
- ``get_submission_id_for`` accepts ``test`` but does not act on it: the wrappers send
  there which POMS instance they talk to (``POMS_TEST``), not whether the launch is a test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import request
from sqlalchemy import select

from poms_shared.db.models import Campaign, CampaignStage, Experimenter
from poms_shared.db.tables import Submission
from poms_shared.domain.permissions import Act
from poms_shared.domain.statuses import SubmissionStatus
from poms_web import auth, control_api
from poms_web.adapters import actions, queries, registration
from poms_web.adapters import submission_lists as lists
from poms_web.adapters.actions import BadRequest
from poms_web.compat.framework import (
    Json,
    Page,
    Params,
    Redirect,
    Reply,
    Text,
    experiment_of,
    method,
)
from poms_web.context import actor, web_state

ACTS = ("kill", "cancel", "hold", "release")
SELECTORS = ("submission_id", "campaign_stage_id", "campaign_id")


@method("submission_details")
def submission_details(p: Params) -> Reply:
    sid = p.need_int("submission_id")
    with web_state().db.transaction() as session:
        sub = queries.get_submission(session, sid)
        auth.may_submission(session, Act.VIEW, sub)
        data = queries.submission_detail(session, sid)
        data.update(lists.related(session, sid))
        data["dataset"] = lists.dataset_of(sub)
        data["project"] = sub.project or lists.project_from_command(sub.command_executed)
        data["campaign_stage_id"] = sub.campaign_stage_id
        data["campaign_id"] = sub.stage.campaign_id
    return Page(data)


@method("session_status_history")
def session_status_history(p: Params) -> Reply:
    sid = p.need_int("submission_id")
    with web_state().db.transaction() as session:
        auth.may_submission(session, Act.VIEW, queries.get_submission(session, sid))
        rows = lists.history(session, sid)
    return Json(
        [{"created": r["at"].strftime("%Y-%m-%d %H:%M:%S"), "status": r["status"]} for r in rows]
    )


@method("update_submission")
def update_submission(p: Params) -> Reply:
    """``Ok.``; ``Unknown.`` for a submission that does not exist (§2.6)."""
    sid = p.need_int("submission_id")
    label = p.get("status")
    try:
        status = SubmissionStatus.from_label(label) if label else None
    except ValueError:
        status = None  # an unknown status (an agent's "Unknown") is ignored
    report = registration.Report(
        batch_id=p.get("jobsub_job_id") or None,
        status=status,
        project=p.get("project") or None,
        pct_complete=registration.parse_pct(p.get("pct_complete")),
    )
    with web_state().db.transaction() as session:
        sub = session.get(Submission, sid)
        if sub is None:
            return Text("Unknown.")
        auth.may_submission(session, Act.DO, sub)
        registration.update(session, sub, report, actor(), batch_field="jobsub_job_id")
    web_state().wake()
    if p.get("redirect") not in (None, "", "0"):  # back to the page that asked
        return Redirect(request.referrer or "/")
    return Text("Ok.")


@method("get_submission_id_for", "get_task_id_for")
def get_submission_id_for(p: Params) -> Reply:
    """Register a submission (§8.4): ``Task=<id>``."""
    raw = p.required("campaign_stage_id", "campaign")
    field = "campaign_stage_id" if p.get("campaign_stage_id") else "campaign"
    with web_state().db.transaction() as session:
        stage = registration.find_stage(session, experiment_of(session), raw, field)
        auth.may(session, Act.DO, stage)
        sid = p.integer("submission_id", "task_id", required=False)
        if sid is not None:
            auth.may_submission(session, Act.DO, queries.get_submission(session, sid))
        reg = registration.Registration(
            stage=stage,
            command=p.get("command_executed") or None,
            dataset=p.get("input_dataset") or None,
            parent_id=p.integer("parent_submission_id", "parent_task_id", required=False),
            submission_id=sid,
            user=p.get("user") or None,
        )
        sub, _ = registration.register(session, reg, actor())
        answer = f"Task={sub.submission_id}"
    return Text(answer)


@method("running_submissions")
def running_submissions(p: Params) -> Reply:
    ids = p.int_list("campaign_id_list", required=False)
    with web_state().db.transaction() as session:
        auth.authorize(session, Act.VIEW)
        if not ids:
            return Json(lists.running_list(session, experiment_of(session)))
        for campaign in session.scalars(select(Campaign).where(Campaign.campaign_id.in_(ids))):
            auth.may(session, Act.VIEW, campaign)
        return Json(lists.running_counts(session, ids))


@method("force_locate_submission")
def force_locate_submission(p: Params) -> Reply:
    sid = p.need_int("submission_id")
    with web_state().db.transaction() as session:
        control_api.request_decision(session, sid, "force-locate")
    web_state().wake()
    return Text("Ok.")


@method("abort_launch")
def abort_launch(p: Params) -> Reply:
    sid = p.need_int("submission_id")
    with web_state().db.transaction() as session:
        control_api.request_abort(session, sid)
    web_state().wake()
    return Text(f"Abort of the launch of submission {sid} requested.")


@method("kill_jobs")
def kill_jobs(p: Params) -> Reply:
    """Without ``confirm``: what would be reached (nothing changes); with it: do it."""
    given = [name for name in SELECTORS if p.get(name)]
    if not given:
        raise BadRequest("Missing form field: submission_id (or campaign_stage_id, campaign_id)")
    if len(given) > 1:
        raise BadRequest(f"{given[1]}: give only one of {', '.join(SELECTORS)}")
    act = (p.get("act") or "").lower()
    if act not in ACTS:
        raise BadRequest(f"act: one of {', '.join(ACTS)}, not {p.get('act')!r}")
    ident = p.need_int(given[0])
    with web_state().db.transaction() as session:
        scope = _scope(session, given[0], ident, act)
        data: dict[str, Any] = {
            "act": act,
            given[0]: ident,
            "selector": f"--constraint {scope.selector}",
            "jobids": f"--jobid={','.join(scope.batch_ids)}" if scope.batch_ids else "",
            "submission_ids": [s.submission_id for s in scope.submissions],
        }
        if not p.has("confirm"):
            return Page({**data, "confirmed": False})
        control_api.control(session, scope, act)
    web_state().wake()
    return Page({**data, "confirmed": True})


def _scope(session: Any, selector: str, ident: int, act: str) -> control_api.Scope:
    if selector == "submission_id":
        return control_api.submission_scope(session, ident, act)
    if selector == "campaign_stage_id":
        return control_api.stage_scope(session, actions.get_stage(session, ident))
    campaign = session.get(Campaign, ident)
    if campaign is None:
        raise queries.NotFound(f"campaign {ident} does not exist")
    return control_api.campaign_scope(session, campaign)


@method("campaign_stage_submissions")
def campaign_stage_submissions(p: Params) -> Reply:
    """Submissions of a stage or campaign created or updated in the window (§10.2)."""
    with web_state().db.transaction() as session:
        campaign, stages, query = _stages(p, session)
        now = datetime.now(UTC)
        start = min([s.created for s in stages] + ([campaign.created] if campaign else []))
        default = lists.Window(min(start, now), now)  # the default: since the stage was made
        window = lists.time_window(p.get("tmin"), p.get("tmax"), p.get("tdays"), default=default)
        assert window is not None
        by_id = {s.campaign_stage_id: s for s in stages}
        subs, truncated = lists.stage_submissions(session, list(by_id), window)
        rows = _rows(session, subs, by_id)
        parents = {s.submission_id: lists.parent_of(s) for s in subs}
        page = window.as_data()
        data = {
            **page,
            "prevlink": f"campaign_stage_submissions?{query}&{page['prevlink']}",
            "nextlink": f"campaign_stage_submissions?{query}&{page['nextlink']}",
            "depends": parents,
            "depth": lists.depths(parents),
            "submissions": rows,
            "truncated": truncated,
        }
        one = stages[0] if len(stages) == 1 and p.get("stage_name") != "*" else None
        return Page(
            {
                "campaign_name": campaign.name if campaign else None,
                "stage_name": one.name if one else "*",
                "campaign_stage_id": one.campaign_stage_id if one else None,
                "data": data,
            }
        )


def _stages(p: Params, session: Any) -> tuple[Campaign | None, list[CampaignStage], str]:
    """The campaign (if any), the stages in scope, and the query naming them."""
    if p.get("campaign_stage_id"):
        stage = actions.get_stage(session, p.need_int("campaign_stage_id"))
        auth.may(session, Act.VIEW, stage)
        query = urlencode({"campaign_stage_id": stage.campaign_stage_id})
        return stage.campaign, [stage], query
    if p.get("campaign_id"):
        campaign = session.get(Campaign, p.need_int("campaign_id"))
        if campaign is None:
            raise queries.NotFound(f"campaign {p.get('campaign_id')} does not exist")
        stage_name = "*"
    else:
        name = p.required("campaign_name", "campaign_stage_id")
        campaign = queries.find_campaign(session, experiment_of(session), name)
        stage_name = p.get("stage_name") or "*"
    auth.may(session, Act.VIEW, campaign)
    stages = [s for s in campaign.stages if stage_name in ("*", s.name)]
    if not stages:
        raise BadRequest(f"stage_name: campaign {campaign.name} has no stage {stage_name!r}")
    query = urlencode({"campaign_name": campaign.name, "stage_name": stage_name})
    return campaign, stages, query


def _rows(
    session: Any, subs: list[Submission], stages: dict[int, CampaignStage]
) -> list[dict[str, Any]]:
    located = lists.located_outputs(session, [s.submission_id for s in subs])
    creator_ids = {s.creator_id for s in subs if s.creator_id}
    names = dict(
        session.execute(
            select(Experimenter.experimenter_id, Experimenter.username).where(
                Experimenter.experimenter_id.in_(creator_ids)
            )
        ).all()
    )
    rows = []
    for sub in subs:
        stage = stages[sub.campaign_stage_id]
        cluster, _, schedd = (sub.batch_id or "").partition("@")
        project = sub.project or lists.project_from_command(sub.command_executed)
        rows.append(
            {
                "submission_id": sub.submission_id,
                "jobsub_job_id": sub.batch_id,
                "created": sub.created,
                "creator": names.get(sub.creator_id, sub.launcher),
                "status": SubmissionStatus(sub.status_id).label,
                "jobsub_cluster": cluster or None,
                "jobsub_schedd": schedd or None,
                "campaign_stage_name": stage.name,
                "project": project,
                "available_output": located.get(sub.submission_id, 0),
                "output_dims": _output_dims(sub, stage, project),
            }
        )
    return rows


def _output_dims(sub: Submission, stage: CampaignStage, project: str | None) -> str | None:
    """The SAM dimensions of the submission's declared output (needs its project)."""
    if not project:
        return None
    created = sub.created.strftime("%Y-%m-%dT%H:%M:%S")
    dims = f"ischildof:( snapshot_for_project_name {project} ) and create_date > '{created}'"
    if stage.software_version:
        dims += f" and version '{stage.software_version}'"
    return dims
