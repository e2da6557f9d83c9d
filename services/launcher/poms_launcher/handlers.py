"""Launcher handler: prepare (one transaction) → run (no transaction) → record (another)."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from poms_launcher.adapters import repository as repo
from poms_launcher.adapters.runner import LocalRunner, RunResult
from poms_launcher.domain.compose import (
    CompositionError,
    compose_command,
    find_batch_ids,
    launch_environment,
    substitute,
    substitution_values,
)
from poms_shared.contracts import Envelope
from poms_shared.contracts.messages import LaunchFailed, LaunchSubmission, SubmissionLaunched
from poms_shared.db.messaging import UnitOfWork, claim_inbox
from poms_shared.db.session import Database
from poms_shared.metrics import LAUNCHES
from poms_shared.settings import Settings

log = logging.getLogger(__name__)
CONSUMER = "launcher"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}


@dataclass(frozen=True)
class Prepared:
    """A launch ready to run, or None fields when it must not run."""

    script: str
    env: dict[str, str]
    log_path: Path
    command: str


def launch_submission(
    envelope: Envelope,
    *,
    db: Database,
    settings: Settings,
    runner: LocalRunner,
    after_commit: Callable[[], None],
) -> None:
    """Run one submission's launch exactly once, even if the message comes again."""
    cmd = envelope.payload
    assert isinstance(cmd, LaunchSubmission)
    prepared = _prepare(envelope, cmd.submission_id, db, settings)
    after_commit()
    if prepared is None:
        return
    result = runner.run(prepared.script, prepared.env, prepared.log_path, settings.launch_timeout)
    _record(envelope, cmd.submission_id, prepared, result, db)
    after_commit()


def _prepare(envelope: Envelope, sid: int, db: Database, settings: Settings) -> Prepared | None:
    with db.transaction() as session:
        uow = UnitOfWork(session, cause=envelope)
        submission = repo.lock_submission(session, sid)
        started = submission.submission_params.get("launch_started")
        if started is not None:
            # Launched (or launching) before: never run a launch twice. If the launcher
            # stopped mid-launch, say so once instead of leaving the submission New.
            if submission.batch_id is None and claim_inbox(session, CONSUMER, envelope.message_id):
                uow.emit(
                    LaunchFailed(
                        submission_id=sid,
                        log_path=submission.launch_log,
                        reason="launch interrupted (launcher restarted); see the launch log",
                    )
                )
            return None
        log_path = _log_path(settings, submission.campaign_stage_id, submission.launcher, sid)
        try:
            ctx = repo.launch_context(session, submission)
            prepared = _compose(ctx, settings, log_path)
        except CompositionError as exc:
            claim_inbox(session, CONSUMER, envelope.message_id)
            uow.emit(LaunchFailed(submission_id=sid, reason=str(exc)))
            LAUNCHES.labels("failed").inc()
            return None
        submission.submission_params = {
            **submission.submission_params,
            "launch_started": datetime.now(UTC).isoformat(),
        }
        submission.command_executed = prepared.command
        submission.launch_log = str(log_path)
        return prepared


def _compose(ctx: repo.LaunchContext, settings: Settings, log_path: Path) -> Prepared:
    if ctx.login_host not in LOCAL_HOSTS:
        raise CompositionError(
            f"login setup host {ctx.login_host!r} is not this machine; remote (ssh) launches "
            "are not available in this release"
        )
    values = substitution_values(
        dataset=ctx.dataset,
        version=ctx.version,
        experiment=ctx.identity.experiment,
        launcher=ctx.identity.launcher,
        keywords=ctx.spec.keywords,
    )
    command = compose_command(ctx.spec, values)
    setup = substitute(ctx.login_setup, values, "login setup")
    env = {**os.environ, **launch_environment(ctx.identity)}
    env["POMS_BATCH_DIR"] = str(settings.batch_dir)
    env["POMS_VAR_DIR"] = str(settings.var_dir)
    env["POMS_WEB_URL"] = settings.web_url
    if ctx.input_files:
        listing = log_path.with_suffix(".files")
        env["POMS_DATASET_FILE_LIST"] = str(repo.write_file_list(listing, ctx.input_files))
    # POMS's own submit commands go first on PATH after the user's setup, so they win.
    wrappers = str(Path(sys.executable).parent)
    script = "\n".join(
        [
            'echo "== process_id: $$ =="',
            setup,
            f'export PATH="{wrappers}:$PATH"',
            command,
            "rc=$?",
            'echo "== completed: $$ rc=$rc =="',
            "exit $rc",
        ]
    )
    return Prepared(script=script, env=env, log_path=log_path, command=command)


def _log_path(settings: Settings, stage_id: int, launcher: str, sid: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    return settings.log_dir / "launches" / f"campaign_{stage_id}" / f"{stamp}_{launcher}_{sid}"


def _record(
    envelope: Envelope,
    sid: int,
    prepared: Prepared,
    result: RunResult,
    db: Database,
) -> None:
    batch_ids = find_batch_ids(result.output)
    with db.transaction() as session:
        uow = UnitOfWork(session, cause=envelope)
        claim_inbox(session, CONSUMER, envelope.message_id)
        submission = repo.lock_submission(session, sid)
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
        reason = (
            "launch timed out"
            if result.timed_out
            else f"launch command exited with status {result.returncode}"
            if result.returncode
            else "launch command submitted no batch jobs"
        )
        uow.emit(LaunchFailed(submission_id=sid, reason=reason, log_path=str(prepared.log_path)))
        LAUNCHES.labels("failed").inc()
        log.warning("submission %s: %s", sid, reason)
