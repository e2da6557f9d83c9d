"""Launches: accept (one transaction) → start (another) → run (none) → record (another).

Why the message may be acknowledged as soon as the accept transaction commits, while the
launch itself runs later on a pool thread, and a launch still runs at most once and is
always reported:

* accept claims the message in the inbox and marks the submission ``launch_accepted`` in
  the same transaction, so a redelivered message, or a second LaunchSubmission for the
  same submission, never queues the launch again (composition waits for a pool thread,
  which keeps the consumer quick);
* a pool thread first marks ``launch_started`` under the submission's row lock and runs
  only if nobody did before; record marks ``launch_finished`` and emits the outcome once;
* when the launcher starts it looks at New submissions it accepted but never finished:
  accepted but not started (the process stopped while they waited for a thread) are
  queued again; started by this launcher (``POMS_LAUNCHER_ID``, the host name unless set)
  but not finished are reported as LaunchFailed "interrupted", since a launch is never run
  twice. Other launchers report their own, so replicas sharing a host need distinct ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_launcher.adapters import repository as repo
from poms_launcher.adapters.runner import RunResult
from poms_launcher.domain.compose import CompositionError, find_batch_ids
from poms_launcher.plan import Prepared, compose_launch
from poms_launcher.pool import LaunchPool
from poms_shared.contracts import Envelope
from poms_shared.contracts.messages import LaunchFailed, LaunchSubmission, SubmissionLaunched
from poms_shared.db.messaging import UnitOfWork, claim_inbox
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.metrics import LAUNCHES
from poms_shared.settings import Settings

log = logging.getLogger(__name__)
CONSUMER = "launcher"
INTERRUPTED = "launch interrupted (launcher restarted); see the launch log"


def now() -> str:
    return datetime.now(UTC).isoformat()


def mark(submission: Submission, **values: Any) -> None:
    """Add keys to ``submission_params`` (a new dict, so the change is saved)."""
    submission.submission_params = {**submission.submission_params, **values}


def log_path_for(settings: Settings, stage_id: int, launcher: str, sid: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    return settings.log_dir / "launches" / f"campaign_{stage_id}" / f"{stamp}_{launcher}_{sid}"


@dataclass
class Launcher:
    """The launch side of the launcher service."""

    db: Database
    settings: Settings
    pool: LaunchPool
    after_commit: Callable[[], None]

    def on_launch(self, envelope: Envelope) -> None:
        cmd = envelope.payload
        assert isinstance(cmd, LaunchSubmission)
        accepted = self._accept(envelope, cmd)
        self.after_commit()
        if accepted:
            self.pool.submit(partial(self.execute, envelope, cmd.submission_id))

    def execute(self, cause: Envelope | None, sid: int) -> None:
        """Compose and start (once), run, record. Runs on a pool thread."""
        prepared = self._start(cause, sid)
        self.after_commit()
        if prepared is None:
            return
        result = prepared.runner.run(
            prepared.script,
            prepared.log_path,
            self.settings.launch_timeout,
            prepared.stage_files,
        )
        self._record(cause, sid, prepared, result)
        self.after_commit()

    def recover(self) -> None:
        """Queue accepted launches again; report started ones this host never finished."""
        requeue: list[int] = []
        with self.db.transaction() as session:
            uow = UnitOfWork(session)
            for sid in _unfinished(session):
                submission = repo.lock_submission(session, sid)
                params = submission.submission_params
                if "launch_started" not in params:
                    requeue.append(sid)
                elif params.get("launcher_id") == self.settings.launcher_id:
                    mark(submission, launch_finished=now())
                    uow.emit(
                        LaunchFailed(
                            submission_id=sid, reason=INTERRUPTED, log_path=submission.launch_log
                        )
                    )
                    LAUNCHES.labels("failed").inc()
        self.after_commit()
        for sid in requeue:
            self.pool.submit(partial(self.execute, None, sid))

    def _accept(self, envelope: Envelope, cmd: LaunchSubmission) -> bool:
        """Kept short (the consumer waits for it): claim the message, mark the submission."""
        sid = cmd.submission_id
        with self.db.transaction() as session:
            if not claim_inbox(session, CONSUMER, envelope.message_id):
                return False
            submission = repo.lock_submission(session, sid)
            if "launch_accepted" in submission.submission_params:
                log.info("submission %s: launch already accepted; not launching again", sid)
                return False
            if cmd.commands_only:
                path = self._log_path(submission)
                uow = UnitOfWork(session, cause=envelope)
                self._compose(session, uow, submission, path, commands_only=True)
                return False
            mark(submission, launch_accepted=now())
            submission.launch_log = str(self._log_path(submission))
            return True

    def _log_path(self, submission: Submission) -> Path:
        if submission.launch_log:
            return Path(submission.launch_log)
        return log_path_for(
            self.settings,
            submission.campaign_stage_id,
            submission.launcher,
            submission.submission_id,
        )

    def _compose(
        self,
        session: Session,
        uow: UnitOfWork,
        submission: Submission,
        path: Path,
        commands_only: bool = False,
    ) -> Prepared | None:
        """Compose, store the command (and in show-commands mode the whole launch)."""
        try:
            ctx = repo.launch_context(session, submission)
            prepared = compose_launch(ctx, self.settings, path, commands_only=commands_only)
        except CompositionError as exc:
            mark(submission, launch_accepted=now(), launch_finished=now())
            uow.emit(LaunchFailed(submission_id=submission.submission_id, reason=str(exc)))
            LAUNCHES.labels("failed").inc()
            return None
        submission.command_executed = prepared.command
        target = prepared.runner.target
        where = {"host": target.host, "account": target.account} if target else {}
        mark(submission, launch_target=where)
        if commands_only:
            # show commands: nothing runs; the submission stays New (its expiry is elsewhere)
            commands = {"script": prepared.script, "command_line": prepared.command_line}
            mark(submission, commands=commands)
        return prepared

    def _start(self, cause: Envelope | None, sid: int) -> Prepared | None:
        with self.db.transaction() as session:
            submission = repo.lock_submission(session, sid)
            params = submission.submission_params
            if "launch_started" in params or "launch_finished" in params:
                return None
            uow = UnitOfWork(session, cause=cause)
            prepared = self._compose(session, uow, submission, self._log_path(submission))
            if prepared is not None:
                mark(submission, launch_started=now(), launcher_id=self.settings.launcher_id)
            return prepared

    def _record(
        self, cause: Envelope | None, sid: int, prepared: Prepared, result: RunResult
    ) -> None:
        batch_ids = find_batch_ids(result.output)
        with self.db.transaction() as session:
            uow = UnitOfWork(session, cause=cause)
            submission = repo.lock_submission(session, sid)
            if "launch_finished" in submission.submission_params:
                return  # aborted: that was reported when it happened
            mark(submission, launch_finished=now())
            if result.returncode == 0 and batch_ids:
                submission.batch_id = batch_ids[0]
                submission.batch_backend = batch_ids[0].rsplit("@", 1)[-1]
                uow.emit(
                    SubmissionLaunched(
                        submission_id=sid,
                        batch_id=batch_ids[0],
                        backend=submission.batch_backend,
                        command=prepared.command,
                        log_path=str(prepared.log_path),
                    )
                )
                LAUNCHES.labels("launched").inc()
                return
            reason = failure_reason(result)
            uow.emit(
                LaunchFailed(submission_id=sid, reason=reason, log_path=str(prepared.log_path))
            )
            LAUNCHES.labels("failed").inc()
            log.warning("submission %s: %s", sid, reason)


def failure_reason(result: RunResult) -> str:
    if result.timed_out:
        return "launch timed out"
    if result.returncode:
        return f"launch command exited with status {result.returncode}"
    return "launch command submitted no batch jobs"


def _unfinished(session: Session) -> list[int]:
    """New submissions this service accepted and has not reported on."""
    rows = session.execute(
        select(Submission.submission_id, Submission.submission_params).where(
            Submission.status_id == int(SubmissionStatus.NEW),
            Submission.launch_log.is_not(None),
        )
    )
    return [
        sid
        for sid, params in rows
        if "launch_accepted" in (params or {}) and "launch_finished" not in (params or {})
    ]
