"""Launch roles, credential names, token options and launch-host rules (§6.2, §6.6, §6.7)."""

from __future__ import annotations

import pytest

from poms_launcher.domain.compose import CompositionError
from poms_launcher.domain.credentials import (
    ANALYSIS,
    PRODUCTION,
    Credentials,
    analysis_proxy_name,
    check_launch_host,
    launch_role,
    production_proxy_path,
    tokenopts_extra,
    uses_tokens,
    vault_token_name,
)
from poms_launcher.domain.script import ScriptParts, remote_script


@pytest.mark.parametrize(
    ("vo_role", "role"),
    [
        ("Analysis", ANALYSIS),
        (" analysis ", ANALYSIS),
        ("Production", PRODUCTION),
        ("Calibration", PRODUCTION),
        ("", PRODUCTION),
    ],
)
def test_the_vo_role_decides_the_launch_role(vo_role, role):
    assert launch_role(vo_role) == role


@pytest.mark.parametrize(
    ("setup", "script", "tokens"),
    [
        ("setup fife_utils", "fife_launch -c x.cfg", True),
        ("setup jobsub_client", "jobsub_submit ...", False),
        ("setup jobsub_client v_lite", "jobsub_submit ...", True),
        ("", "setup jobsub_client; jobsub_submit", False),
    ],
)
def test_token_mode_is_off_only_for_legacy_jobsub_client(setup, script, tokens):
    assert uses_tokens(setup, script) is tokens


def test_credential_file_names_follow_role_experiment_and_user():
    assert vault_token_name(ANALYSIS, "nova", "alice") == "vt_nova_Analysis_alice"
    assert vault_token_name(PRODUCTION, "nova", "novapro") == "vt_nova_production_novapro"
    assert analysis_proxy_name("nova", "alice") == "x509up_voms_nova_Analysis_alice"
    assert production_proxy_path("nova") == "/opt/novapro/novapro.Production.proxy"


@pytest.mark.parametrize(
    ("setup", "extra"),
    [
        (
            "source x; TOKENOPTS_EXTRA=[--nokerberos, '--verbose'] ; setup y",
            ("--nokerberos", "--verbose"),
        ),
        ('TOKENOPTS_EXTRA=["-d"]', ("-d",)),
        ("TOKENOPTS_EXTRA=[]", ()),
        ("setup fife_utils", ()),
    ],
)
def test_extra_token_options_come_from_the_login_setup(setup, extra):
    assert tokenopts_extra(setup) == extra


@pytest.mark.parametrize(
    ("role", "host", "hosts", "refusal"),
    [
        (ANALYSIS, "ana01.example.org", ("ana01.example.org",), None),
        (ANALYSIS, "novagpvm01", ("ana01.example.org",), "not an analysis launch node"),
        (PRODUCTION, "novagpvm01", ("ana01.example.org",), None),
        (PRODUCTION, "ana01.example.org", ("ana01.example.org",), "not a nova experiment node"),
        (PRODUCTION, "nova-ana01", ("nova-ana01",), None),  # the experiment's own host
        (ANALYSIS, "anywhere", (), None),  # no analysis hosts configured: no rule
    ],
)
def test_launch_host_rules(role, host, hosts, refusal):
    if refusal is None:
        check_launch_host(role, host, "nova", hosts)
    else:
        with pytest.raises(CompositionError, match=refusal):
            check_launch_host(role, host, "nova", hosts)


def creds(role: str, **kw) -> Credentials:
    values = dict(
        role=role,
        experiment="nova",
        group="nova",
        user="alice",
        launch_id="abc",
        proxy="/up/x509up_voms_nova_Analysis_alice",
        tokens=True,
        vault_server="htvaultprod.example",
        managed_tokens_server="tokens.example",
        vault_token="/up/vt_nova_Analysis_alice",
        extra_options=("--nokerberos",),
    )
    values.update(kw)
    return Credentials(**values)


def test_htgettoken_options_for_analysis_and_production():
    assert creds(ANALYSIS).htgettoken_options() == (
        "-a htvaultprod.example -r default -i nova "
        "--vaulttokeninfile=/up/vt_nova_Analysis_alice --credkey=alice --nokerberos"
    )
    assert creds(PRODUCTION, extra_options=()).htgettoken_options() == (
        "-a htvaultprod.example -i nova -r production "
        "--credkey=novapro/managedtokens/tokens.example"
    )


def test_credentials_are_prepared_around_the_login_setup_and_removed_at_the_end():
    c = creds(ANALYSIS, staged=("/tmp/abc_x509up",))
    script = remote_script(
        ScriptParts(
            command="fife_launch",
            login_setup="LOGIN_SETUP_RUNS_HERE",
            before_setup=c.before_setup(),
            after_setup=c.after_setup(),
            cleanup=c.cleanup(),
        )
    ).splitlines()
    at = {
        name: next(i for i, line in enumerate(script) if name in line)
        for name in (
            'cp "/up/x509up',
            "LOGIN_SETUP_RUNS_HERE",
            "htgettoken $HTGETTOKENOPTS",
            "fife_launch",
            "rm -f",
            "== completed",
        )
    }
    order = sorted(at, key=at.__getitem__)
    assert order == list(at), script
    cleanup = script[at["rm -f"]]
    for path in ("/tmp/abc_x509up", "/tmp/proxyabc", "/tmp/tokenabc", "/tmp/vt_abc-nova"):
        assert f'"{path}"' in cleanup
    assert 'export BEARER_TOKEN_FILE="/tmp/tokenabc"' in script
    assert 'export USER="alice"' in script
    assert 'export CONDOR_VAULT_STORER_ID="abc"' in script


def test_production_without_tokens_only_copies_the_managed_proxy():
    c = creds(PRODUCTION, tokens=False, vault_token="", proxy=production_proxy_path("nova"))
    assert c.after_setup() == []
    assert c.before_setup() == [
        'if [ -r "/opt/novapro/novapro.Production.proxy" ]; then cp '
        '"/opt/novapro/novapro.Production.proxy" "/tmp/proxyabc" && chmod 0400 '
        '"/tmp/proxyabc" && export X509_USER_PROXY="/tmp/proxyabc"; fi'
    ]
    assert c.cleanup() == ['rm -f "/tmp/proxyabc"']
