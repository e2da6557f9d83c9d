"""Job control (kill, cancel, hold, release through the batch backend) and launch aborts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from poms_launcher.adapters import repository as repo
from poms_launcher.adapters.backends import BackendRegistry
from poms_launcher.adapters.runner import LaunchRunner
from poms_launcher.domain.script import SshTarget, running_process_id
from poms_launcher.handlers import CONSUMER, mark, now
from poms_shared.batch.port import BatchBackend, BatchError
from poms_shared.contracts import Envelope
from poms_shared.contracts.messages import AbortLaunch, JobControl, JobControlApplied, LaunchFailed
from poms_shared.db.messaging import UnitOfWork, claim_inbox
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.metrics import LAUNCHES
from poms_shared.settings import Settings

log = logging.getLogger(__name__)
Outcome = tuple[int, bool, str]


def _batch_id(submission: Submission | None) -> str | None:
    return None if submission is None else submission.batch_id


def _launching(submission: Submission | None) -> bool:
    """Accepted for launch and not yet recorded: its jobs may exist before its batch id."""
    params = {} if submission is None else submission.submission_params
    return "launch_accepted" in params and "launch_finished" not in params


def apply_action(backend: BatchBackend, action: str, batch_id: str) -> int:
    """Cancel is a kill as far as the batch system is concerned (§8.3)."""
    if action in ("kill", "cancel"):
        return backend.kill(batch_id)
    if action == "hold":
        return backend.hold(batch_id)
    if action == "release":
        return backend.release(batch_id)
    raise ValueError(f"unknown job control action {action!r}")


@dataclass
class Controller:
    """The job-control and abort side of the launcher service."""

    db: Database
    settings: Settings
    backends: BackendRegistry
    after_commit: Callable[[], None]
    # How long a job-control request waits for a launch in progress to record its batch id
    # (the jobs can be running, and reported, before the launch command has finished).
    launch_wait: float = 60.0

    def on_job_control(self, envelope: Envelope) -> None:
        """Apply the action to each submission's jobs; report each outcome once."""
        cmd = envelope.payload
        assert isinstance(cmd, JobControl)
        batch_ids = self._batch_ids(cmd.submission_ids)
        outcomes = [self._apply(sid, batch_ids[sid], cmd.action) for sid in cmd.submission_ids]
        with self.db.transaction() as session:
            if not claim_inbox(session, CONSUMER, envelope.message_id):
                return  # applied before (a batch system shrugs off a second kill)
            uow = UnitOfWork(session, cause=envelope)
            for sid, ok, detail in outcomes:
                uow.emit(
                    JobControlApplied(submission_id=sid, action=cmd.action, ok=ok, detail=detail)
                )
        self.after_commit()

    def _batch_ids(self, sids: list[int]) -> dict[int, str | None]:
        """Each submission's batch id, waiting (up to ``launch_wait``) for launches still
        being recorded; a launch that ends without one leaves None."""
        deadline = time.monotonic() + self.launch_wait
        logged = False
        while True:
            with self.db.transaction() as session:
                rows = {sid: session.get(Submission, sid) for sid in sids}
                found = {sid: _batch_id(row) for sid, row in rows.items()}
                waiting = [sid for sid, row in rows.items() if not found[sid] and _launching(row)]
            if not waiting or time.monotonic() >= deadline:
                return found
            if not logged:
                log.info("job control waits for the launch of submission(s) %s", waiting)
                logged = True
            time.sleep(0.2)

    def _apply(self, sid: int, batch_id: str | None, action: str) -> Outcome:
        if not batch_id:
            return sid, False, f"submission {sid} has no batch jobs"
        try:
            count = apply_action(self.backends.for_batch_id(batch_id), action, batch_id)
        except BatchError as exc:
            return sid, False, str(exc)
        except Exception as exc:  # any batch-system failure is an outcome, never a crash
            log.warning("%s of %s failed", action, batch_id, exc_info=True)
            return sid, False, f"{type(exc).__name__}: {exc}"
        return sid, True, f"{action}: {count} job(s) of {batch_id}"

    def on_abort(self, envelope: Envelope) -> None:
        """Kill a running launch's process group and report it failed, once."""
        cmd = envelope.payload
        assert isinstance(cmd, AbortLaunch)
        with self.db.transaction() as session:
            if not claim_inbox(session, CONSUMER, envelope.message_id):
                return
            submission = repo.lock_submission(session, cmd.submission_id)
            params = submission.submission_params
            if "launch_accepted" not in params or "launch_finished" in params:
                log.info("submission %s: no launch to abort", cmd.submission_id)
                return
            detail = "before it started"
            if "launch_started" in params:
                killed = self._kill(submission)
                if killed is None:
                    log.warning("submission %s: unable to abort launch", cmd.submission_id)
                    return
                detail = killed
            note = f"\n== launch aborted by {cmd.actor}: {detail} ==\n"
            if submission.launch_log:
                with open(submission.launch_log, "a") as out:
                    out.write(note)
            mark(submission, launch_aborted=cmd.actor, launch_finished=now())
            UnitOfWork(session, cause=envelope).emit(
                LaunchFailed(
                    submission_id=cmd.submission_id,
                    reason=f"aborted by {cmd.actor}",
                    log_path=submission.launch_log,
                )
            )
            LAUNCHES.labels("failed").inc()
        self.after_commit()

    def _kill(self, submission: Submission) -> str | None:
        """Kill where the launch runs; None when its log shows no running launch."""
        path = Path(submission.launch_log or "")
        text = path.read_text(errors="replace") if path.is_file() else ""
        pid = running_process_id(text)
        if pid is None:
            return None
        where = submission.submission_params.get("launch_target") or {}
        target = None
        if where.get("host"):
            s = self.settings
            target = SshTarget(
                where["account"], where["host"], s.ssh_port, s.ssh_key, s.ssh_options
            )
        return LaunchRunner(target).abort(pid)
