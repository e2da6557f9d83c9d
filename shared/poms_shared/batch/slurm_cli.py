"""``poms-slurm-submit``: the Slurm counterpart of ``poms-local-submit`` for launch scripts."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from poms_shared.batch.port import BatchError
from poms_shared.batch.slurm import SPOOL_ENV, SlurmBatch

SUBMISSION_ENV = "POMS4_SUBMISSION_ID"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poms-slurm-submit",
        usage="%(prog)s [-N COUNT] [--] EXECUTABLE [ARGS...]",
        description="Submit a job array to Slurm for the POMS submission $POMS4_SUBMISSION_ID.",
    )
    parser.add_argument("-N", "--count", type=int, default=1, help="number of jobs (default 1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="executable and arguments")
    return parser


def _spool() -> Path:
    explicit = os.environ.get(SPOOL_ENV, "").strip()
    if explicit:
        return Path(explicit)
    var_dir = os.environ.get("POMS_VAR_DIR", "").strip() or "var"
    return Path(var_dir) / "batch" / "slurm"


def _fail(message: str) -> int:
    print(f"poms-slurm-submit: {message}", file=sys.stderr)
    return 2


def submit_main(argv: list[str] | None = None) -> int:
    """Submit through :class:`SlurmBatch` and print ``POMS_BATCH_ID=<A>@slurm``."""
    args = _parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        return _fail("no executable given")
    if args.count < 1:
        return _fail(f"-N must be at least 1, not {args.count}")
    raw_id = os.environ.get(SUBMISSION_ENV, "").strip()
    if not raw_id.isdecimal():
        return _fail(f"{SUBMISSION_ENV} must be set to the submission id, not {raw_id!r}")
    try:
        batch_id = SlurmBatch(_spool()).submit(int(raw_id), command, count=args.count)
    except (BatchError, OSError, ValueError) as exc:
        print(f"poms-slurm-submit: {exc}", file=sys.stderr)
        return 1
    print(f"Submitted array {batch_id.split('@')[0]} with {args.count} job(s).")
    print(f"POMS_BATCH_ID={batch_id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(submit_main())
