"""Commands of the local batch backend: ``poms-local-submit``, ``poms-local-job``,
``poms-declare-file`` (also ``python -m poms_shared.batch.local_cli submit|job|declare``).

Imports stay free of pydantic and the database: a runner starts per job and must be quick.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from poms_shared.batch.local_events import INPUT_STATUSES
from poms_shared.batch.local_runner import run_job
from poms_shared.batch.local_spool import append_line, default_batch_dir, slots_from_env
from poms_shared.batch.local_submit import submit_jobs

SUBMISSION_ENV = "POMS4_SUBMISSION_ID"
MANIFEST_ENV = "POMS_FILE_MANIFEST"


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return 2


def _submit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poms-local-submit",
        usage="%(prog)s [-N COUNT] [--name NAME] [--] EXECUTABLE [ARGS...]",
        description="Queue jobs on the POMS local batch backend (this host).",
    )
    parser.add_argument("-N", "--count", type=int, default=1, help="number of jobs (default 1)")
    parser.add_argument("--name", help="job name (default: the executable's name)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="executable and arguments")
    return parser


def submit_main(argv: list[str] | None = None) -> int:
    """``poms-local-submit``: spool jobs for ``$POMS4_SUBMISSION_ID`` and print the batch id."""
    prog = "poms-local-submit"
    args = _submit_parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        return _fail(prog, "no executable given")
    if args.count < 1:
        return _fail(prog, f"-N must be at least 1, not {args.count}")
    raw_id = os.environ.get(SUBMISSION_ENV, "").strip()
    if not raw_id:
        return _fail(prog, f"{SUBMISSION_ENV} is not set; submit through a POMS launch")
    try:
        submission_id = int(raw_id)
    except ValueError:
        return _fail(prog, f"{SUBMISSION_ENV} must be an integer, not {raw_id!r}")
    try:
        slots = slots_from_env()
    except ValueError as exc:
        return _fail(prog, str(exc))
    root = default_batch_dir()
    try:
        cluster, _ = submit_jobs(
            root, submission_id, command, count=args.count, name=args.name, slots=slots
        )
    except OSError as exc:  # an operator command reports, never a traceback
        print(f"{prog}: cannot submit to the spool {root}: {exc}", file=sys.stderr)
        return 1
    print(f"Submitted cluster {cluster} with {args.count} job(s).")
    print(f"POMS_BATCH_ID={cluster}@local", flush=True)
    return 0


def job_main(argv: list[str] | None = None) -> int:
    """``poms-local-job DIR``: run one spooled job (started detached by the submitter)."""
    parser = argparse.ArgumentParser(prog="poms-local-job", description=job_main.__doc__)
    parser.add_argument("job_dir", type=Path, help="the job's spool directory")
    args = parser.parse_args(argv)
    return run_job(args.job_dir)


def _declare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poms-declare-file",
        description="Declare an output file of the running POMS local batch job.",
    )
    parser.add_argument("name", help="file name as the catalog will know it")
    parser.add_argument("--location", help="where the file is (file or directory path)")
    parser.add_argument("--parent", action="append", default=[], help="a parent file name")
    parser.add_argument("--version", dest="software_version", help="software version")
    parser.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--size", type=int, help="size in bytes (default: the file's size)")
    return parser


def _meta_value(raw: str) -> Any:
    # numbers, booleans and null keep their type for catalog queries; anything else is text
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if value is None or isinstance(value, int | float | bool) else raw


def _located(name: str, location: str | None) -> tuple[str | None, int | None]:
    """Absolute location (when it exists here) and the size of the file it points to."""
    if location is None or not os.path.exists(location):
        return location, None
    path = Path(location).resolve()
    target = path / name if path.is_dir() else path
    return str(path), target.stat().st_size if target.is_file() else None


def declare_main(argv: list[str] | None = None) -> int:
    """``poms-declare-file``: append an output file to the job's ``$POMS_FILE_MANIFEST``."""
    prog = "poms-declare-file"
    args = _declare_parser().parse_args(argv)
    manifest = os.environ.get(MANIFEST_ENV, "").strip()
    if not manifest:
        return _fail(
            prog, "not running inside a POMS local batch job; declare through the API instead"
        )
    metadata: dict[str, Any] = {}
    for item in args.meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _fail(prog, f"--meta wants KEY=VALUE, not {item!r}")
        metadata[key] = _meta_value(value)
    location, found_size = _located(args.name, args.location)
    entry = {
        "name": args.name,
        "location": location,
        "size": args.size if args.size is not None else found_size,
        "parents": list(args.parent),
        "software_version": args.software_version,
        "metadata": metadata,
        "experiment": os.environ.get("POMS4_EXPERIMENT") or os.environ.get("EXPERIMENT"),
    }
    try:
        append_line(Path(manifest), (json.dumps(entry, separators=(",", ":")) + "\n").encode())
    except OSError as exc:
        print(f"{prog}: cannot write {manifest}: {exc}", file=sys.stderr)
        return 1
    return 0


def report_input_main(argv: list[str] | None = None) -> int:
    """``poms-report-input``: record what became of input files (failed, skipped, …)."""
    prog = "poms-report-input"
    parser = argparse.ArgumentParser(
        prog=prog, description="Report input files of the running POMS local batch job."
    )
    parser.add_argument("--status", required=True, choices=INPUT_STATUSES)
    parser.add_argument("names", nargs="+", metavar="NAME", help="input file name")
    args = parser.parse_args(argv)
    manifest = os.environ.get(MANIFEST_ENV, "").strip()
    if not manifest:
        return _fail(prog, "not running inside a POMS local batch job; report through the API")
    experiment = os.environ.get("POMS4_EXPERIMENT") or os.environ.get("EXPERIMENT")
    lines = b"".join(
        (
            json.dumps({"name": n, "input_status": args.status, "experiment": experiment}) + "\n"
        ).encode()
        for n in args.names
    )
    try:
        append_line(Path(manifest), lines)
    except OSError as exc:
        print(f"{prog}: cannot write {manifest}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``submit``, ``job``, ``declare`` or ``report-input`` (for ``python -m``)."""
    args = sys.argv[1:] if argv is None else argv
    commands = {
        "submit": submit_main,
        "job": job_main,
        "declare": declare_main,
        "report-input": report_input_main,
    }
    if not args or args[0] not in commands:
        return _fail(
            "local_cli", f"usage: python -m poms_shared.batch.local_cli {'|'.join(commands)}"
        )
    return commands[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
