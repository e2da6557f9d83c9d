"""Drive the demo campaign through the web API: launch it and show progress."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT
from poms_shared.settings import Settings


def api(settings: Settings, path: str, method: str = "GET") -> Any:
    """Call the running web service's JSON API."""
    req = urllib.request.Request(
        f"{settings.web_url}{path}", method=method, data=b"" if method == "POST" else None
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


DETAIL_PATH = f"/api/v1/campaigns/{DEMO_CAMPAIGN}?experiment={DEMO_EXPERIMENT}"


def latest_submission_id(detail: dict[str, Any]) -> int:
    """The newest submission of the campaign (0 when it has none)."""
    ids = [s["submission_id"] for st in detail["stages_detail"] for s in st["submissions"]]
    return max(ids, default=0)


def _latest(stage: dict[str, Any], since: int) -> dict[str, Any] | None:
    subs = [s for s in stage["submissions"] if s["submission_id"] > since]
    return subs[-1] if subs else None


def progress_lines(detail: dict[str, Any], since: int = 0) -> list[str]:
    """One line per stage: its latest submission newer than ``since`` and its status."""
    lines = []
    for stage in detail["stages_detail"]:
        last = _latest(stage, since)
        state = f"submission {last['submission_id']:>4}  {last['status']}" if last else "waiting"
        lines.append(f"  {stage['name']:<14} {state}")
    return lines


def watch(settings: Settings, stop: threading.Event, since: int = 0) -> bool:
    """Print stage progress until the campaign is done (True) or we are stopped.

    Submissions up to ``since`` are from earlier runs: done means every stage has a newer
    Located one, not that an earlier run once finished.
    """
    shown: list[str] = []
    while True:  # one last look after a stop: the campaign may have finished meanwhile
        detail = api(settings, DETAIL_PATH)
        lines = progress_lines(detail, since)
        if lines != shown:
            print(time.strftime("%H:%M:%S"), f"campaign {DEMO_CAMPAIGN}: {detail['state']}")
            print("\n".join(lines), flush=True)
            shown = lines
        latest = [_latest(stage, since) for stage in detail["stages_detail"]]
        if detail["state"] == "done" and all(s and s["status"] == "Located" for s in latest):
            print(f"campaign {DEMO_CAMPAIGN} is done: every stage has a Located submission.")
            return True
        if stop.is_set():
            return False
        stop.wait(1.0)


def launch_demo(settings: Settings) -> int:
    """Launch the demo campaign as a user would, through the API.

    Returns the newest submission from before this launch, for ``watch``.
    """
    since = latest_submission_id(api(settings, DETAIL_PATH))
    launched: dict[str, Any] = api(
        settings,
        f"/api/v1/campaigns/{DEMO_CAMPAIGN}/launch?experiment={DEMO_EXPERIMENT}",
        method="POST",
    )
    print(
        f"launched {DEMO_CAMPAIGN} (leading stage {launched['leading_stage']}); watch it at "
        f"{settings.web_url}/ or {settings.web_url}/api/v1/campaigns/{DEMO_CAMPAIGN}"
    )
    return since
