"""Where ``poms`` sends requests: config file, then environment, then options."""

from __future__ import annotations

from pathlib import Path

import pytest

from poms_shared.cli.config import DEFAULT_URL, Config, ConfigError, config_path, load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nothing_configured_means_the_local_server_and_no_token(tmp_path: Path) -> None:
    assert load_config({"HOME": str(tmp_path)}) == Config(url=DEFAULT_URL)


def test_the_config_file_is_read_from_the_home_config_folder(tmp_path: Path) -> None:
    write(tmp_path / ".config/poms/config.toml", 'url = "https://poms.example"\ntoken = "t1"\n')
    assert load_config({"HOME": str(tmp_path)}) == Config("https://poms.example", "t1")


def test_xdg_config_home_and_poms_config_name_other_files(tmp_path: Path) -> None:
    assert config_path({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path("/x/poms/config.toml")
    assert config_path({"HOME": "/h", "POMS_CONFIG": "/etc/p.toml"}) == Path("/etc/p.toml")


@pytest.mark.parametrize(
    ("env", "options", "expected"),
    [
        ({}, {}, Config("http://file", "file-token", "file-exp", "analysis")),
        (
            {"POMS_URL": "http://env", "POMS_EXPERIMENT": "env-exp"},
            {},
            Config("http://env", "file-token", "env-exp", "analysis"),
        ),
        (
            {"POMS_URL": "http://env", "POMS_ROLE": "production", "POMS_TOKEN": "env-token"},
            {"url": "http://option", "role": "superuser", "experiment": None},
            Config("http://option", "env-token", "file-exp", "superuser"),
        ),
        (
            {"POMS_URL": ""},
            {"url": ""},
            Config("http://file", "file-token", "file-exp", "analysis"),
        ),
    ],
    ids=["file", "environment-over-file", "options-over-environment", "empty-values-do-not-count"],
)
def test_options_override_the_environment_which_overrides_the_file(
    tmp_path: Path, env: dict[str, str], options: dict[str, str | None], expected: Config
) -> None:
    conf = write(
        tmp_path / "c.toml",
        'url = "http://file"\ntoken = "file-token"\nexperiment = "file-exp"\nrole = "analysis"\n',
    )
    assert load_config({"POMS_CONFIG": str(conf), **env}, options) == expected


def test_a_token_file_is_read_when_no_token_variable_is_set(tmp_path: Path) -> None:
    token_file = write(tmp_path / "tok", "  secret-from-file\n")
    env = {"HOME": str(tmp_path), "POMS_TOKEN_FILE": str(token_file)}
    assert load_config(env).token == "secret-from-file"
    assert load_config({**env, "POMS_TOKEN": "direct"}).token == "direct"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('url = "http://x"\ntokn = "t"\n', "unknown key 'tokn'"),
        ("url = 8080\n", "url must be a string"),
        ("url = \n", "cannot read config file"),
    ],
)
def test_a_bad_config_file_is_named_with_what_is_wrong(
    tmp_path: Path, text: str, says: str
) -> None:
    conf = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError, match=says) as caught:
        load_config({"POMS_CONFIG": str(conf)})
    assert str(conf) in str(caught.value)


def test_a_named_config_file_must_exist_and_a_token_file_must_be_readable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({"POMS_CONFIG": str(tmp_path / "missing.toml")})
    with pytest.raises(ConfigError, match="POMS_TOKEN_FILE"):
        load_config({"HOME": str(tmp_path), "POMS_TOKEN_FILE": str(tmp_path / "nope")})
