"""Login-setup test logs: where they live, how they are named, how they ended (§6.10, §6.14)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

SUCCESS_LINE = "POMS login setup test: environment printed successfully"
_FINISHED = re.compile(r"^== login setup test finished: exit status (-?\d+) ==$", re.MULTILINE)
_NAME = re.compile(r"^\d{8}_\d{6}_[A-Za-z0-9_.@-]+$")


def new_log_name(user: str, when: datetime) -> str:
    """``<UTC YYYYmmdd_HHMMSS>_<user>``, as launch logs are named."""
    safe_user = re.sub(r"[^A-Za-z0-9_.@-]", "_", user) or "unknown"
    return f"{when.strftime('%Y%m%d_%H%M%S')}_{safe_user}"


def valid_log_name(name: str) -> bool:
    """Only names this module makes (no path separators, nothing hidden)."""
    return bool(_NAME.match(name))


def logs_dir(log_dir: Path, login_setup_id: int) -> Path:
    return log_dir / "launches" / f"template_tests_{int(login_setup_id)}"


def log_path(log_dir: Path, login_setup_id: int, name: str) -> Path:
    if not valid_log_name(name):
        raise ValueError(f"{name!r} is not a login setup test log name")
    return logs_dir(log_dir, login_setup_id) / name


def finished_line(returncode: int) -> str:
    return f"== login setup test finished: exit status {returncode} =="


def outcome(text: str) -> str:
    """``running`` until the finish line; then ``succeeded`` or ``failed``."""
    match = _FINISHED.search(text)
    if match is None:
        return "running"
    return "succeeded" if match.group(1) == "0" and SUCCESS_LINE in text else "failed"
