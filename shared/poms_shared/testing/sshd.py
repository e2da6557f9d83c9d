"""A private sshd on 127.0.0.1 for tests: throw-away host and user keys, a spare port.

Only the sshd this module starts is ever stopped. When no sshd can be had (not installed
and not installable) :class:`SshdUnavailable` says why, so tests can skip with the reason.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from poms_shared.testing.stack import free_port

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
INSTALL_TIMEOUT = 600.0


class SshdUnavailable(RuntimeError):
    """No sshd binary, or it would not start."""


@dataclass(frozen=True)
class SshServer:
    """How to reach the private sshd."""

    host: str
    port: int
    user: str
    key: Path
    known_hosts: Path

    @property
    def options(self) -> tuple[str, ...]:
        """Extra ssh options: a known-hosts file of its own, quiet logging."""
        return ("-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "LogLevel=ERROR")

    def argv(self, command: str) -> list[str]:
        """``ssh`` running ``command`` on this server as ``user``."""
        return [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            *self.options,
            "-p",
            str(self.port),
            "-i",
            str(self.key),
            f"{self.user}@{self.host}",
            command,
        ]


def _find_sshd() -> str | None:
    found = shutil.which("sshd")
    if found:
        return found
    return next((c for c in SSHD_CANDIDATES if os.access(c, os.X_OK)), None)


def _install() -> None:
    """``apt-get install openssh-server openssh-client`` when running as root on Debian."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "-qq", "openssh-server", "openssh-client"]
    # dpkg may be locked by another install for a while: wait for it, within the deadline
    argv[1:1] = ["-o", "DPkg::Lock::Timeout=300"]
    subprocess.run(argv, env=env, capture_output=True, timeout=INSTALL_TIMEOUT, check=False)


def sshd_binary() -> str:
    """The sshd executable, installing it if it is missing and we may."""
    found = _find_sshd()
    if found is None:
        try:
            _install()
        except (OSError, subprocess.SubprocessError) as exc:
            raise SshdUnavailable(f"installing openssh-server failed: {exc}") from exc
        found = _find_sshd()
    if found is None or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        raise SshdUnavailable("sshd, ssh or ssh-keygen is not installed")
    return found


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _config(work: Path, port: int) -> Path:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {work / 'host_key'}",
        f"AuthorizedKeysFile {work / 'user_key.pub'}",
        f"PidFile {work / 'sshd.pid'}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "Subsystem sftp internal-sftp",
        "StrictModes no",
        "LogLevel ERROR",
    ]
    path = work / "sshd_config"
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_ready(server: SshServer, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SshdUnavailable(f"sshd exited with status {proc.returncode}")
        done = subprocess.run(
            server.argv("true"), capture_output=True, text=True, timeout=15, check=False
        )
        if done.returncode == 0:
            return
        last = done.stderr.strip()
        time.sleep(0.2)
    raise SshdUnavailable(f"sshd did not accept logins within {timeout:.0f}s: {last}")


@contextmanager
def private_sshd(work: Path, timeout: float = 20.0) -> Iterator[SshServer]:
    """Run a private sshd for the duration of the block."""
    sshd = sshd_binary()
    work.mkdir(parents=True, exist_ok=True)
    _keygen(work / "host_key")
    _keygen(work / "user_key")
    try:
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise SshdUnavailable(f"cannot create /run/sshd: {exc}") from exc
    port = free_port()
    server = SshServer("127.0.0.1", port, getpass.getuser(), work / "user_key", work / "known")
    log = open(work / "sshd.log", "ab")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(_config(work, port))],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(server, proc, timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
