"""Running a batch system's command-line tools, with their failures as BatchError."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from poms_shared.batch.errors import BatchError

COMMAND_TIMEOUT = 60.0


def run_batch_command(
    argv: list[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> str:
    """Run one CLI call (argv, never a shell); its stdout, or BatchError with what it said."""
    try:
        done = subprocess.run(
            argv,
            env=None if env is None else dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BatchError(f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        said = done.stderr.strip() or done.stdout.strip()
        raise BatchError(f"{' '.join(argv[:3])} failed ({done.returncode}): {said}")
    return done.stdout


def check_submit(argv: list[str], count: int) -> None:
    """Reject a submission that could not run anything."""
    if not argv:
        raise ValueError("nothing to run: argv is empty")
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
