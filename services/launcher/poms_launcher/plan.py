"""Turns a submission's launch context and the settings into a runnable launch."""

from __future__ import annotations

import socket
import sys
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from poms_launcher.adapters import repository as repo
from poms_launcher.adapters import uploads
from poms_launcher.adapters.runner import LaunchRunner, StagedFile
from poms_launcher.domain.compose import (
    compose_command,
    launch_environment,
    substitute,
    substitution_values,
)
from poms_launcher.domain.credentials import (
    ANALYSIS,
    Credentials,
    analysis_proxy_name,
    check_launch_host,
    launch_role,
    production_proxy_path,
    tokenopts_extra,
    uses_tokens,
    vault_token_name,
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
    stage_files: tuple[StagedFile, ...] = ()

    @property
    def command_line(self) -> str:
        """The whole launch as one line to paste into a shell (show commands)."""
        steps = [shell_line(argv) for argv in self.runner.staging_argvs(self.stage_files)]
        return " && ".join([*steps, shell_line(self.runner.argv(self.script))])


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
    role = launch_role(ctx.vo_role)
    check_launch_host(role, host, ctx.identity.experiment, settings.analysis_launch_hosts)
    runner = runner_for(host, account, settings)
    exports = launch_environment(ctx.identity, server_host=server_host())
    exports["POMS_BATCH_DIR"] = str(settings.batch_dir)
    exports["POMS_VAR_DIR"] = str(settings.var_dir)
    exports["POMS_WEB_URL"] = settings.web_url
    if ctx.input_files:
        listing = log_path.with_suffix(".files")
        exports["POMS_DATASET_FILE_LIST"] = str(repo.write_file_list(listing, ctx.input_files))
    group = exports.pop("GROUP")
    creds, sandbox, staged = credentials_for(ctx, settings, group, local=runner.target is None)
    parts = ScriptParts(
        command=command,
        login_setup=setup,
        exports=exports,
        wrappers_dir=str(Path(sys.executable).parent),
        uploads=sandbox,
        group=group,
        commands_only=commands_only,
        before_setup=creds.before_setup(),
        after_setup=creds.after_setup(),
        cleanup=creds.cleanup(),
    )
    return Prepared(
        script=remote_script(parts),
        runner=runner,
        log_path=log_path,
        command=command,
        stage_files=staged,
    )


def credentials_for(
    ctx: repo.LaunchContext, settings: Settings, group: str, *, local: bool
) -> tuple[Credentials, str, tuple[StagedFile, ...]]:
    """The launch's credentials, its UPLOADS directory and the files a remote host needs.

    Analysis launches get a sandbox of the user's uploads, the user's uploaded proxy and
    (token mode) vault token, copied to the launch host's /tmp when it is remote.
    Production launches use ``$HOME`` and the experiment's managed proxy on the host.
    Token mode needs ``POMS_VAULT_SERVER``; without it no tokens are fetched.
    """
    experiment, user = ctx.identity.experiment, ctx.identity.launcher
    role = launch_role(ctx.vo_role)
    launch_id = uuid.uuid4().hex
    tokens = bool(settings.vault_server) and uses_tokens(ctx.login_setup, ctx.spec.launch_script)
    staged: list[StagedFile] = []

    def on_host(path: Path) -> str:
        if local:
            return str(path)
        remote = f"/tmp/{launch_id}_{path.name}"
        staged.append(StagedFile(str(path), remote))
        return remote

    proxy, vault, sandbox = production_proxy_path(experiment), "", "$HOME"
    if role == ANALYSIS:
        sandbox = str(uploads.make_sandbox(settings.uploads_dir, experiment, user))
        proxy_file = uploads.uploaded(
            settings.uploads_dir, experiment, user, analysis_proxy_name(experiment, user)
        )
        proxy = on_host(proxy_file) if proxy_file else ""
        name = vault_token_name(role, experiment, user)
        token = uploads.uploaded(settings.uploads_dir, experiment, user, name) or (
            uploads.uploaded(settings.uploads_dir, experiment, user, name.replace("_A", "_a", 1))
        )
        if tokens:
            expected = uploads.user_dir(settings.uploads_dir, experiment, user) / name
            token = uploads.require_fresh_vault_token(token, expected)
        vault = on_host(token) if token else ""
    creds = Credentials(
        role=role,
        experiment=experiment,
        group=group,
        user=user,
        launch_id=launch_id,
        proxy=proxy,
        tokens=tokens,
        vault_server=settings.vault_server,
        managed_tokens_server=settings.managed_tokens_server,
        vault_token=vault,
        extra_options=tokenopts_extra(ctx.login_setup),
        staged=tuple(f.remote for f in staged),
    )
    return creds, sandbox, tuple(staged)
