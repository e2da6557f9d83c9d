"""One driver per batch backend for the conformance suite: how to submit, progress, vanish."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from poms_shared.batch.jobsub import JobsubBatch
from poms_shared.batch.local import LocalBatch
from poms_shared.batch.local_procs import read_ref, signal_group
from poms_shared.batch.local_spool import NODE, list_job_dirs
from poms_shared.batch.port import BatchBackend
from poms_shared.batch.slurm import SlurmBatch, parse_ref
from poms_shared.testing import fake_jobsub
from poms_shared.testing.fake_jobsub import WORKER_NODE, FakeQueue
from poms_shared.testing.slurm import SlurmCluster, SlurmUnavailable, slurm_cluster

BIN = Path(sys.executable).parent


@dataclass
class Driver:
    """A backend plus what the suite needs to know and do around it."""

    backend: BatchBackend
    workdir: Path
    node: str | None  # the node a finished job reports it ran on
    declares_files: bool = True
    vanished_state: str = "failed"
    env: dict[str, str] = field(default_factory=dict)

    def submit(self, submission_id: int, script: str, count: int) -> str:
        """Submit ``count`` jobs of a shell script that may look at ``$PROCESS``."""
        path = self.workdir / f"job{submission_id}.sh"
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)
        env = {**os.environ, **self.env}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        return self.backend.submit(submission_id, [str(path)], count, env, str(self.workdir))

    def progress(self) -> None:
        """Let the batch system move on (only a fake one needs telling)."""

    def vanish(self, batch_id: str) -> None:
        """Make the batch system lose the jobs of ``batch_id`` without recording their end."""
        raise NotImplementedError


class LocalDriver(Driver):
    def vanish(self, batch_id: str) -> None:
        assert isinstance(self.backend, LocalBatch)
        for jd in list_job_dirs(self.backend.root, int(batch_id.split("@")[0])):
            for pid_file in (jd.runner_pid, jd.pid):
                ref = read_ref(pid_file)
                if ref is not None:
                    signal_group(ref.pid, signal.SIGKILL)


class SlurmDriver(Driver):
    cluster: SlurmCluster

    def vanish(self, batch_id: str) -> None:
        # a held job never runs; a controller started clean forgets it, as after losing state
        array_job = parse_ref(batch_id)[0]
        self.cluster.run(["scontrol", "hold", str(array_job)])
        self.cluster.stop_controller()
        self.cluster.start_controller(clean=True)
        self.cluster.wait_ready(30)


class JobsubDriver(Driver):
    queue: FakeQueue

    def progress(self) -> None:
        self.queue.advance()

    def vanish(self, batch_id: str) -> None:
        self.queue.drop(batch_id)


def local_driver(tmp_path: Path) -> Driver:
    batch = LocalBatch(tmp_path / "spool", slots=4, kill_grace=2.0, runner_grace=2.0)
    return LocalDriver(batch, tmp_path, NODE)


def slurm_driver(tmp_path: Path, cluster: SlurmCluster) -> Driver:
    driver = SlurmDriver(SlurmBatch(tmp_path / "spool"), tmp_path, cluster.node)
    driver.cluster = cluster
    return driver


def jobsub_driver(tmp_path: Path, queue_file: Path) -> Driver:
    # a short grace: a job history never knew is given up on within the suite's patience
    batch = JobsubBatch(tmp_path / "spool", group="demo", user="poms", history_grace=1.0)
    driver = JobsubDriver(
        batch, tmp_path, WORKER_NODE, declares_files=False, vanished_state="completed"
    )
    driver.queue = FakeQueue(queue_file)
    return driver


BACKENDS = ["local", "slurm", "jobsub"]


def open_driver(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Driver]:
    """The driver of backend ``name`` (one of BACKENDS) with a fresh spool, for a fixture to
    yield from: Slurm is a private cluster (the test is skipped where there can be none),
    jobsub fakes on PATH."""
    if name == "local":
        yield local_driver(tmp_path)
    elif name == "jobsub":
        env = fake_jobsub.install(tmp_path / "bin", tmp_path / "queue.json")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield jobsub_driver(tmp_path, tmp_path / "queue.json")
    else:
        try:
            with slurm_cluster(tmp_path / "slurm") as cluster:
                for key, value in cluster.env.items():
                    monkeypatch.setenv(key, value)
                yield slurm_driver(tmp_path, cluster)
        except SlurmUnavailable as exc:
            pytest.skip(f"no Slurm here: {exc}")
