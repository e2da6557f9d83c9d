"""``poms-run-script CMD [ARG…]``: run a command as a POMS submission of its own.

For stages whose work is not a batch submission (a script run on the launch host): gets
a submission id if ``POMS_TASK_ID`` is unset (stage ``POMS_CAMPAIGN_ID``), invents the
batch id ``<epoch>.0@fakebatch1.<host>``, reports Idle and Running, runs the command,
reports Completed (exit status 0) or Failed, and exits with the command's status. POMS
being unreachable is warned about and does not stop the command.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Mapping

from poms_shared.wrapper.reporting import LaunchEnv, Reporter, child_env, exit_status

PROG = "poms-run-script"


def fake_batch_id(now: float | None = None, host: str | None = None) -> str:
    stamp = int(time.time() if now is None else now)
    return f"{stamp}.0@fakebatch1.{host or socket.getfqdn()}"


def run(argv: list[str], env: Mapping[str, str]) -> int:
    """Run ``argv`` with the submission id exported; its shell-style exit status.

    No timeout: the command is the stage's own work, bounded by its launch's time limit."""
    try:
        return exit_status(subprocess.call(argv, env=dict(env)))
    except FileNotFoundError:
        print(f"{PROG}: {argv[0]}: command not found", file=sys.stderr)
        return 127
    except PermissionError:
        print(f"{PROG}: {argv[0]}: permission denied", file=sys.stderr)
        return 126


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    if args[:1] == ["--"]:
        args = args[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    launch = LaunchEnv.read(env)
    reporter = Reporter.from_env(env, PROG)
    sid = launch.submission_id or reporter.register(launch, shlex.join(args), launch.user(env))
    batch = fake_batch_id()
    if sid:
        print(f"{PROG}: submission {sid}, batch id {batch}", file=sys.stderr, flush=True)
        reporter.update(sid, batch, "Idle")
        reporter.update(sid, batch, "Running")
    status = run(args, child_env(env, launch, sid))
    if sid:
        reporter.update(sid, batch, "Completed" if status == 0 else "Failed")
    return status


if __name__ == "__main__":
    sys.exit(main())
