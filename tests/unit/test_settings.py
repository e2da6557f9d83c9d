"""Settings come from POMS_* variables and say clearly what is wrong with them."""

import pytest

from poms_shared.settings import load_settings


def test_embedded_mode_defaults_to_sqlite_and_the_in_process_bus(monkeypatch, tmp_path):
    for name in ("POMS_MODE", "POMS_DATABASE_URL", "POMS_BUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POMS_VAR_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'poms.sqlite'}"
    assert settings.bus == "memory"


def test_distributed_mode_defaults_to_postgresql_and_rabbitmq(monkeypatch):
    monkeypatch.setenv("POMS_MODE", "distributed")
    monkeypatch.delenv("POMS_DATABASE_URL", raising=False)
    monkeypatch.delenv("POMS_BUS", raising=False)
    settings = load_settings()
    assert settings.database_url.startswith("postgresql")
    assert settings.bus == "rabbitmq"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("POMS_MODE", "cluster", "POMS_MODE must be"),
        ("POMS_WEB_PORT", "abc", "POMS_WEB_PORT must be an integer, not 'abc'"),
        ("POMS_POLL_INTERVAL", "fast", "POMS_POLL_INTERVAL must be a number"),
    ],
)
def test_malformed_settings_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        load_settings()


def test_a_service_with_a_bad_setting_says_which_and_exits_2(monkeypatch, capsys):
    from poms_shared.runtime.process import run_service

    def never_built(*_: object) -> None:
        raise AssertionError("the service must not be built with bad settings")

    monkeypatch.setenv("POMS_NEW_TIMEOUT", "soon")
    assert run_service("tracker", never_built, 0, argv=[]) == 2
    err = capsys.readouterr().err
    assert "poms-tracker: configuration error: POMS_NEW_TIMEOUT must be a number" in err
    assert "Traceback" not in err
