"""The submissions page's filter form: the query fields read, checked one by one, with a
message per field (shown next to it) instead of one error page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import request
from sqlalchemy.orm import Session

from poms_shared.db.models import CampaignStage
from poms_shared.domain.statuses import SubmissionStatus
from poms_web.adapters import campaign_admin, page_lists
from poms_web.adapters import submission_lists as lists
from poms_web.adapters.actions import BadRequest

# time window choices: (label, days); "any" and "custom" besides
PERIODS = {"24h": ("last 24 hours", 1.0), "7d": ("last 7 days", 7.0), "30d": ("last 30 days", 30.0)}
WHENS = (*PERIODS, "any", "custom")
DEFAULT_WHEN = "7d"  # the user guide: submissions "for the last 7 days" by default
DEFAULT_SORT = "-id"
STATUS_LABELS = tuple(s.label for s in SubmissionStatus)
MAX_ID = 2**31 - 1  # ids past what the database holds name nothing


@dataclass
class Form:
    """What the form shows (the values typed) and what is wrong with them, by field."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    campaign_id: int | None = None
    stage_id: int | None = None
    statuses: tuple[SubmissionStatus, ...] = ()
    window: lists.Window | None = None

    def fail(self, name: str, exc: Exception) -> None:
        """Keep ``exc``'s message for the field it names ('tmax: …'), else for ``name``."""
        head, colon, rest = str(exc).partition(": ")
        if colon and head in self.values:
            name, text = head, rest
        else:
            text = str(exc)
        self.errors.setdefault(name, text)


def read_form() -> Form:
    """The fields as typed (blank ones empty); nothing checked yet."""
    args = request.args
    tmin, tmax = args.get("tmin", "").strip(), args.get("tmax", "").strip()
    when = args.get("when", "").strip() or ("custom" if tmin or tmax else DEFAULT_WHEN)
    return Form(
        values={
            "campaign": args.get("campaign", "").strip(),
            "stage": args.get("stage", "").strip(),
            "status": [
                s.strip() for v in args.getlist("status") for s in v.split(",") if s.strip()
            ],
            "user": args.get("user", "").strip(),
            "when": when,
            "tmin": tmin,
            "tmax": tmax,
            "sort": args.get("sort", "").strip() or DEFAULT_SORT,
        }
    )


def check_form(session: Session, form: Form, experiment: str) -> lists.Filters | None:
    """The filters the form asks for; None (and ``form.errors`` says why) when it is wrong."""
    values = form.values
    if values["sort"] not in page_lists.SUBMISSION_SORTS:
        raise BadRequest(f"sort: one of {', '.join(page_lists.SUBMISSION_SORTS)}")
    _check_campaign_and_stage(session, form, experiment)
    try:
        form.statuses = lists.parse_statuses(values["status"])
    except BadRequest as exc:
        form.fail("status", exc)
    _check_window(form)
    if form.errors:
        return None
    return lists.Filters(
        experiment=experiment,
        campaign_id=form.campaign_id,
        stage_id=form.stage_id,
        statuses=form.statuses,
        window=form.window,
        mine=values["user"] or None,
    )


def _check_campaign_and_stage(session: Session, form: Form, experiment: str) -> None:
    name, raw = form.values["campaign"], form.values["stage"]
    if name:
        campaign = campaign_admin.named(session, experiment, name)
        if campaign is None:
            form.errors["campaign"] = f"no campaign named {name!r} in {experiment}"
        else:
            form.campaign_id = campaign.campaign_id
    if not raw:
        return
    if not raw.isdecimal():
        form.errors["stage"] = f"a stage id (a whole number), not {raw!r}"
        return
    stage = session.get(CampaignStage, int(raw)) if int(raw) <= MAX_ID else None
    if stage is None or stage.experiment != experiment:
        form.errors["stage"] = f"no stage {raw} in {experiment}"
    elif form.campaign_id is not None and stage.campaign_id != form.campaign_id:
        form.errors["stage"] = f"stage {stage.name} ({raw}) is not a stage of campaign {name}"
    else:
        form.stage_id = stage.campaign_stage_id


def _check_window(form: Form) -> None:
    values = form.values
    when = values["when"]
    if when not in WHENS:
        form.errors["when"] = f"one of {', '.join(WHENS)}, not {when!r}"
    elif when in PERIODS:
        form.window = lists.time_window(None, None, str(PERIODS[when][1]))
    elif when == "custom":
        if not (values["tmin"] or values["tmax"]):
            form.errors["tmin"] = "give a start, an end or both (UTC, like 2026-01-31 12:00)"
            return
        try:
            form.window = lists.time_window(values["tmin"] or None, values["tmax"] or None, None)
        except BadRequest as exc:
            form.fail("tmin", exc)


def api_args(form: Form) -> dict[str, Any]:
    """The query of ``GET /api/v1/submissions`` asking for the same list (but its owner)."""
    values = form.values
    when = values["when"]
    return {
        "campaign": values["campaign"],
        "stage": values["stage"],
        "status": ",".join(values["status"]),
        "tdays": PERIODS[when][1] if when in PERIODS else None,
        "tmin": values["tmin"] if when == "custom" else None,
        "tmax": values["tmax"] if when == "custom" else None,
    }


def _text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def window_links(window: lists.Window | None) -> dict[str, Any] | None:
    """The window's label and the fields of the windows before and after it (§12.12)."""
    if window is None:
        return None
    step: timedelta = window.tmax - window.tmin
    return {
        "label": f"{window.tdays:.1f} day(s) ending {_text(window.tmax)} UTC",
        "tmin": _text(window.tmin),
        "tmax": _text(window.tmax),
        "prev": {"tmin": _text(window.tmin - step), "tmax": _text(window.tmin)},
        "next": {"tmin": _text(window.tmax), "tmax": _text(window.tmax + step)},
    }
