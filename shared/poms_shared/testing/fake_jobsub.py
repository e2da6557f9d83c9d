"""Stand-ins for jobsub_lite's commands printing their real output formats (tests only).

:func:`install` writes ``jobsub_submit``, ``jobsub_q``, ``jobsub_rm``, ``jobsub_hold`` and
``jobsub_release`` into a directory to put first on PATH; they share a JSON queue file.
:class:`FakeQueue` lets a test run queued jobs and make them leave the queue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCHEDD = "jobsub01.fnal.gov"
TOOLS = ("jobsub_submit", "jobsub_q", "jobsub_rm", "jobsub_hold", "jobsub_release")

# One program for every tool; it looks at the name it was called by.
PROGRAM = r"""
import json, os, sys, time
QUEUE = os.environ["FAKE_JOBSUB_QUEUE"]
SCHEDD = "@SCHEDD@"
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(QUEUE) as fh:
    queue = json.load(fh)

def save():
    with open(QUEUE + ".tmp", "w") as fh:
        json.dump(queue, fh)
    os.replace(QUEUE + ".tmp", QUEUE)

def option(name, default=None):
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default

def matching(ref):
    ident = ref.split("@")[0]
    return [k for k in queue["jobs"] if k == ident or k.split(".")[0] == ident]

if tool == "jobsub_submit":
    count = int(option("-N", "1"))
    url = next(a for a in args if a.startswith("file://"))
    rest = args[args.index(url) + 1:]
    cluster = queue["next"]
    queue["next"] += 1
    for proc in range(count):
        queue["jobs"][f"{cluster}.{proc}"] = {
            "st": "I", "script": url[len("file://"):], "args": rest,
            "submitted": time.strftime("%m/%d %H:%M"), "group": option("-G", ""),
        }
    save()
    print("Attempting to get token from https://htvaultprod.fnal.gov:8200 ... succeeded")
    group = option("-G", "fermilab")
    print(f"Storing bearer token in /tmp/bt_token_{group}_Analysis_{os.getuid()}")
    print("Submitting job(s)" + "." * count)
    print(f"{count} job(s) submitted to cluster {cluster}.")
    print()
    print(f"Use job id {cluster}.0@{SCHEDD} to retrieve output")
elif tool == "jobsub_q":
    print(f"{'JOBSUBJOBID':<40}{'OWNER':<16}{'SUBMITTED':<14}{'RUN_TIME':<11}ST PRI SIZE CMD")
    shown = {k: v for k, v in queue["jobs"].items() if v["st"] != "gone"}
    for key, job in shown.items():
        cmd = os.path.basename(job["script"]) + "_wrap.sh"
        print(f"{key + '@' + SCHEDD:<40}{option('--user', 'poms'):<16}{job['submitted']:<14}"
              f"{'0+00:00:00':<11}{job['st']:<3}{'0':<4}{'0.0':<5}{cmd}")
    counts = {s: sum(1 for j in shown.values() if j["st"] == s) for s in "CXIRHS"}
    print()
    print(f"{len(shown)} jobs; {counts['C']} completed, {counts['X']} removed, {counts['I']} idle, "
          f"{counts['R']} running, {counts['H']} held, {counts['S']} suspended")
else:
    ref = option("--jobid")
    keys = matching(ref) if ref else []
    change = {"jobsub_rm": ("IRH", "X", "marked for removal"),
              "jobsub_hold": ("IR", "H", "held"),
              "jobsub_release": ("H", "I", "released")}[tool]
    for key in keys:
        if queue["jobs"][key]["st"] in change[0]:
            queue["jobs"][key]["st"] = change[1]
    save()
    cluster = ref.split("@")[0].split(".")[0]
    if "." in ref.split("@")[0]:
        print(f"Job {ref.split('@')[0]} {change[2]}")
    else:
        print(f"All jobs in cluster {cluster} have been {change[2]}")
"""


def install(bin_dir: Path, queue_file: Path) -> dict[str, str]:
    """Write the fake tools and an empty queue; returns the environment that selects them."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    queue_file.write_text(json.dumps({"next": 4242000, "jobs": {}}))
    source = f"#!{sys.executable}\n" + PROGRAM.replace("@SCHEDD@", SCHEDD)
    for tool in TOOLS:
        path = bin_dir / tool
        path.write_text(source)
        path.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_JOBSUB_QUEUE": str(queue_file),
    }


class FakeQueue:
    """The test's hand on the fake schedd: run idle jobs, make jobs disappear."""

    def __init__(self, queue_file: Path) -> None:
        self.queue_file = queue_file

    def _load(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.queue_file.read_text())
        return data

    def _save(self, data: dict[str, Any]) -> None:
        tmp = self.queue_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.queue_file)

    def run_idle_jobs(self, timeout: float = 60) -> None:
        """Run every idle job's script to its end; finished jobs leave the queue."""
        data = self._load()
        for key, job in data["jobs"].items():
            if job["st"] != "I":
                continue
            cluster, proc = key.split(".")
            env = {**os.environ, "CLUSTER": cluster, "PROCESS": proc}
            argv = [job["script"], *job["args"]]
            subprocess.run(argv, env=env, timeout=timeout, check=False, capture_output=True)
            job["st"] = "gone"
        self._save(data)

    def drop(self, ref: str) -> None:
        """Make jobs vanish from the queue (as after the schedd lost them)."""
        data = self._load()
        ident = ref.split("@")[0]
        for key, job in data["jobs"].items():
            if key == ident or key.split(".")[0] == ident:
                job["st"] = "gone"
        self._save(data)
