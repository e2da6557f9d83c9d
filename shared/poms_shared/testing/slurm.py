"""A private single-node Slurm (slurmctld + slurmd on 127.0.0.1) for tests and demos."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from poms_shared.testing.ports import free_ports

DAEMONS = ("slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
# The node's Slurm name differs from the host name on purpose: a backend that reports the
# POMS host instead of the node Slurm ran a job on is caught by the tests.
NODE_NAME = "poms-worker1"


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be started here; the message says why (tests skip with it)."""


def _which(name: str) -> str | None:
    # the daemons live in /usr/sbin, which a non-login PATH may lack
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin")


def missing_binaries() -> list[str]:
    """Slurm programs not found on PATH (or in /usr/sbin)."""
    return [b for b in (*DAEMONS, *CLIENTS) if _which(b) is None]


def _node_line(host: str) -> str:
    try:
        argv = [_which("slurmd") or "slurmd", "-C"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    memory = next((w.split("=")[1] for w in out.split() if w.startswith("RealMemory=")), "1000")
    # more CPUs than exist (config_overrides) so several test jobs run side by side
    return (
        f"NodeName={NODE_NAME} NodeHostname={host} NodeAddr=127.0.0.1 CPUs=8 "
        f"RealMemory={memory} State=UNKNOWN"
    )


def write_config(root: Path) -> Path:
    """Write ``slurm.conf`` for a cluster whose state, spool and logs live under ``root``."""
    host = socket.gethostname().split(".")[0]
    controller_port, node_port = free_ports(2)
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    lines = [
        "ClusterName=poms-test",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={controller_port}",
        f"SlurmdPort={node_port}",
        "SlurmUser=root",
        "AuthType=auth/none",
        "CredType=cred/none",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={root / 'log' / 'jobcomp.txt'}",
        "MinJobAge=86400",
        "MailProg=/bin/true",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",
        "SchedulerParameters=sched_interval=1,sched_min_interval=0,batch_sched_delay=0,"
        "bf_interval=1",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        _node_line(host),
        f"PartitionName=poms Nodes={NODE_NAME} Default=YES MaxTime=INFINITE State=UP",
    ]
    conf = root / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _dead(pid: int) -> bool:
    # PID 1 reaps orphans late: a zombie counts as dead
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class SlurmCluster:
    """Starts and stops the two daemons of one private cluster; kills only what it started."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = write_config(root)
        self.pids: dict[str, int] = {}

    @property
    def env(self) -> dict[str, str]:
        """Variables that point Slurm's client commands at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    @property
    def node(self) -> str:
        """The name Slurm knows the cluster's only node by (what squeue's ``%N`` shows)."""
        return NODE_NAME

    @property
    def jobcomp(self) -> Path:
        """The file Slurm appends one line to per finished job."""
        return self.root / "log" / "jobcomp.txt"

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self, *, clean: bool = True, timeout: float = 30.0) -> None:
        """Start both daemons and wait until the node is idle."""
        self.start_controller(clean=clean)
        if "slurmd" not in self.pids:
            slurmd = [_which("slurmd") or "slurmd", "-f", str(self.conf), "-N", NODE_NAME]
            self._daemon("slurmd", slurmd)
        self.wait_ready(timeout)

    def start_controller(self, *, clean: bool) -> None:
        """Start slurmctld; ``clean`` discards every job it knew (``-c``)."""
        argv = [_which("slurmctld") or "slurmctld", "-f", str(self.conf)]
        argv += ["-c"] if clean else []
        self._daemon("slurmctld", [*argv, "-i"])

    def _daemon(self, name: str, argv: list[str]) -> None:
        pid_file = self.root / f"{name}.pid"
        # a restarted daemon writes a fresh pid file; waiting for it tells that it is up
        pid_file.unlink(missing_ok=True)
        result = subprocess.run(
            argv, env=self._client_env(), capture_output=True, text=True, timeout=30, check=False
        )
        deadline = time.monotonic() + 10
        while (pid := _read_pid(pid_file)) is None:
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"{name} did not start: {result.stderr.strip()}")
            time.sleep(0.05)
        self.pids[name] = pid

    def wait_ready(self, timeout: float) -> None:
        """Wait until the node reports idle (or mixed/allocated) to the controller."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).stdout.strip()
            if out.rstrip("*") in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.2)
        raise SlurmUnavailable(f"node not ready after {timeout}s: {self.log_tail()}")

    def run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command against this cluster."""
        return subprocess.run(
            argv, env=self._client_env(), capture_output=True, text=True, timeout=30, check=check
        )

    def stop_controller(self) -> None:
        """Stop slurmctld only (jobs keep their state on disk)."""
        self._stop("slurmctld")

    def stop(self) -> None:
        """Kill leftover job processes, then both daemons."""
        self._kill_job_processes()
        for name in DAEMONS:
            self._stop(name)

    def _kill_job_processes(self) -> None:
        # after slurmctld dies a slurmstepd ignores SIGTERM: SIGKILL jobs and their stepds
        if "slurmctld" not in self.pids:
            return
        out = self.run(["scontrol", "listpids"], check=False).stdout
        for line in out.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0].isdigit():
                pid = int(fields[0])
                for target in (pid, _parent(pid)):
                    if target and _is_stepd_or_job(target, self.root):
                        _signal(target, signal.SIGKILL)

    def _stop(self, name: str) -> None:
        pid = self.pids.pop(name, None)
        if pid is None:
            return
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not _dead(pid):
            if time.monotonic() > deadline:
                _signal(pid, signal.SIGKILL)
                break
            time.sleep(0.05)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of both daemons' logs, for failure messages."""
        parts = []
        for name in DAEMONS:
            path = self.root / "log" / f"{name}.log"
            if path.exists():
                parts.append(f"{name}: {path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


def _signal(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, sig)


def _parent(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1])


def _is_stepd_or_job(pid: int, root: Path) -> bool:
    # only processes of this cluster: its stepds, or jobs whose environment names our config
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        if comm == "slurmstepd":
            return True
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"SLURM_CONF={root / 'slurm.conf'}".encode() in environ


@contextmanager
def slurm_cluster(root: Path) -> Iterator[SlurmCluster]:
    """A running private cluster under ``root``; raises SlurmUnavailable when it cannot be."""
    missing = missing_binaries()
    if missing:
        raise SlurmUnavailable(f"Slurm programs missing: {', '.join(missing)}")
    cluster = SlurmCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
