"""Turns a submission's launch context and the settings into a runnable launch."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from poms_launcher.adapters import repository as repo
from poms_launcher.adapters.runner import LaunchRunner
from poms_launcher.domain.compose import (
    compose_command,
    launch_environment,
    substitute,
    substitution_values,
)
from poms_launcher.domain.script import (
    ScriptParts,
    SshTarget,
    is_local_host,
    remote_script,
    shell_line,
)
from poms_shared.settings import Settings


@dataclass(frozen=True)
class Prepared:
    """A composed launch: the script, where it runs, and where its output goes."""

    script: str
    runner: LaunchRunner
    log_path: Path
    command: str

    @property
    def command_line(self) -> str:
        """The whole launch as one line to paste into a shell (show commands)."""
        return shell_line(self.runner.argv(self.script))


@cache
def server_host() -> str:
    """This POMS server's name (looked up once: it may take a DNS round trip)."""
    return socket.getfqdn()


def runner_for(host: str, account: str, settings: Settings) -> LaunchRunner:
    """This machine for local hosts, otherwise ssh as the login setup's account."""
    if is_local_host(host, settings.local_hosts):
        return LaunchRunner()
    target = SshTarget(
        account=account,
        host=host,
        port=settings.ssh_port,
        key=settings.ssh_key,
        options=settings.ssh_options,
    )
    return LaunchRunner(target)


def compose_launch(
    ctx: repo.LaunchContext, settings: Settings, log_path: Path, *, commands_only: bool = False
) -> Prepared:
    """Substitute everything and assemble the launch script (CompositionError if it can't)."""
    values = substitution_values(
        dataset=ctx.dataset,
        version=ctx.version,
        experiment=ctx.identity.experiment,
        launcher=ctx.identity.launcher,
        keywords=ctx.spec.keywords,
    )
    command = compose_command(ctx.spec, values)
    setup = substitute(ctx.login_setup, values, "login setup")
    host = substitute(ctx.login_host, values, "login setup host")
    account = substitute(ctx.login_account, values, "login setup account")
    exports = launch_environment(ctx.identity, server_host=server_host())
    exports["POMS_BATCH_DIR"] = str(settings.batch_dir)
    exports["POMS_VAR_DIR"] = str(settings.var_dir)
    exports["POMS_WEB_URL"] = settings.web_url
    if ctx.input_files:
        listing = log_path.with_suffix(".files")
        exports["POMS_DATASET_FILE_LIST"] = str(repo.write_file_list(listing, ctx.input_files))
    group = exports.pop("GROUP")
    parts = ScriptParts(
        command=command,
        login_setup=setup,
        exports=exports,
        wrappers_dir=str(Path(sys.executable).parent),
        group=group,
        commands_only=commands_only,
    )
    return Prepared(
        script=remote_script(parts),
        runner=runner_for(host, account, settings),
        log_path=log_path,
        command=command,
    )
