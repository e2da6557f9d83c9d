"""Runs a launch script on this host as a process group, logging everything it prints."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunResult:
    returncode: int
    output: str
    pid: int
    timed_out: bool = False


class LocalRunner:
    """Executes login setup + command with ``bash -c`` on this machine.

    The script is the user's own shell text (login setup and launch command), so it is
    handed to bash as one argument; nothing POMS adds is interpolated into it unquoted.
    """

    def run(self, script: str, env: dict[str, str], log_path: Path, timeout: float) -> RunResult:
        """Run to completion (or timeout, which kills the whole process group)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab", buffering=0) as log:
            proc = subprocess.Popen(
                ["/bin/bash", "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait(timeout=10)
                log.write(f"\n== launch timed out after {timeout:.0f}s; killed ==\n".encode())
        output = log_path.read_text(errors="replace")
        return RunResult(proc.returncode, output, proc.pid, timed_out)


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
