"""The triage page: what ran, failed and is stuck across an experiment's campaigns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

from poms_shared.domain.permissions import Act
from poms_web import auth
from poms_web.adapters import triage, triage_charts, triage_failures
from poms_web.adapters.actions import BadRequest
from poms_web.adapters.submission_lists import parse_time
from poms_web.context import web_state
from poms_web.pages_common import here, install_error_pages, render_page

bp = Blueprint("triage_pages", __name__)
install_error_pages(bp)
WINDOWS = {"6h": timedelta(hours=6), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
WINDOW_LABELS = {"6h": "last 6 hours", "24h": "last 24 hours", "7d": "last 7 days"}
LONGEST = timedelta(days=31)  # a custom window is at most this long (the queries' bound)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Asked:
    """What the page's query asks for."""

    window: str  # "6h", "24h", "7d" or "custom"
    tmin: datetime
    tmax: datetime
    campaign_id: int | None
    stage_id: int | None
    per: str
    refresh: int


def window_of(args: dict[str, str], now: datetime) -> tuple[str, datetime, datetime]:
    """The window's name and ends: a named window ending now, or ``custom`` from ``tmin``
    and ``tmax`` (UTC; ``tmax`` defaults to now, ``tmin`` to a day before ``tmax``)."""
    tmin_raw, tmax_raw = args.get("tmin", "").strip(), args.get("tmax", "").strip()
    name = args.get("window", "").strip() or ("custom" if tmin_raw or tmax_raw else "24h")
    if name in WINDOWS:
        return name, now - WINDOWS[name], now
    if name != "custom":
        raise BadRequest(f"window: one of {', '.join(WINDOWS)} or custom, not {name!r}")
    tmax = parse_time("tmax", tmax_raw) if tmax_raw else now
    tmin = parse_time("tmin", tmin_raw) if tmin_raw else tmax - timedelta(days=1)
    if tmin >= tmax:
        raise BadRequest("tmin: the window must start before it ends (tmin before tmax)")
    if tmax - tmin > LONGEST:
        raise BadRequest(f"the window may be at most {LONGEST.days} days long")
    return name, tmin, tmax


def _whole(args: dict[str, str], name: str) -> int | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdecimal() or int(raw) > 2**31 - 1:
        raise BadRequest(f"{name}: expected a whole number, not {raw!r}")
    return int(raw)


def asked(args: dict[str, str], now: datetime) -> Asked:
    """The window, filters, grouping and refresh the query asks for; BadRequest if wrong."""
    window, tmin, tmax = window_of(args, now)
    per = args.get("per", "").strip() or "experiment"
    if per not in triage.PER:
        raise BadRequest(f"per: one of {', '.join(triage.PER)}, not {per!r}")
    return Asked(
        window=window,
        tmin=tmin,
        tmax=tmax,
        campaign_id=_whole(args, "campaign_id"),
        stage_id=_whole(args, "stage_id"),
        per=per,
        refresh=_whole(args, "refresh") or 0,
    )


def _shifted(wanted: Asked, now: datetime) -> dict[str, str | None]:
    """Links to the window just before this one and just after it (None: the window
    ends now, nothing comes after)."""
    length = wanted.tmax - wanted.tmin

    def link(tmin: datetime, tmax: datetime) -> str:
        return here(
            window="custom", tmin=tmin.strftime(TIME_FORMAT), tmax=tmax.strftime(TIME_FORMAT)
        )

    return {
        "earlier": link(wanted.tmin - length, wanted.tmin),
        "later": link(wanted.tmax, wanted.tmax + length) if wanted.tmax < now else None,
    }


def duration(length: timedelta) -> str:
    """A length of time as people say it: ``45 min``, ``3 h 20 min``, ``2 d 4 h``."""
    minutes = max(0, int(length.total_seconds() // 60))
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def campaign_choices(stages: list[triage.StageRef]) -> list[tuple[int, str]]:
    """The campaigns the filter offers, by name."""
    found = {s.campaign_id: s.campaign for s in stages if s.campaign_id is not None}
    return sorted(((cid, name or "") for cid, name in found.items()), key=lambda c: c[1])


def report(session: Session, scope: triage.Scope, per: str, now: datetime) -> dict[str, Any]:
    """Everything the page shows of the scope, queried set-based over the window."""
    scope = triage.listed(session, scope)
    stages = triage.choices(session, scope)
    return {
        "choices": stages,
        "campaign_choices": campaign_choices(stages),
        "campaigns": triage.by_campaign(triage.summary(session, scope)),
        "stuck": triage.stuck(session, scope, now),
        "failures": [
            triage_failures.failures(session, scope, dimension, per)
            for dimension in triage_failures.DIMENSIONS
        ],
        "black_holes": triage_failures.black_holes(session, scope),
        "charts": {
            "efficiency": asdict(triage_charts.efficiency(session, scope)),
            "memory": asdict(triage_charts.memory(session, scope)),
            "timeline": asdict(triage_charts.timeline(session, scope)),
        },
    }


@bp.get("/triage", endpoint="triage")
def triage_page() -> Any:
    """Everything in the experiment over the window: submissions and jobs per campaign
    and stage, stuck submissions, failures by site, node, exit code and software version,
    efficiency and memory histograms and jobs over time."""
    now = datetime.now(UTC)
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        wanted = asked(request.args.to_dict(), now)
        scope = triage.Scope(
            acting.experiment or "", wanted.tmin, wanted.tmax, wanted.campaign_id, wanted.stage_id
        )
        return render_page(
            session,
            "triage.html",
            title="Triage",
            asked=wanted,
            windows=WINDOW_LABELS,
            shifted=_shifted(wanted, now),
            time_format=TIME_FORMAT,
            duration=duration,
            stuck_after=triage.STUCK_AFTER,
            stuck_shown=triage.STUCK_SHOWN,
            black_hole_rule=(
                triage.BLACK_HOLE_MIN_FAILED,
                round(100 * triage.BLACK_HOLE_MAX_SUCCESS),
            ),
            refresh=wanted.refresh,
            now=now,
            **report(session, scope, wanted.per, now),
        )
