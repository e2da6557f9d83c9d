"""A new user's ``make run``: ``poms-run`` in embedded mode, as a real process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.testing.stack import free_port

pytestmark = pytest.mark.e2e

BIN_DIR = Path(sys.executable).parent
POMS_RUN = BIN_DIR / "poms-run"
STAGES = ("generate", "simulate", "reconstruct")
RUN_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something other than None/False, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


class PomsRun:
    """One ``poms-run`` process on a var dir, its output going to a file."""

    def __init__(self, var_dir: Path, *args: str) -> None:
        self.var_dir = var_dir
        self.port = free_port()
        self.out_path = var_dir.parent / f"poms-run-{self.port}.out"
        # As `make run` starts it: the venv is not activated, so its bin is not on PATH.
        path = os.pathsep.join(
            p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != BIN_DIR
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("POMS_")}
        env.update(
            PATH=path,
            POMS_VAR_DIR=str(var_dir),
            POMS_WEB_PORT=str(self.port),
            POMS_MODE="embedded",
        )
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(
                [str(POMS_RUN), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=var_dir.parent,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as resp:
            body: bytes = resp.read()
            return body

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"poms-run did not exit within {timeout:.0f} s; output:\n{self.output[-4000:]}"
            ) from None

    def wait_for_web(self) -> None:
        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"poms-run exited early:\n{self.output[-4000:]}")
            return port_in_use(self.port)

        wait_for(listening, 60, f"poms-run to listen on port {self.port}")

    def interrupt(self) -> int:
        """Ctrl-C, and the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def var_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "var"
    path.mkdir()
    yield path
    # Whatever happened, leave no process of this run behind for later tests.
    for pid in processes_mentioning(path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def runs(var_dir: Path) -> Iterator[Callable[..., PomsRun]]:
    """Start ``poms-run`` processes on the test's var dir; any still running are killed."""
    started: list[PomsRun] = []

    def start(*args: str) -> PomsRun:
        run = PomsRun(var_dir, *args)
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def nothing_listens_on(port: int) -> bool:
    """No server accepts connections on the port any more. (Binding it is no test: the
    closed server's connections linger in TIME_WAIT, and any process's outgoing connection
    may be given the same number as its local port.)"""
    with socket.socket() as sock:
        sock.settimeout(5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def processes_mentioning(path: Path) -> list[int]:
    """Pids (other than this one) whose command line or environment contains ``path``."""
    needle = str(path).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        for name in ("cmdline", "environ"):
            try:
                if needle in (proc / name).read_bytes():
                    found.append(int(proc.name))
                    break
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return found


def describe(pids: list[int]) -> str:
    lines = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmd = "(gone)"
        lines.append(f"{pid}: {cmd}")
    return "\n".join(lines)


def stage_statuses(detail: dict[str, Any]) -> dict[str, list[str]]:
    return {s["name"]: [x["status"] for x in s["submissions"]] for s in detail["stages_detail"]}


def demo_done(run: PomsRun) -> dict[str, Any] | None:
    try:
        detail: dict[str, Any] = run.get_json(f"/api/v1/campaigns/{DEMO_CAMPAIGN}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # the server listens before the sample campaign is loaded
            return None
        raise
    statuses = stage_statuses(detail)
    located = statuses and all("Located" in s for s in statuses.values())
    return detail if detail["state"] == "done" and located else None


def submissions_in_db(var_dir: Path) -> list[tuple[str, int]]:
    """(stage name, status id) of every demo submission, oldest first, read from SQLite."""
    with sqlite3.connect(var_dir / "poms.sqlite") as conn:
        rows = conn.execute(
            "SELECT cs.name, s.status_id FROM submissions s"
            " JOIN campaign_stages cs ON cs.campaign_stage_id = s.campaign_stage_id"
            " ORDER BY s.submission_id"
        ).fetchall()
    return [(name, status) for name, status in rows]


def assert_reports_each_stage_then_done(output: str) -> None:
    for stage in STAGES:
        assert any(
            line.split()[:1] == [stage] and "Located" in line for line in output.splitlines()
        ), f"no Located status line for {stage}:\n{output}"
    assert f"campaign {DEMO_CAMPAIGN} is done" in output, output


def assert_nothing_left_running(var_dir: Path) -> None:
    """No process (job, launch script, server) of the run outlives it; a short grace period."""
    deadline = time.monotonic() + 10
    while (pids := processes_mentioning(var_dir)) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert pids == [], f"still running:\n{describe(pids)}"


# ---- tests -------------------------------------------------------------------------------


def test_exit_when_done_runs_the_demo_to_completion_and_reports_each_stage(
    runs: Callable[..., PomsRun], var_dir: Path
) -> None:
    first = runs("--exit-when-done")
    assert first.wait(RUN_TIMEOUT) == 0, first.output
    output = first.output
    assert f"sample campaign {DEMO_CAMPAIGN} loaded" in output
    assert "leading stage generate" in output
    assert_reports_each_stage_then_done(output)
    assert "stopping" in output
    assert nothing_listens_on(first.port)
    assert_nothing_left_running(var_dir)
    located = SubmissionStatus.LOCATED.value
    assert submissions_in_db(var_dir) == [(stage, located) for stage in STAGES]
    assert (var_dir / "demo-data" / "reconstruct").is_dir()

    # The results survive a restart, and the server shows them without launching anything.
    server = runs("--no-demo")
    server.wait_for_web()
    detail = server.get_json(f"/api/v1/campaigns/{DEMO_CAMPAIGN}")
    assert detail["state"] == "done"
    assert stage_statuses(detail) == {stage: ["Located"] for stage in STAGES}
    page = server.get("/").decode()
    assert DEMO_CAMPAIGN in page and page.count(">Located</span>") == 3
    assert server.get_json("/healthz")["status"] == "ok"
    assert server.interrupt() == 0, server.output
    assert "sample campaign" not in server.output
    assert submissions_in_db(var_dir) == [(stage, located) for stage in STAGES]


def test_ctrl_c_stops_cleanly_once_the_demo_is_done(
    runs: Callable[..., PomsRun], var_dir: Path
) -> None:
    run = runs()
    run.wait_for_web()
    detail = wait_for(lambda: demo_done(run), RUN_TIMEOUT, "the demo campaign to be done")
    assert detail["leading_stages"] == ["generate"]
    page = run.get("/").decode()
    assert "Located" in page and 'http-equiv="refresh"' in page
    # Still serving after the demo: it only stops when asked.
    assert run.proc.poll() is None
    assert run.interrupt() == 0, run.output
    assert "stopping" in run.output
    assert_reports_each_stage_then_done(run.output)
    assert nothing_listens_on(run.port)
    assert_nothing_left_running(var_dir)


def test_a_second_run_on_the_same_data_launches_the_campaign_again(
    runs: Callable[..., PomsRun], var_dir: Path
) -> None:
    first = runs("--exit-when-done")
    assert first.wait(RUN_TIMEOUT) == 0, first.output
    second = runs("--exit-when-done")
    assert second.wait(RUN_TIMEOUT) == 0, second.output
    output = second.output
    assert f"sample campaign {DEMO_CAMPAIGN} already present" in output
    assert_reports_each_stage_then_done(output)
    # A new submission per stage, all Located: not just the first run's results again.
    located = SubmissionStatus.LOCATED.value
    assert submissions_in_db(var_dir) == [(stage, located) for stage in STAGES] * 2
    assert_nothing_left_running(var_dir)
