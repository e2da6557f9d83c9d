"""Stand-ins for jobsub_lite's commands printing their real output formats (tests only).

:func:`install` writes ``jobsub_submit``, ``jobsub_q``, ``jobsub_history``, ``jobsub_rm``,
``jobsub_hold`` and ``jobsub_release`` into a directory to put first on PATH. They share a
JSON file holding the schedd's queue and its history, and append every call they get to
``<queue file>.calls`` (one JSON argv per line). :class:`FakeQueue` is the test's hand on the
schedd: it runs idle jobs (their exit status becomes the history's ExitCode), retires
removed jobs to the history, and loses jobs without a trace.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCHEDD = "jobsub01.fnal.gov"
WORKER_NODE = "fnpc9014.fnal.gov"  # where the fake schedd "runs" every job
SITE = "FermiGrid"  # the glidein site every job that ran matched
REQUEST_MEMORY = 2000  # MiB: jobsub_submit's default --memory
TOOLS = (
    "jobsub_submit",
    "jobsub_q",
    "jobsub_history",
    "jobsub_rm",
    "jobsub_hold",
    "jobsub_release",
)

# One program for every tool; it looks at the name it was called by.
PROGRAM = r"""
import json, os, re, sys, time
QUEUE = os.environ["FAKE_JOBSUB_QUEUE"]
SCHEDD = "@SCHEDD@"
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(QUEUE + ".calls", "a") as fh:
    fh.write(json.dumps([tool, *args]) + "\n")
with open(QUEUE) as fh:
    queue = json.load(fh)

def save():
    with open(QUEUE + ".tmp", "w") as fh:
        json.dump(queue, fh)
    os.replace(QUEUE + ".tmp", QUEUE)

def option(*names, default=None):
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return default

def matching(ref):
    ident = ref.split("@")[0]
    return [k for k in queue["jobs"] if k == ident or k.split(".")[0] == ident]

def classad(value):
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

# jobsub_lite's order: -G/--group, else $JOBSUB_GROUP, else $GROUP
group = option("-G", "--group") or os.environ.get("JOBSUB_GROUP") or os.environ.get("GROUP")
if group is None and tool != "jobsub_q":
    sys.exit(f"{sys.argv[0]}: no group given (-G GROUP, or GROUP in the environment)")

if tool == "jobsub_submit":
    count = int(option("-N", default="1"))
    url = next(a for a in args if a.startswith("file://"))
    rest = args[args.index(url) + 1:]
    cluster = queue["next"]
    queue["next"] += 1
    for proc in range(count):
        queue["jobs"][f"{cluster}.{proc}"] = {
            "st": "I", "script": url[len("file://"):], "args": rest, "qdate": int(time.time()),
            "submitted": time.strftime("%m/%d %H:%M"), "group": group,
            "owner": os.environ.get("USER", "poms"),
        }
    save()
    print("Attempting to get token from https://htvaultprod.fnal.gov:8200 ... succeeded")
    print(f"Storing bearer token in /tmp/bt_token_{group}_Analysis_{os.getuid()}")
    print("Submitting job(s)" + "." * count)
    print(f"{count} job(s) submitted to cluster {cluster}.")
    print()
    print(f"Use job id {cluster}.0@{SCHEDD} to retrieve output")
elif tool == "jobsub_q":
    print(f"{'JOBSUBJOBID':<40}{'OWNER':<16}{'SUBMITTED':<14}{'RUN_TIME':<11}ST PRI SIZE CMD")
    shown = queue["jobs"]
    for key, job in shown.items():
        cmd = os.path.basename(job["script"]) + "_wrap.sh"
        print(f"{key + '@' + SCHEDD:<40}{option('--user', default='poms'):<16}"
              f"{job['submitted']:<14}{'0+00:00:00':<11}{job['st']:<3}{'0':<4}{'0.0':<5}{cmd}")
    counts = {s: sum(1 for j in shown.values() if j["st"] == s) for s in "CXIRHS"}
    print()
    print(f"{len(shown)} jobs; {counts['C']} completed, {counts['X']} removed, {counts['I']} idle, "
          f"{counts['R']} running, {counts['H']} held, {counts['S']} suspended")
elif tool == "jobsub_history":
    schedd = option("-name")
    if schedd and schedd != SCHEDD:
        # the real wrapper runs condor_history through os.system: errors still exit 0
        print(f"Error: Couldn't contact schedd {schedd}", file=sys.stderr)
        sys.exit(0)
    ads = list(reversed(queue["history"]))  # jobsub_history always reads -backwards
    constraint = option("-constraint")
    if constraint is not None:
        terms = [re.fullmatch(r"\s*ClusterId\s*==\s*(\d+)\s*", t) for t in constraint.split("||")]
        if not all(terms):
            sys.exit(f"fake jobsub_history: unsupported -constraint {constraint!r}")
        wanted = {int(t.group(1)) for t in terms}
        ads = [ad for ad in ads if ad["ClusterId"] in wanted]
    jobid = option("--jobid", "-J")
    if jobid:
        ident = jobid.split("@")[0]
        ads = [ad for ad in ads
               if ident in (str(ad["ClusterId"]), f"{ad['ClusterId']}.{ad['ProcId']}")]
    if option("--user"):
        ads = [ad for ad in ads if ad["Owner"] == option("--user")]
    limit = option("-limit", "-match")
    ads = ads[:int(limit)] if limit else ads
    if "-autoformat" in args:
        attrs = []
        for arg in args[args.index("-autoformat") + 1:]:
            if arg.startswith("-"):
                break
            attrs.append(arg)
        for ad in ads:
            print(" ".join(classad(ad.get(a)) for a in attrs))
    else:
        print("JOBSUBJOBID                             OWNER                SUBMITTED"
              "           FINISHED            ST       CMD")
        for ad in ads:
            ident = f"{ad['ClusterId']}.{ad['ProcId']}@{SCHEDD}"
            qdate = time.strftime("%m/%d %H:%M", time.localtime(ad["QDate"]))
            done = time.strftime("%m/%d %H:%M", time.localtime(ad["CompletionDate"]))
            print(f"{ident:<30}{ad['Owner']:<10}\t{qdate:<11} {done:<11}  "
                  f"{'UIRXCHE'[ad['JobStatus']]} {ad['Cmd']}")
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
    """Write the fake tools and an empty schedd; returns the environment that selects them."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    empty = {"next": 4242000, "jobs": {}, "history": [], "lagging": []}
    queue_file.write_text(json.dumps(empty))
    source = f"#!{sys.executable}\n" + PROGRAM.replace("@SCHEDD@", SCHEDD)
    for tool in TOOLS:
        path = bin_dir / tool
        path.write_text(source)
        path.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_JOBSUB_QUEUE": str(queue_file),
    }


def _history_ad(key: str, job: dict[str, Any], status: int) -> dict[str, Any]:
    cluster, proc = (int(part) for part in key.split("."))
    return {
        "ClusterId": cluster,
        "ProcId": proc,
        "JobStatus": status,
        "ExitCode": None,
        "ExitBySignal": None,
        "ExitSignal": None,
        "LastRemoteHost": None,
        "RemoteHost": None,
        "RequestMemory": REQUEST_MEMORY,
        "Owner": job.get("owner", "poms"),
        "QDate": job.get("qdate", 0),
        "CompletionDate": int(time.time()),
        "Cmd": job["script"],
    }


class FakeQueue:
    """The test's hand on the fake schedd: run idle jobs, retire removed ones, lose jobs."""

    def __init__(self, queue_file: Path) -> None:
        self.queue_file = queue_file

    def _load(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.queue_file.read_text())
        return data

    def _save(self, data: dict[str, Any]) -> None:
        tmp = self.queue_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.queue_file)

    def advance(self, timeout: float = 60, *, history_lag: bool = False) -> None:
        """Run every idle job to its end and move it, and every removed job, to the history.

        A job's exit status is its history ExitCode (a signal sets ExitBySignal instead);
        jobs that ran name ``slot1_<n>@WORKER_NODE`` as LastRemoteHost, ``SITE`` as
        MATCH_GLIDEIN_Site and what they used (wall, CPU, peak memory). With
        ``history_lag`` the jobs leave the queue but reach the history only at
        :meth:`catch_up`.
        """
        data = self._load()
        ended = data["lagging"] if history_lag else data["history"]
        for key, job in list(data["jobs"].items()):
            if job["st"] == "X":
                ended.append(_history_ad(key, job, 3))
                del data["jobs"][key]
            elif job["st"] == "I":
                ended.append(self._run(key, job, timeout))
                del data["jobs"][key]
        self._save(data)

    def catch_up(self) -> None:
        """Write the ads of jobs that left the queue with ``history_lag`` to the history."""
        data = self._load()
        data["history"].extend(data["lagging"])
        data["lagging"] = []
        self._save(data)

    def _run(self, key: str, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        cluster, proc = key.split(".")
        env = {**os.environ, "CLUSTER": cluster, "PROCESS": proc, "JOBSUBJOBID": key}
        argv = [job["script"], *job["args"]]
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        done = subprocess.run(argv, env=env, timeout=timeout, check=False, capture_output=True)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
        ad = _history_ad(key, job, 4)
        ad["LastRemoteHost"] = f"slot1_{int(proc) % 8 + 1}@{WORKER_NODE}"
        ad["MATCH_GLIDEIN_Site"] = SITE
        ad["RemoteWallClockTime"] = round(wall, 3)
        ad["RemoteUserCpu"] = round(after.ru_utime - before.ru_utime, 3)
        ad["RemoteSysCpu"] = round(after.ru_stime - before.ru_stime, 3)
        # the peak of every child waited for so far (kB): at least this job's own peak
        ad["ResidentSetSize_RAW"] = after.ru_maxrss
        ad["ExitBySignal"] = done.returncode < 0
        if done.returncode < 0:
            ad["ExitSignal"] = -done.returncode
        else:
            ad["ExitCode"] = done.returncode
        return ad

    def drop(self, ref: str) -> None:
        """Make jobs vanish from the queue leaving no history (as if the schedd lost them)."""
        data = self._load()
        ident = ref.split("@")[0]
        for key in list(data["jobs"]):
            if key == ident or key.split(".")[0] == ident:
                del data["jobs"][key]
        self._save(data)

    def calls(self, tool: str | None = None) -> list[list[str]]:
        """Every call the fake tools got (argv with the tool's name first), oldest first."""
        path = Path(f"{self.queue_file}.calls")
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        argvs: list[list[str]] = [json.loads(line) for line in lines if line.strip()]
        return [argv for argv in argvs if tool is None or argv[0] == tool]
