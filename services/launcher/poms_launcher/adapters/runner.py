"""Runs a launch (bash here, or ssh to the login-setup host) as a process group, logging it all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from poms_launcher.domain.script import (
    SshTarget,
    abort_script,
    local_argv,
    running_process_id,
    scp_argv,
    ssh_argv,
)

ABORT_TIMEOUT = 30.0
STAGING_TIMEOUT = 120.0


@dataclass(frozen=True)
class StagedFile:
    """A file on this machine the launch needs at ``remote`` on the launch host."""

    local: str
    remote: str


@dataclass(frozen=True)
class RunResult:
    returncode: int
    output: str
    pid: int
    timed_out: bool = False


class LaunchRunner:
    """Where a launch script runs: this machine (``target`` None) or an ssh target.

    The script is the user's own shell text wrapped by POMS; it reaches the shell as one
    argv element (``bash -c SCRIPT`` or ``ssh … DEST SCRIPT``), never through a local shell.
    """

    def __init__(self, target: SshTarget | None = None) -> None:
        self.target = target

    def argv(self, script: str) -> list[str]:
        return local_argv(script) if self.target is None else ssh_argv(self.target, script)

    def staging_argvs(self, files: Sequence[StagedFile]) -> list[list[str]]:
        """The copies to make before a remote launch (none when it runs here)."""
        if self.target is None:
            return []
        return [scp_argv(self.target, f.local, f.remote) for f in files]

    def run(
        self, script: str, log_path: Path, timeout: float, stage: Sequence[StagedFile] = ()
    ) -> RunResult:
        """Run to completion, or until the timeout, which kills the whole process group."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab", buffering=0) as log:
            for argv in self.staging_argvs(stage):
                copied = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=STAGING_TIMEOUT,
                    check=False,
                )
                if copied.returncode != 0:
                    log.write(f"== copying {argv[-2]} to the launch host failed ==\n".encode())
                    return RunResult(copied.returncode, log_path.read_text(errors="replace"), 0)
            proc = subprocess.Popen(
                self.argv(script),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self._kill_remote_group(log_path)
                kill_group(proc.pid)
                proc.wait(timeout=10)
                log.write(f"\n== launch timed out after {timeout:.0f}s; killed ==\n".encode())
        output = log_path.read_text(errors="replace")
        return RunResult(proc.returncode, output, proc.pid, timed_out)

    def abort(self, process_id: int) -> str:
        """Kill the launch's process group where it runs; returns what that printed."""
        if self.target is None:
            kill_group(process_id, (signal.SIGKILL,))
            return f"killed process group {process_id}"
        done = subprocess.run(
            ssh_argv(self.target, abort_script(process_id)),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=ABORT_TIMEOUT,
            check=False,
        )
        return (done.stdout + done.stderr).strip() or f"exit status {done.returncode}"

    def _kill_remote_group(self, log_path: Path) -> None:
        if self.target is None:
            return
        pid = running_process_id(log_path.read_text(errors="replace"))
        if pid is not None:
            # the local ssh client is killed next either way
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self.abort(pid)


GRACEFUL = (signal.SIGTERM, signal.SIGKILL)


def kill_group(pid: int, signals: tuple[signal.Signals, ...] = GRACEFUL) -> None:
    for sig in signals:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
