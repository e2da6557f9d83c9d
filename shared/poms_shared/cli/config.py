"""Where the ``poms`` command line sends its requests, and as whom.

Three layers, each overriding the one before: the config file
(``$POMS_CONFIG``, else ``$XDG_CONFIG_HOME/poms/config.toml``, else
``~/.config/poms/config.toml``; keys ``url``, ``token``, ``experiment``, ``role``), the
environment (``POMS_URL``, ``POMS_TOKEN`` or a file named by ``POMS_TOKEN_FILE``,
``POMS_EXPERIMENT``, ``POMS_ROLE``), then the command's options.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8080"
KEYS = ("url", "token", "experiment", "role")
ENV_NAMES = {key: f"POMS_{key.upper()}" for key in KEYS}


class ConfigError(Exception):
    """The config file, or a token file, cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Config:
    url: str = DEFAULT_URL
    token: str | None = None
    experiment: str | None = None
    role: str | None = None


def config_path(env: Mapping[str, str]) -> Path:
    """The config file to read (it need not exist)."""
    if env.get("POMS_CONFIG"):
        return Path(env["POMS_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "poms" / "config.toml"


def read_file(path: Path, *, required: bool = False) -> dict[str, str]:
    """The file's settings; {} when it does not exist (unless ``required``)."""
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist (named by POMS_CONFIG)")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})"
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(f'config file {path}: {key} must be a string, e.g. {key} = "..."')
    return {k: v.strip() for k, v in data.items() if v.strip()}


def token_from_file(name: str) -> str:
    path = Path(name).expanduser()
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {path} (POMS_TOKEN_FILE): {exc}") from None
    if not token:
        raise ConfigError(f"the token file {path} (POMS_TOKEN_FILE) is empty")
    return token


def from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The settings the environment gives (empty variables count as unset)."""
    found = {key: env[name].strip() for key, name in ENV_NAMES.items() if env.get(name, "").strip()}
    if "token" not in found and env.get("POMS_TOKEN_FILE", "").strip():
        found["token"] = token_from_file(env["POMS_TOKEN_FILE"].strip())
    return found


def load_config(
    env: Mapping[str, str] | None = None, options: Mapping[str, str | None] | None = None
) -> Config:
    """File, then environment, then ``options`` (None values do not override)."""
    env = os.environ if env is None else env
    path = config_path(env)
    merged: dict[str, str] = read_file(path, required=bool(env.get("POMS_CONFIG")))
    merged.update(from_env(env))
    merged.update({k: v for k, v in (options or {}).items() if k in KEYS and v})
    return Config(**merged)
