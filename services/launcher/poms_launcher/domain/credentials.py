"""Launch roles, credentials and launch-host rules (§6.2 steps 6–7, §6.6, §6.7, §6.16).

A stage's ``vo_role`` decides the launch role: ``analysis`` launches run in a fresh sandbox
of the user's uploaded files with the user's own proxy and vault token; ``production``
launches use the launch account's home and the experiment's managed production proxy.
Everything here is names and shell text; nothing touches the file system.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from poms_launcher.domain.compose import CompositionError
from poms_launcher.domain.script import double_quote

ANALYSIS = "analysis"
PRODUCTION = "production"
JOBSUB_LITE_BIN = "/opt/jobsub_lite/bin"
_TOKENOPTS_EXTRA = re.compile(r"^\s*TOKENOPTS_EXTRA\s*=\s*\[(.*)\]\s*$")


def launch_role(vo_role: str) -> str:
    """``analysis`` for an Analysis VO role, otherwise ``production`` (Calibration, …)."""
    return ANALYSIS if vo_role.strip().lower() == ANALYSIS else PRODUCTION


def uses_tokens(login_setup: str, launch_script: str) -> bool:
    """Token mode unless the launch relies on the legacy proxy-only ``jobsub_client``."""
    text = f"{login_setup}\n{launch_script}"
    return "jobsub_client" not in text or "jobsub_client v_lite" in text


def vault_token_name(role: str, experiment: str, user: str) -> str:
    if role == ANALYSIS:
        return f"vt_{experiment}_Analysis_{user}"
    return f"vt_{experiment}_production_{user}"


def analysis_proxy_name(experiment: str, user: str) -> str:
    return f"x509up_voms_{experiment}_Analysis_{user}"


def production_proxy_path(experiment: str) -> str:
    """Where the experiment's managed production proxy lives on its launch hosts."""
    return f"/opt/{experiment}pro/{experiment}pro.Production.proxy"


def tokenopts_extra(login_setup: str) -> tuple[str, ...]:
    """Options from a ``TOKENOPTS_EXTRA=[a,b]`` segment of the login setup, quotes stripped."""
    for segment in re.split(r"[;\n]", login_setup):
        match = _TOKENOPTS_EXTRA.match(segment)
        if match:
            items = (item.strip().strip("'\"").strip() for item in match.group(1).split(","))
            return tuple(item for item in items if item)
    return ()


def check_launch_host(role: str, host: str, experiment: str, analysis_hosts: Sequence[str]) -> None:
    """Analysis launches only on analysis launch hosts; production ones not on another
    experiment's analysis host. No rule applies when no analysis hosts are configured."""
    if not analysis_hosts:
        return
    known = {h.strip().lower() for h in analysis_hosts}
    name = host.strip().lower()
    if role == ANALYSIS:
        if name not in known:
            raise CompositionError(
                f"Not Authorized: {host} is not an analysis launch node for experiment "
                f"{experiment} (allowed: {', '.join(sorted(known))})"
            )
    elif name in known and experiment.lower() not in name and experiment != "samdev":
        raise CompositionError(f"Not Authorized: {host} is not a {experiment} experiment node")


@dataclass(frozen=True)
class Credentials:
    """The credential part of one launch, with paths as the launch host sees them."""

    role: str
    experiment: str
    group: str
    user: str
    launch_id: str  # unique per launch; names the private copies in /tmp
    proxy: str  # proxy path on the launch host ("" when there is none)
    tokens: bool = False  # token mode with a vault server configured
    vault_server: str = ""
    managed_tokens_server: str = ""
    vault_token: str = ""  # analysis: the uploaded vault token on the launch host
    extra_options: tuple[str, ...] = ()
    staged: tuple[str, ...] = ()  # files copied to a remote launch host for this launch

    @property
    def proxy_copy(self) -> str:
        return f"/tmp/proxy{self.launch_id}"

    @property
    def bearer_token(self) -> str:
        return f"/tmp/token{self.launch_id}"

    @property
    def vault_copy(self) -> str:
        return f"/tmp/vt_{self.launch_id}-{self.group}"

    def htgettoken_options(self) -> str:
        if self.role == ANALYSIS:
            opts = [
                f"-a {self.vault_server}",
                "-r default",
                f"-i {self.group}",
                f"--vaulttokeninfile={self.vault_token}",
                f"--credkey={self.user}",
            ]
        else:
            opts = [
                f"-a {self.vault_server}",
                f"-i {self.group}",
                "-r production",
                f"--credkey={self.experiment}pro/managedtokens/{self.managed_tokens_server}",
            ]
        return " ".join([*opts, *self.extra_options])

    def before_setup(self) -> list[str]:
        """A private read-only copy of the proxy, when there is one."""
        if not self.proxy:
            return []
        proxy, copy = double_quote(self.proxy), double_quote(self.proxy_copy)
        return [
            f"if [ -r {proxy} ]; then cp {proxy} {copy} && chmod 0400 {copy}"
            f" && export X509_USER_PROXY={copy}; fi"
        ]

    def after_setup(self) -> list[str]:
        """Bearer token from the vault (token mode); the analysis vault-storer settings."""
        lines: list[str] = []
        if self.tokens:
            if self.role == ANALYSIS:
                lines += [
                    f"export USER={double_quote(self.user)}",
                    f"export XDG_CACHE_HOME={double_quote('/tmp/' + self.user)}",
                ]
            lines += [
                f"export BEARER_TOKEN_FILE={double_quote(self.bearer_token)}",
                f"export HTGETTOKENOPTS={double_quote(self.htgettoken_options())}",
                f'export PATH="$PATH":{double_quote(JOBSUB_LITE_BIN)}',
                "htgettoken $HTGETTOKENOPTS",
            ]
        if self.role == ANALYSIS:
            lines.append(f"export CONDOR_VAULT_STORER_ID={double_quote(self.launch_id)}")
            if self.vault_token:
                token, copy = double_quote(self.vault_token), double_quote(self.vault_copy)
                lines.append(f"if [ -r {token} ]; then cp {token} {copy} && chmod 0400 {copy}; fi")
        return lines

    def cleanup(self) -> list[str]:
        """Remove every private copy this launch made, and the files staged for it."""
        paths = list(self.staged)
        if self.proxy:
            paths.append(self.proxy_copy)
        if self.tokens:
            paths.append(self.bearer_token)
        if self.role == ANALYSIS and self.vault_token:
            paths.append(self.vault_copy)
        return [f"rm -f {' '.join(double_quote(p) for p in paths)}"] if paths else []
