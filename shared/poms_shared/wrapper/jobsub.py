"""``poms-jobsub-wrapper``: ``jobsub_submit`` that tells POMS about the submission.

Installed first on PATH as ``jobsub_submit`` and ``jobsub_submit_dag``
(``poms-jobsub-wrapper --install DIR``), it

1. registers the command with POMS (``get_submission_id_for``): a POMS launch updates its
   submission (``POMS_TASK_ID``) with the real command, a launch by hand gets a new
   submission of the stage ``POMS_CAMPAIGN_ID``;
2. runs the real tool (``$JOBSUB_CLIENT_DIR/<tool>``, else the next one on PATH) with
   ``-e POMS_CAMPAIGN_ID -e POMS_TASK_ID``, the POMS ClassAds, ``$POMS_JOBSUB_EXTRA`` and
   then the user's own arguments, echoing its output;
3. reports the job id of the ``Use job id <id> to retrieve output`` line with
   ``update_submission`` (status New) and prints ``POMS_BATCH_ID=<id>`` for the launcher;
4. exits with the real tool's exit status.

POMS being unreachable or refusing never blocks the submission: the wrapper warns on
standard error and submits anyway.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from poms_shared.wrapper.reporting import LaunchEnv, Reporter, child_env, exit_status

PROG = "poms-jobsub-wrapper"
TOOLS = ("jobsub_submit", "jobsub_submit_dag")
TOOL_ENV = "POMS_JOBSUB_TOOL"  # which tool a shim stands for
SHIM_DIR_ENV = "POMS_JOBSUB_SHIM_DIR"
SHIM_MARK = "poms-jobsub-wrapper shim"
JOB_ID_LINE = re.compile(r"Use job id (\S+) to retrieve output")
DATASET_OPTIONS = ("--dataset_definition", "--dataset-definition", "--dataset")
# ClassAds whose values are whole numbers or booleans (unquoted); the rest are strings.
BARE_ADS = {
    "POMS_TASK_ID",
    "POMS_CAMPAIGN_ID",
    "POMS4_CAMPAIGN_STAGE_ID",
    "POMS4_CAMPAIGN_ID",
    "POMS4_SUBMISSION_ID",
    "POMS4_TEST_LAUNCH",
}


def classad(name: str, value: str) -> str:
    """``+NAME=value`` as jobsub's ``--lines`` takes it (strings double-quoted)."""
    if name in BARE_ADS and re.fullmatch(r"\d+|True|False|true|false", value):
        return f"+{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'+{name}="{escaped}"'


def classads(launch: LaunchEnv, submission_id: str | None) -> list[str]:
    """The ClassAds POMS's dashboards and job control find jobs by (§8.6 step 3)."""
    categories = []
    if submission_id:
        categories.append(f"POMS_TASK_ID_{submission_id}")
    if launch.stage_id:
        categories.append(f"POMS_CAMPAIGN_ID_{launch.stage_id}")
    categories.extend(launch.tags)
    p4 = launch.poms4
    values = {
        "FIFE_CATEGORIES": ",".join(categories),
        "POMS_TASK_ID": submission_id or "",
        "POMS_CAMPAIGN_ID": launch.stage_id or "",
        "POMS_LAUNCHER": launch.launcher or "",
        "POMS_CAMPAIGN_NAME": launch.campaign_name or "",
        "POMS4_CAMPAIGN_STAGE_ID": p4.get("POMS4_CAMPAIGN_STAGE_ID") or launch.stage_id or "",
        "POMS4_CAMPAIGN_STAGE_NAME": p4.get("POMS4_CAMPAIGN_STAGE_NAME", ""),
        "POMS4_CAMPAIGN_ID": p4.get("POMS4_CAMPAIGN_ID", ""),
        "POMS4_CAMPAIGN_NAME": p4.get("POMS4_CAMPAIGN_NAME", ""),
        "POMS4_SUBMISSION_ID": submission_id or "",
        "POMS4_CAMPAIGN_TYPE": p4.get("POMS4_CAMPAIGN_TYPE")
        or p4.get("POMS4_CAMPAIGN_STAGE_TYPE", ""),
        "POMS4_TEST_LAUNCH": p4.get("POMS4_TEST_LAUNCH", ""),
    }
    return [classad(name, value) for name, value in values.items() if value]


def submit_argv(
    real: str, launch: LaunchEnv, submission_id: str | None, user_args: Sequence[str]
) -> list[str]:
    """The real tool's argv: POMS's options first, the user's arguments last."""
    argv = [real]
    if launch.stage_id:
        argv += ["-e", "POMS_CAMPAIGN_ID"]
    if submission_id:
        argv += ["-e", "POMS_TASK_ID"]
    argv += [f"--lines={ad}" for ad in classads(launch, submission_id)]
    return [*argv, *launch.extra, *user_args]


def job_id_in(line: str) -> str | None:
    found = JOB_ID_LINE.search(line)
    return found.group(1) if found else None


def batch_id(job_id: str) -> str:
    """The submission's batch id: the job id of its first process, ``.0@`` → ``@``."""
    return job_id.replace(".0@", "@")


def dataset_in(args: Sequence[str]) -> str | None:
    """The SAM dataset definition the jobs read, if the arguments name one."""
    for i, arg in enumerate(args):
        for option in DATASET_OPTIONS:
            if arg == option and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(option + "="):
                return arg.split("=", 1)[1]
    return None


def is_shim(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return SHIM_MARK.encode() in fh.read(1024)
    except OSError:
        return False


def find_real_tool(tool: str, env: Mapping[str, str], skip: Sequence[str] = ()) -> str | None:
    """``$JOBSUB_CLIENT_DIR/<tool>``, else the first ``tool`` on PATH that is not a shim."""
    client_dir = env.get("JOBSUB_CLIENT_DIR", "").strip()
    if client_dir:
        candidate = Path(client_dir) / tool
        if os.access(candidate, os.X_OK) and not is_shim(candidate):
            return str(candidate)
    skipped = {os.path.realpath(d) for d in skip if d}
    for folder in env.get("PATH", "").split(os.pathsep):
        if not folder or os.path.realpath(folder) in skipped:
            continue
        candidate = Path(folder) / tool
        if candidate.is_file() and os.access(candidate, os.X_OK) and not is_shim(candidate):
            return str(candidate)
    return None


def shim_text(tool: str, folder: Path) -> str:
    """A shell script standing for ``tool`` that runs this wrapper with this Python."""
    return (
        "#!/bin/sh\n"
        f"# {SHIM_MARK}: registers the submission with POMS, then runs the real {tool}.\n"
        f"# Made by '{PROG} --install {folder}'.\n"
        f"{TOOL_ENV}={tool} {SHIM_DIR_ENV}={shlex.quote(str(folder))} "
        f'exec {shlex.quote(sys.executable)} -m poms_shared.wrapper.jobsub "$@"\n'
    )


def install(folder: Path) -> list[Path]:
    """Write the ``jobsub_submit`` and ``jobsub_submit_dag`` shims into ``folder``."""
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for tool in TOOLS:
        path = folder / tool
        path.write_text(shim_text(tool, folder))
        path.chmod(0o755)
        made.append(path)
    return made


def run_tool(argv: list[str], env: Mapping[str, str], out: TextIO) -> tuple[int, str | None]:
    """Run the real tool echoing its standard output; (exit status, job id it printed).

    No timeout: this is the user's own submission, bounded by whoever called it (a POMS
    launch has its own time limit)."""
    job_id = None
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, env=dict(env), text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            out.flush()
            job_id = job_id or job_id_in(line)
    return exit_status(proc.returncode), job_id


def usage() -> str:
    return (
        f"usage: {PROG} --install DIR     write DIR/jobsub_submit and DIR/jobsub_submit_dag\n"
        f"       jobsub_submit ARGS…           (through the shim) register with POMS, submit\n\n"
        "Then put DIR first on PATH: export PATH=DIR:$PATH"
    )


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    if args[:1] == ["--install"]:
        if len(args) != 2:
            print(usage(), file=sys.stderr)
            return 2
        for path in install(Path(args[1])):
            print(f"wrote {path}")
        print(f"put it first on PATH: export PATH={Path(args[1]).expanduser().resolve()}:$PATH")
        return 0
    if args[:1] in (["--help"], ["-h"]) and TOOL_ENV not in env:
        print(__doc__)
        print(usage())
        return 0
    return wrap(env.get(TOOL_ENV) or "jobsub_submit", args, env)


def wrap(tool: str, args: Sequence[str], env: Mapping[str, str], out: TextIO | None = None) -> int:
    """Register, submit through the real ``tool``, report the job id; the tool's status."""
    out = out or sys.stdout
    skip = [env.get(SHIM_DIR_ENV, ""), str(Path(sys.argv[0]).resolve().parent)]
    real = find_real_tool(tool, env, skip)
    if real is None:
        print(
            f"{PROG}: the real {tool} is not on PATH after the POMS wrapper "
            "(set JOBSUB_CLIENT_DIR to the folder holding it)",
            file=sys.stderr,
        )
        return 127
    launch = LaunchEnv.read(env)
    reporter = Reporter.from_env(env, PROG)
    command = shlex.join([tool, *args])
    sid = reporter.register(launch, command, launch.user(env), dataset_in(args))
    argv = submit_argv(real, launch, sid, args)
    status, job_id = run_tool(argv, child_env(env, launch, sid), out)
    if job_id is None:
        if status == 0:
            reporter.warn(f"no 'Use job id' line in {tool}'s output; POMS has no batch id")
        return status
    if sid is not None:
        reporter.update(sid, batch_id(job_id), "New")
        print(f"POMS_BATCH_ID={batch_id(job_id)}", file=out, flush=True)
        print(f"{PROG}: submission {sid}: batch id {batch_id(job_id)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
