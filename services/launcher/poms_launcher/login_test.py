"""Login-setup test launches: run the login setup on its host, print the environment (§6.14).

There is no stage and no submission: the dataset is ``fake_test_dataset``, the "launch
command" prints the environment and a success line, and the whole output goes to
``logs/launches/template_tests_<login setup id>/<name>``. The log's last line says how it
ended, so readers need nothing but the file.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from poms_launcher.domain.compose import (
    CompositionError,
    poms_test_value,
    substitute,
    substitution_values,
)
from poms_launcher.domain.script import ScriptParts, remote_script
from poms_launcher.handlers import CONSUMER
from poms_launcher.plan import runner_for, server_host
from poms_launcher.pool import LaunchPool
from poms_shared.contracts import Envelope
from poms_shared.contracts.messages import TestLoginSetup
from poms_shared.db.messaging import claim_inbox
from poms_shared.db.models import LoginSetup
from poms_shared.db.session import Database
from poms_shared.domain.login_tests import SUCCESS_LINE, finished_line, log_path, valid_log_name
from poms_shared.settings import Settings

log = logging.getLogger(__name__)
TEST_DATASET = "fake_test_dataset"
# the login setup's own exit status decides, so a setup that fails is a failed test
SETUP_STATUS = "POMS_SETUP_RC=$?"
SHOW_ENVIRONMENT = (
    'env | sort; if [ "$POMS_SETUP_RC" = 0 ]; then echo "' + SUCCESS_LINE + '"; '
    'else echo "the login setup exited with status $POMS_SETUP_RC"; '
    '(exit "$POMS_SETUP_RC"); fi'
)


@dataclass(frozen=True)
class _Plan:
    script: str
    host: str
    account: str


@dataclass
class LoginSetupTester:
    db: Database
    settings: Settings
    pool: LaunchPool
    after_commit: Callable[[], None]

    def on_test(self, envelope: Envelope) -> None:
        cmd = envelope.payload
        assert isinstance(cmd, TestLoginSetup)
        if not valid_log_name(cmd.log_name):
            log.warning("login setup test with a bad log name %r ignored", cmd.log_name)
            return
        path = log_path(self.settings.log_dir, cmd.login_setup_id, cmd.log_name)
        with self.db.transaction() as session:
            if not claim_inbox(session, CONSUMER, envelope.message_id):
                return
            row = session.get(LoginSetup, cmd.login_setup_id)
            plan = None if row is None else _plan(row, cmd.actor)
        self.after_commit()
        if isinstance(plan, _Plan):
            self.pool.submit(partial(self._run, plan, path))
        else:
            reason = plan or f"login setup {cmd.login_setup_id} does not exist"
            _write(path, f"login setup test not run: {reason}\n{finished_line(1)}\n")

    def _run(self, plan: _Plan, path: Path) -> None:
        runner = runner_for(plan.host, plan.account, self.settings)
        result = runner.run(plan.script, path, self.settings.launch_timeout)
        _write(path, f"{finished_line(result.returncode)}\n", append=True)
        log.info("login setup test %s finished with status %s", path, result.returncode)


def _plan(row: LoginSetup, actor: str) -> _Plan | str:
    """The test script, or why it cannot be composed."""
    values = substitution_values(
        dataset=TEST_DATASET, version="", experiment=row.experiment, launcher=actor, keywords={}
    )
    try:
        setup = substitute(row.launch_setup or "", values, "login setup")
        host = substitute(row.launch_host, values, "login setup host")
        account = substitute(row.launch_account, values, "login setup account")
    except CompositionError as exc:
        return str(exc)
    exports = {
        "POMS_LAUNCHER": actor,
        "POMS4_EXPERIMENT": row.experiment,
        "JOBSUB_GROUP": values["group"],
        "POMS_TEST": poms_test_value(server_host()),
    }
    parts = ScriptParts(
        command=SHOW_ENVIRONMENT,
        login_setup=f"{setup}\n{SETUP_STATUS}" if setup.strip() else "POMS_SETUP_RC=0",
        exports=exports,
        wrappers_dir=str(Path(sys.executable).parent),
        group=values["group"],
    )
    return _Plan(remote_script(parts), host, account)


def _write(path: Path, text: str, append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a" if append else "w") as handle:
        handle.write(text)
