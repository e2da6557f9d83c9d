"""The launch script run on the login-setup host, and the ssh command that carries it (§6.7, §6.8).

Everything here is text and argv lists; nothing runs. The remote script is handed to the
host's shell as one argument: in an argv list it travels unquoted, and when it is shown as a
command line (show commands) it is one single-quoted word with every ``'`` written ``'"'"'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PROCESS_MARKER = re.compile(r"^== process_id: (\d+) ==$", re.MULTILINE)
SAFE_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
SSH_BASE_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new")


def single_quote(text: str) -> str:
    """One shell word: ``'`` becomes close quote, quoted quote, reopen (``'"'"'``)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def double_quote(text: str) -> str:
    """A double-quoted shell word whose ``\\``, ``"``, ``$`` and backquote stay literal."""
    escaped = re.sub(r'([\\"$`])', r"\\\1", text)
    return f'"{escaped}"'


def shell_line(argv: Sequence[str]) -> str:
    """An argv list as a command line a person can paste into a shell."""
    return " ".join(arg if SAFE_WORD.match(arg) else single_quote(arg) for arg in argv)


@dataclass(frozen=True)
class ScriptParts:
    """What the launch script is made of, already substituted."""

    command: str
    login_setup: str = ""
    exports: Mapping[str, str] = field(default_factory=dict)
    wrappers_dir: str = ""
    uploads: str = "$HOME"
    group: str = ""
    commands_only: bool = False
    before_setup: Sequence[str] = ()  # credentials POMS prepares before the login setup
    after_setup: Sequence[str] = ()  # tokens, which need what the login setup put on PATH
    cleanup: Sequence[str] = ()  # removes this launch's private copies


def _command_lines(parts: ScriptParts) -> list[str]:
    if parts.commands_only:
        return [
            'echo "run the following to launch the job:"',
            f"echo {single_quote(parts.command)}",
            "/bin/bash -i",
        ]
    return [parts.command]


def _uploads(uploads: str) -> str:
    # production launches use the account's home directory, expanded on the host
    return '"$HOME"' if uploads == "$HOME" else double_quote(uploads)


def remote_script(parts: ScriptParts) -> str:
    """POMS's setup, then the login setup, then POMS's wrappers first on PATH, then the command.

    The first line prints the shell's process id (the process group an abort kills) and the
    last one the completion marker; carriage returns are removed from the whole text.
    """
    lines = [
        'echo "== process_id: $$ =="',
        f"export UPLOADS={_uploads(parts.uploads)}",
        *parts.before_setup,
        parts.login_setup,
        "export _condor_SEC_CREDENTIAL_STORER=/bin/true",
        *parts.after_setup,
        *(f"export {name}={double_quote(value)}" for name, value in parts.exports.items()),
        f'export PATH={double_quote(parts.wrappers_dir)}:"$PATH"' if parts.wrappers_dir else "",
        f"export GROUP={double_quote(parts.group)}" if parts.group else "",
        *_command_lines(parts),
        "rc=$?",
        *parts.cleanup,
        'echo "== completed: $$ =="',
        "exit $rc",
    ]
    return "\n".join(line for line in lines if line).replace("\r", "")


@dataclass(frozen=True)
class SshTarget:
    """Where and how to reach a login-setup host over ssh."""

    account: str
    host: str
    port: int = 0
    key: str = ""
    options: tuple[str, ...] = ()

    @property
    def destination(self) -> str:
        return f"{self.account}@{self.host}" if self.account else self.host


def ssh_argv(target: SshTarget, script: str) -> list[str]:
    """``ssh`` running ``script`` on the target; the script is its last argument, verbatim."""
    argv = ["ssh", *SSH_BASE_OPTIONS, *target.options]
    if target.port:
        argv += ["-p", str(target.port)]
    if target.key:
        argv += ["-i", target.key]
    return [*argv, target.destination, script.replace("\r", "")]


def scp_argv(target: SshTarget, local_path: str, remote_path: str) -> list[str]:
    """``scp`` of one file to the target, with the same options as the launch's ssh."""
    argv = ["scp", "-q", *SSH_BASE_OPTIONS, *target.options]
    if target.port:
        argv += ["-P", str(target.port)]
    if target.key:
        argv += ["-i", target.key]
    return [*argv, local_path, f"{target.destination}:{remote_path}"]


def local_argv(script: str) -> list[str]:
    """The launch script run by bash on this machine."""
    return ["/bin/bash", "-c", script.replace("\r", "")]


def abort_script(process_id: int) -> str:
    """Kill the launch's whole process group (§6.10)."""
    return f"kill -9 -{int(process_id)}"


def is_local_host(host: str, local_hosts: Sequence[str]) -> bool:
    """Whether a login-setup host is this machine (launched without ssh)."""
    return host.strip().lower() in {h.strip().lower() for h in local_hosts}


def running_process_id(log_text: str) -> int | None:
    """The launch's process id if its log shows it started but not completed, else None."""
    match = PROCESS_MARKER.search(log_text)
    if match is None:
        return None
    pid = int(match.group(1))
    if f"== completed: {pid} ==" in log_text:
        return None
    return pid
