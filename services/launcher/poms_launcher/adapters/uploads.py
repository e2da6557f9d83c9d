"""Users' uploaded files and the per-launch sandboxes analysis launches run in (§12.9).

Uploads live in ``<uploads_dir>/<experiment>/<user>/``. Each analysis launch gets a fresh
``<uploads_dir>/sandboxes/<uuid>`` holding hard links to all of them; the sandbox parent
is traversable but not listable, so a sandbox's name is its only key. Sandboxes older than
``SANDBOX_MAX_AGE`` are removed when the next analysis launch prepares its own.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from pathlib import Path

from poms_launcher.domain.compose import CompositionError

log = logging.getLogger(__name__)
SANDBOX_MAX_AGE = 30 * 60.0
VAULT_TOKEN_MAX_AGE = 5 * 24 * 3600.0


def user_dir(uploads_dir: Path, experiment: str, user: str) -> Path:
    return uploads_dir / experiment / user


def make_sandbox(uploads_dir: Path, experiment: str, user: str) -> Path:
    """A new sandbox linking every file the user uploaded (copies across file systems)."""
    parent = uploads_dir / "sandboxes"
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o711)
    clean_sandboxes(parent)
    sandbox = parent / uuid.uuid4().hex
    sandbox.mkdir(mode=0o755)
    source = user_dir(uploads_dir, experiment, user)
    if source.is_dir():
        for item in sorted(source.iterdir()):
            if item.is_file():
                try:
                    os.link(item, sandbox / item.name)
                except OSError:
                    shutil.copy2(item, sandbox / item.name)
    return sandbox


def clean_sandboxes(parent: Path, max_age: float = SANDBOX_MAX_AGE) -> int:
    """Remove sandboxes last changed more than ``max_age`` seconds ago."""
    removed = 0
    cutoff = time.time() - max_age
    for sandbox in parent.iterdir() if parent.is_dir() else ():
        try:
            if sandbox.is_dir() and sandbox.stat().st_mtime < cutoff:
                shutil.rmtree(sandbox)
                removed += 1
        except OSError as exc:  # another launcher removed it first, or it is not ours
            log.debug("sandbox %s not removed: %s", sandbox, exc)
    return removed


def uploaded(uploads_dir: Path, experiment: str, user: str, name: str) -> Path | None:
    path = user_dir(uploads_dir, experiment, user) / name
    return path if path.is_file() else None


def require_fresh_vault_token(path: Path | None, expected: Path, now: float | None = None) -> Path:
    """An analysis token-mode launch needs an uploaded vault token younger than five days."""
    if path is None:
        raise CompositionError(
            f"no vault token uploaded: analysis launches need {expected.name} in {expected.parent}"
        )
    age = (time.time() if now is None else now) - path.stat().st_mtime
    if age > VAULT_TOKEN_MAX_AGE:
        days = age / 86400
        raise CompositionError(
            f"the uploaded vault token {path.name} is {days:.1f} days old; "
            "upload a fresh one (at most 5 days old)"
        )
    return path
