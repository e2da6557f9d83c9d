"""``poms-demo-launch`` (a launch script) and ``poms-demo-job`` (the job it submits).

The launch script behaves like a production one: it works out its inputs and calls the
batch system's submit command, which returns at once; the jobs run later, write real
files and declare them with their parents.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
import time
from pathlib import Path

PREFIX = {"generate": "gen", "simulate": "sim", "reconstruct": "reco"}
SUBMIT_COMMANDS = {"local": "poms-local-submit", "slurm": "poms-slurm-submit"}


def launch_main(argv: list[str] | None = None) -> int:
    """Submit ``--jobs`` demo jobs through the chosen batch backend (default local)."""
    parser = argparse.ArgumentParser(prog="poms-demo-launch")
    parser.add_argument("--stage", required=True, choices=sorted(PREFIX))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--version", default="v0")
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--dataset", default="")
    parser.add_argument("--tune", default="")
    _fault_options(parser)
    parser.add_argument(
        "--backend",
        choices=sorted(SUBMIT_COMMANDS),
        default=os.environ.get("POMS_BATCH_BACKEND", "").strip() or "local",
        help="batch backend (default: $POMS_BATCH_BACKEND, else local)",
    )
    args = parser.parse_args(argv)
    job = [
        "poms-demo-job",
        "--stage",
        args.stage,
        "--version",
        args.version,
        "--njobs",
        str(args.jobs),
    ]
    for option in ("fail_on", "lose_on"):
        if getattr(args, option):
            job += [f"--{option.replace('_', '-')}", getattr(args, option)]
    inputs = os.environ.get("POMS_DATASET_FILE_LIST")
    if args.stage != "generate":
        if not inputs:
            print(f"poms-demo-launch: dataset {args.dataset!r} has no files", file=sys.stderr)
            return 3
        job += ["--inputs", inputs]
    print(f"submitting {args.jobs} {args.stage} job(s) on dataset {args.dataset or '-'}")
    sys.stdout.flush()
    submit = [SUBMIT_COMMANDS[args.backend], "-N", str(args.jobs), "--", *job]
    return subprocess.run(submit, timeout=120, check=False).returncode


def job_main(argv: list[str] | None = None) -> int:
    """Process this job's share of the inputs, write outputs, declare them."""
    parser = argparse.ArgumentParser(prog="poms-demo-job")
    parser.add_argument("--stage", required=True, choices=sorted(PREFIX))
    parser.add_argument("--version", default="v0")
    parser.add_argument("--inputs")
    parser.add_argument("--per-job", type=int, default=2)
    parser.add_argument("--njobs", type=int, default=1)
    _fault_options(parser)
    args = parser.parse_args(argv)
    proc = int(os.environ.get("PROCESS", "0"))
    cluster = os.environ.get("CLUSTER", "0")
    out_dir = Path(os.environ.get("POMS_VAR_DIR", "var")) / "demo-data" / args.stage
    out_dir.mkdir(parents=True, exist_ok=True)
    work = _work_items(args, proc, cluster)
    failed: list[str] = []
    for name, parents in work:
        time.sleep(0.3)  # stand-in for real processing time
        if any(_matches(p, args.fail_on) for p in parents):
            failed += parents
            print(f"processing {', '.join(parents)} failed")
            continue
        path = out_dir / name
        path.write_text(f"{args.stage} output from {parents or 'nothing'}\n")
        declare = ["poms-declare-file", name, "--version", args.version]
        if not any(_matches(p, args.lose_on) for p in parents):
            declare += ["--location", str(path)]  # otherwise: declared, never located
        for parent in parents:
            declare += ["--parent", parent]
        subprocess.run(declare, check=True, timeout=60)
        print(f"wrote and declared {name}")
    if failed:
        subprocess.run(["poms-report-input", "--status", "failed", *failed], check=True, timeout=60)
        return 1
    return 0


def _fault_options(parser: argparse.ArgumentParser) -> None:
    """Failures on demand, to exercise recoveries: input name patterns (``*`` wildcards)."""
    parser.add_argument("--fail-on", default="", help="inputs whose processing fails")
    parser.add_argument("--lose-on", default="", help="inputs whose outputs are never located")


def _matches(name: str, patterns: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p.strip()) for p in patterns.split(",") if p.strip())


def _work_items(args: argparse.Namespace, proc: int, cluster: str) -> list[tuple[str, list[str]]]:
    prefix = PREFIX[args.stage]
    if not args.inputs:
        return [(f"{prefix}_{cluster}_{proc}_{k}.root", []) for k in range(args.per_job)]
    jobs = max(1, args.njobs)
    lines = [ln.strip() for ln in Path(args.inputs).read_text().splitlines() if ln.strip()]
    mine = [ln for i, ln in enumerate(lines) if i % jobs == proc]
    items = []
    for location in mine:
        parent = Path(location).name
        stem = parent.split("_", 1)[1] if "_" in parent else parent
        items.append((f"{prefix}_{stem}", [parent]))
    return items
