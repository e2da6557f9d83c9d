"""Settings from environment variables; the mode is chosen here, never by code edits."""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _number(name: str, default: str, kind: type[int] | type[float]) -> int | float:
    raw = _env(name, default)
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, not {raw!r}") from None


def _positive(name: str, default: str) -> float:
    value = float(_number(name, default, float))
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value:g}")
    return value


def _names(name: str, default: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in _env(name, default).split(",") if n.strip())
    return names or (default,)


@dataclass(frozen=True)
class Settings:
    """Everything a service needs to know about its surroundings."""

    mode: str = "embedded"
    var_dir: Path = field(default_factory=lambda: Path("var").resolve())
    database_url: str = ""
    bus: str = "memory"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    metrics_port: int = 0
    local_batch_slots: int = 4
    batch_backends: tuple[str, ...] = ("local",)
    poll_interval: float = 1.0
    launch_timeout: float = 600.0
    reservation_ttl: float = 7200.0  # unused "show commands" reservations fail after this
    new_timeout: float = 3600.0  # other submissions still New after this become LaunchFailed
    # Located this long with recoveries/dependents never handled: the event was lost; redo it
    located_follow_up: float = 600.0
    experiment: str = "demo"
    launch_concurrency: int = 4
    local_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    ssh_port: int = 0
    ssh_key: str = ""
    ssh_options: tuple[str, ...] = ()
    launcher_id: str = field(default_factory=socket.gethostname)
    analysis_launch_hosts: tuple[str, ...] = ()
    vault_server: str = ""
    managed_tokens_server: str = ""
    catalog: str = "local"
    recovery_max_files: int = 5000  # a bigger automatic recovery waits as a held launch
    launch_recoveries: bool = True
    sam_url: str = ""
    sam_timeout: float = 5.0
    sam_retries: int = 5
    sam_cert: str = ""
    sam_key: str = ""
    sso_header: str = "X-Shib-Userid"  # who the trusted proxy says the user is
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose sso_header is believed
    dev_user: str = "poms"  # LOCAL DEVELOPMENT LOGIN: requests without credentials act as this

    @property
    def web_url(self) -> str:
        """Base URL jobs and tools use to reach the web service."""
        return f"http://{self.web_host}:{self.web_port}"

    @property
    def batch_dir(self) -> Path:
        return self.var_dir / "batch" / "local"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "logs"

    @property
    def uploads_dir(self) -> Path:
        """Files users upload for their launches: ``<uploads_dir>/<experiment>/<user>/``."""
        return self.var_dir / "uploads"


def _optional_names(name: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in os.environ.get(name, "").split(",") if n.strip())


def _networks(name: str) -> tuple[str, ...]:
    """Addresses or CIDR networks, comma separated; ValueError naming a bad one."""
    found = _optional_names(name)
    for item in found:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not an IP address or network") from None
    return found


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _env(name, default)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _local_hosts() -> tuple[str, ...]:
    raw = os.environ.get("POMS_LOCAL_HOSTS", "").strip()
    if raw:
        return tuple(h.strip() for h in raw.split(",") if h.strip())
    return (*Settings.local_hosts, socket.gethostname(), socket.getfqdn())


def _ssh_options() -> tuple[str, ...]:
    try:
        return tuple(shlex.split(os.environ.get("POMS_SSH_OPTIONS", "")))
    except ValueError as exc:
        raise ValueError(f"POMS_SSH_OPTIONS is not a valid option list: {exc}") from None


def load_settings(**overrides: object) -> Settings:
    """Read POMS_* environment variables; keyword overrides win (used by tests)."""
    mode = _env("POMS_MODE", "embedded")
    if mode not in ("embedded", "distributed"):
        raise ValueError(f"POMS_MODE must be 'embedded' or 'distributed', not {mode!r}")
    var_dir = Path(_env("POMS_VAR_DIR", "var")).resolve()
    default_db = (
        f"sqlite:///{var_dir / 'poms.sqlite'}"
        if mode == "embedded"
        else "postgresql+psycopg2://postgres@127.0.0.1:5432/poms"
    )
    values: dict[str, object] = {
        "mode": mode,
        "var_dir": var_dir,
        "database_url": _env("POMS_DATABASE_URL", default_db),
        "bus": _env("POMS_BUS", "memory" if mode == "embedded" else "rabbitmq"),
        "amqp_url": _env("POMS_AMQP_URL", Settings.amqp_url),
        "web_host": _env("POMS_WEB_HOST", Settings.web_host),
        "web_port": _number("POMS_WEB_PORT", str(Settings.web_port), int),
        "metrics_port": _number("POMS_METRICS_PORT", "0", int),
        "local_batch_slots": _number("POMS_LOCAL_BATCH_SLOTS", "4", int),
        "batch_backends": _names("POMS_BATCH_BACKENDS", "local"),
        "poll_interval": _number("POMS_POLL_INTERVAL", "1.0", float),
        "launch_timeout": _number("POMS_LAUNCH_TIMEOUT", "600", float),
        "reservation_ttl": _number("POMS_RESERVATION_TTL", "7200", float),
        "new_timeout": _positive("POMS_NEW_TIMEOUT", "3600"),
        "located_follow_up": _positive("POMS_LOCATED_FOLLOW_UP", "600"),
        "experiment": _env("POMS_DEMO_EXPERIMENT", "demo"),
        "launch_concurrency": _number("POMS_LAUNCH_CONCURRENCY", "4", int),
        "local_hosts": _local_hosts(),
        "ssh_port": _number("POMS_SSH_PORT", "0", int),
        "ssh_key": _env("POMS_SSH_KEY", ""),
        "ssh_options": _ssh_options(),
        "launcher_id": _env("POMS_LAUNCHER_ID", socket.gethostname()),
        "analysis_launch_hosts": _optional_names("POMS_ANALYSIS_LAUNCH_HOSTS"),
        "vault_server": _env("POMS_VAULT_SERVER", ""),
        "managed_tokens_server": _env("POMS_MANAGED_TOKENS_SERVER", ""),
        "catalog": _choice("POMS_CATALOG", "local", ("local", "samweb")),
        "recovery_max_files": _number("POMS_RECOVERY_MAX_FILES", "5000", int),
        "launch_recoveries": _choice("POMS_LAUNCH_RECOVERIES", "on", ("on", "off")) == "on",
        "sam_url": _env("POMS_SAM_URL", ""),
        "sam_timeout": _number("POMS_SAM_TIMEOUT", "5", float),
        "sam_retries": _number("POMS_SAM_RETRIES", "5", int),
        "sam_cert": _env("POMS_SAM_CERT", ""),
        "sam_key": _env("POMS_SAM_KEY", ""),
        "sso_header": _env("POMS_SSO_HEADER", Settings.sso_header),
        "trusted_proxies": _networks("POMS_TRUSTED_PROXIES"),
        "dev_user": _env("POMS_DEV_USER", "poms" if mode == "embedded" else ""),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
