"""What the jobsub wrapper and ``poms-run-script`` tell POMS, through the compatibility
methods the original client used: ``get_submission_id_for`` (answer ``Task=<id>``) and
``update_submission`` (answer ``Ok.``).

POMS being down or refusing never stops the user's work: each call returns None/False
after printing a warning on standard error, and the caller carries on.
"""

from __future__ import annotations

import getpass
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from poms_shared.cli.client import ApiError, Client, Unreachable
from poms_shared.cli.config import ConfigError, load_config

DEFAULT_TIMEOUT = 30.0
TASK_ANSWER = re.compile(r"^\s*Task=(\d+)\s*$")


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


@dataclass(frozen=True)
class LaunchEnv:
    """What a POMS launch (or a person launching by hand) put in the environment (§6.9)."""

    stage_id: str | None = None
    submission_id: str | None = None
    parent_id: str | None = None
    test: str | None = None
    launcher: str | None = None
    campaign_name: str | None = None
    tags: tuple[str, ...] = ()
    group: str | None = None
    experiment: str | None = None
    extra: tuple[str, ...] = ()
    poms4: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, env: Mapping[str, str]) -> LaunchEnv:
        group = _first(env, "GROUP", "JOBSUB_GROUP")
        tags = tuple(t.strip() for t in env.get("POMS_CAMPAIGN_TAGS", "").split(",") if t.strip())
        return cls(
            stage_id=_first(env, "POMS4_CAMPAIGN_STAGE_ID", "POMS_CAMPAIGN_ID"),
            submission_id=_first(env, "POMS_TASK_ID", "POMS4_SUBMISSION_ID"),
            parent_id=_first(env, "POMS_PARENT_TASK_ID"),
            test=_first(env, "POMS_TEST"),
            launcher=_first(env, "POMS_LAUNCHER"),
            campaign_name=_first(env, "POMS_CAMPAIGN_NAME"),
            tags=tags,
            group=group,
            experiment=_first(env, "POMS4_EXPERIMENT", "POMS_EXPERIMENT") or group,
            extra=tuple(shlex.split(env.get("POMS_JOBSUB_EXTRA", ""))),
            poms4={k: v for k, v in env.items() if k.startswith("POMS4_") and v.strip()},
        )

    def user(self, env: Mapping[str, str]) -> str:
        """Who launched: the POMS launcher, else whoever runs this."""
        if self.launcher:
            return self.launcher
        try:
            return env.get("USER") or getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


def client_from_env(env: Mapping[str, str]) -> Client:
    """A client for ``POMS_URL`` with ``POMS_TOKEN`` / ``POMS_TOKEN_FILE`` (or the
    ``poms`` config file); the timeout from ``POMS_WRAPPER_TIMEOUT`` (seconds)."""
    config = load_config(env)
    try:
        timeout = float(env.get("POMS_WRAPPER_TIMEOUT") or DEFAULT_TIMEOUT)
    except ValueError:
        timeout = DEFAULT_TIMEOUT
    return Client(config.url, config.token, role=config.role, timeout=timeout)


class Reporter:
    """Registers submissions and reports their batch id and status; warns, never raises."""

    def __init__(self, client: Client | None, prog: str, err: TextIO | None = None) -> None:
        self.client = client
        self.prog = prog
        self.err = err or sys.stderr

    @classmethod
    def from_env(cls, env: Mapping[str, str], prog: str, err: TextIO | None = None) -> Reporter:
        reporter = cls(None, prog, err)
        try:
            reporter.client = client_from_env(env)
        except ConfigError as exc:
            reporter.warn(f"cannot talk to POMS: {exc}")
        return reporter

    def warn(self, message: str) -> None:
        print(f"{self.prog}: warning: {message}", file=self.err, flush=True)

    def register(
        self, launch: LaunchEnv, command: str, user: str, dataset: str | None = None
    ) -> str | None:
        """The submission id POMS gives this command (a new one unless ``launch`` has one)."""
        if not launch.stage_id and not launch.submission_id:
            self.warn(
                "POMS_CAMPAIGN_ID (the stage id) is not set, so POMS will not track this "
                "submission; export POMS_CAMPAIGN_ID=<stage id> to have it tracked"
            )
            return None
        fields = {
            "campaign_stage_id": launch.stage_id,
            "command_executed": command,
            "input_dataset": dataset,
            "parent_submission_id": launch.parent_id,
            "submission_id": launch.submission_id,
            "user": user,
            "test": launch.test,
            "experiment": launch.experiment,
        }
        answer = self._call("get_submission_id_for", fields)
        if answer is None:
            return launch.submission_id
        found = TASK_ANSWER.match(answer)
        if found is None:
            self.warn(f"POMS answered {answer[:120]!r} instead of Task=<id>")
            return launch.submission_id
        return found.group(1)

    def update(self, submission_id: str, batch_job_id: str | None, status: str) -> bool:
        """``update_submission``: the batch id and status of a submission; True on ``Ok.``."""
        fields = {"submission_id": submission_id, "jobsub_job_id": batch_job_id, "status": status}
        answer = self._call("update_submission", fields)
        if answer is None:
            return False
        if answer.strip() != "Ok.":
            said = answer[:120]
            self.warn(f"POMS did not take {status} for submission {submission_id}: {said!r}")
            return False
        return True

    def _call(self, method: str, fields: Mapping[str, str | None]) -> str | None:
        if self.client is None:
            return None
        try:
            return self.client.form(method, fields)
        except Unreachable as exc:
            self.warn(f"{exc}; going on without POMS")
        except ApiError as exc:
            self.warn(f"POMS refused {method} (HTTP {exc.status}): {exc.message}")
        return None


def child_env(
    env: Mapping[str, str], launch: LaunchEnv, submission_id: str | None
) -> dict[str, str]:
    """The environment of the real command: the submission id exported under both names."""
    out = dict(env)
    if submission_id:
        out["POMS_TASK_ID"] = submission_id
        if not out.get("POMS4_SUBMISSION_ID", "").strip():
            out["POMS4_SUBMISSION_ID"] = submission_id
    if launch.stage_id:
        out["POMS_CAMPAIGN_ID"] = launch.stage_id
    return out


def exit_status(returncode: int) -> int:
    """A child's return code as a shell would report it (signals as 128 + n)."""
    return 128 - returncode if returncode < 0 else returncode
