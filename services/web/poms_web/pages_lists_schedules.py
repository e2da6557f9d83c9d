"""The schedules page's pieces: checking a cron text as the schedule API does (with the
reason next to the field), its next fire times, and the rows the table shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import CroniterBadDateError, CroniterError, croniter

from poms_shared.domain.permissions import Act, Actor, Denied, check
from poms_web.adapters.page_lists import ScheduleRow, StageChoice

RUNS_SHOWN = 5
CRON_HELP = "five fields: minute hour day-of-month month day-of-week (e.g. 0 3 * * *)"


@dataclass(frozen=True)
class CronCheck:
    """A cron text made tidy, its next fire times (UTC) or why it cannot be used."""

    cron: str
    next_runs: tuple[datetime, ...] = ()
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "cron": self.cron,
            "valid": self.error is None,
            "error": self.error,
            "next_runs": [t.isoformat() for t in self.next_runs],
        }


def check_cron(raw: str, now: datetime | None = None, count: int = RUNS_SHOWN) -> CronCheck:
    """The rule of ``PUT /api/v1/stages/<id>/schedule`` (five fields croniter accepts), and
    a schedule that never fires (30 February) refused too."""
    cron = " ".join(raw.split())
    if not cron:
        return CronCheck(cron, error=f"required: {CRON_HELP}")
    fields = len(cron.split())
    if fields != 5:
        return CronCheck(cron, error=f"{fields} field(s); want {CRON_HELP}")
    if not croniter.is_valid(cron):
        return CronCheck(cron, error=f"does not parse; want {CRON_HELP}")
    try:
        it = croniter(cron, now or datetime.now(UTC))
        runs = tuple(it.get_next(datetime) for _ in range(count))
    except CroniterBadDateError:
        return CronCheck(cron, error="never fires: no date matches these fields")
    except (CroniterError, ValueError) as exc:
        return CronCheck(cron, error=f"does not parse ({exc}); want {CRON_HELP}")
    return CronCheck(cron, next_runs=runs)


def may(acting: Actor, act: Act, owner: Any) -> bool:
    """Whether the rules let ``acting`` do ``act`` to what ``owner`` describes."""
    try:
        check(acting, act, owner)
    except Denied:
        return False
    return True


def schedule_item(acting: Actor, row: ScheduleRow, editing: CronCheck | None) -> dict[str, Any]:
    """One table row: the stored schedule with its next runs, and the cron being edited
    (with its preview or error) when the page was asked to preview one."""
    stored = check_cron(row.cron)
    return {
        "stage_id": row.stage_id,
        "stage": row.stage,
        "campaign": row.campaign,
        "cron": row.cron,
        "scheduled_by": row.scheduled_by,
        "enabled": row.enabled,
        "last_fired": row.last_fired,
        "next_runs": stored.next_runs,
        "stored_error": stored.error,
        "may_edit": may(acting, Act.MODIFY, row.owner),
        "editing": editing,
    }


def stage_options(acting: Actor, stages: list[StageChoice], scheduled: set[int]) -> list[Any]:
    """Stages a new schedule may be set on: the requester may change them, none has one."""
    return [s for s in stages if s.stage_id not in scheduled and may(acting, Act.MODIFY, s.owner)]
