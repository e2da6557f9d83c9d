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


def progress_lines(detail: dict[str, Any]) -> list[str]:
    """One line per stage: its latest submission and status."""
    lines = []
    for stage in detail["stages_detail"]:
        subs = stage["submissions"]
        last = subs[-1] if subs else None
        state = f"submission {last['submission_id']:>4}  {last['status']}" if last else "waiting"
        lines.append(f"  {stage['name']:<14} {state}")
    return lines


def watch(settings: Settings, stop: threading.Event) -> bool:
    """Print stage progress until the campaign is done (True) or we are stopped."""
    path = f"/api/v1/campaigns/{DEMO_CAMPAIGN}?experiment={DEMO_EXPERIMENT}"
    shown: list[str] = []
    while not stop.is_set():
        detail = api(settings, path)
        lines = progress_lines(detail)
        if lines != shown:
            print(time.strftime("%H:%M:%S"), f"campaign {DEMO_CAMPAIGN}: {detail['state']}")
            print("\n".join(lines), flush=True)
            shown = lines
        if detail["state"] == "done":
            print(f"campaign {DEMO_CAMPAIGN} is done: every stage has a Located submission.")
            return True
        stop.wait(1.0)
    return False


def launch_demo(settings: Settings) -> dict[str, Any]:
    """Launch the demo campaign as a user would, through the API."""
    launched: dict[str, Any] = api(
        settings,
        f"/api/v1/campaigns/{DEMO_CAMPAIGN}/launch?experiment={DEMO_EXPERIMENT}",
        method="POST",
    )
    print(
        f"launched {DEMO_CAMPAIGN} (leading stage {launched['leading_stage']}); watch it at "
        f"{settings.web_url}/ or {settings.web_url}/api/v1/campaigns/{DEMO_CAMPAIGN}"
    )
    return launched
