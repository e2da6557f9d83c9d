"""The launch script, its quoting and the ssh command (reference §6.7, §6.8, §6.9, §6.10)."""

import subprocess

import pytest

from poms_launcher.domain.compose import LaunchIdentity, launch_environment, poms_test_value
from poms_launcher.domain.script import (
    ScriptParts,
    SshTarget,
    abort_script,
    double_quote,
    is_local_host,
    local_argv,
    remote_script,
    running_process_id,
    shell_line,
    single_quote,
    ssh_argv,
)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", "'plain'"),
        ("it's", "'it'\"'\"'s'"),
        ("echo 'a' 'b'", "'echo '\"'\"'a'\"'\"' '\"'\"'b'\"'\"''"),
        ("", "''"),
    ],
)
def test_single_quotes_inside_the_remote_part_become_close_quoted_quote_reopen(text, quoted):
    assert single_quote(text) == quoted


@pytest.mark.parametrize(
    "text", ["it's", "a'b'c", '$HOME `x` "y"', "multi\nline 'x'", "''''", "%(x)s;\\"]
)
def test_a_quoted_word_reaches_the_shell_unchanged(text):
    for quote in (single_quote, double_quote):
        echoed = subprocess.run(
            ["/bin/sh", "-c", f"printf %s {quote(text)}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        assert echoed.stdout == text


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("pomsgpvm01.fnal.gov", ""),
        ("POMS.fnal.gov", ""),
        ("fermicloudmwm123.fnal.gov", "int"),
        ("laptop.local", "1"),
        ("localhost", "1"),
    ],
)
def test_poms_test_names_the_instance_from_the_server_host_name(host, expected):
    assert poms_test_value(host) == expected


def identity(**changes):
    values = dict(
        submission_id=12,
        stage_id=3,
        stage_name="sim stage",
        stage_type="regular",
        campaign_id=2,
        campaign_name="mc",
        job_type_id=5,
        launcher="alice",
        experiment="samdev",
        test=False,
        parent_submission_id=7,
    )
    values.update(changes)
    return LaunchIdentity(**values)


def test_environment_has_every_reference_variable_with_its_value():
    env = launch_environment(identity(), server_host="pomsgpvm01.fnal.gov")
    assert env["POMS_TEST"] == ""
    assert env["POMS_PARENT_TASK_ID"] == "7"
    assert env["POMS_TASK_DEFINITION_ID"] == "5"
    assert env["POMS_LAUNCHER"] == "alice"
    assert env["POMS4_CAMPAIGN_NAME"] == "mc"
    assert env["POMS4_CAMPAIGN_STAGE_NAME"] == "sim_stage"
    assert env["POMS4_CAMPAIGN_STAGE_TYPE"] == "regular"
    assert env["POMS4_TEST_LAUNCH"] == "False"
    assert env["JOBSUB_GROUP"] == env["GROUP"] == "fermilab"


def parts(**changes):
    values = dict(
        command="fife_launch -c 'my cfg.cfg'",
        login_setup="source /grid/setup; export X='a b'\r",
        exports={"POMS4_SUBMISSION_ID": "12", "POMS4_CAMPAIGN_NAME": 'my "c" $x'},
        wrappers_dir="/opt/poms/bin",
        group="nova",
    )
    values.update(changes)
    return ScriptParts(**values)


def test_script_runs_poms_setup_then_login_setup_then_wrappers_then_the_command():
    lines = remote_script(parts()).splitlines()
    assert lines[0] == 'echo "== process_id: $$ =="'
    assert lines[1] == 'export UPLOADS="$HOME"'
    assert lines[2] == "source /grid/setup; export X='a b'"
    order = [
        lines.index("export _condor_SEC_CREDENTIAL_STORER=/bin/true"),
        lines.index('export POMS4_SUBMISSION_ID="12"'),
        lines.index('export PATH="/opt/poms/bin":"$PATH"'),
        lines.index('export GROUP="nova"'),
        lines.index("fife_launch -c 'my cfg.cfg'"),
    ]
    assert order == sorted(order) and order[0] > 2
    assert lines[-2:] == ['echo "== completed: $$ =="', "exit $rc"]
    assert "\r" not in remote_script(parts())


def test_exported_names_are_double_quoted_and_stay_literal():
    script = remote_script(parts())
    assert 'export POMS4_CAMPAIGN_NAME="my \\"c\\" \\$x"' in script


def test_show_commands_echoes_the_command_then_opens_a_shell_instead_of_running_it():
    lines = remote_script(parts(commands_only=True)).splitlines()
    assert "fife_launch -c 'my cfg.cfg'" not in lines
    assert "echo 'fife_launch -c '\"'\"'my cfg.cfg'\"'\"''" in lines
    assert "/bin/bash -i" in lines


def test_the_script_runs_and_reports_its_process_and_exit_status(tmp_path):
    script = remote_script(
        parts(
            command="echo $X $POMS4_CAMPAIGN_NAME; (exit 3)",
            login_setup="export X='it'\"'\"'s'",
            wrappers_dir=str(tmp_path),
        )
    )
    done = subprocess.run(local_argv(script), capture_output=True, text=True, timeout=10)
    assert done.returncode == 3
    assert 'it\'s my "c" $x' in done.stdout
    assert running_process_id(done.stdout) is None  # completed


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            SshTarget("poms", "gpvm01"),
            ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", "poms@gpvm01"],
        ),
        (
            SshTarget("novapro", "h", port=2222, key="/k", options=("-o", "ConnectTimeout=5")),
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                "ConnectTimeout=5",
                "-p",
                "2222",
                "-i",
                "/k",
                "novapro@h",
            ],
        ),
    ],
)
def test_ssh_argv_has_batch_mode_options_port_key_then_the_script(target, expected):
    assert ssh_argv(target, "echo 'x'\r\n") == [*expected, "echo 'x'\n"]


def test_the_ssh_command_line_single_quotes_the_remote_part():
    line = shell_line(ssh_argv(SshTarget("poms", "gpvm01"), "export A='1'; run"))
    assert line.endswith(" poms@gpvm01 'export A='\"'\"'1'\"'\"'; run'")


@pytest.mark.parametrize(
    ("log", "pid"),
    [
        ("== process_id: 42 ==\nworking\n", 42),
        ("== process_id: 42 ==\n== completed: 42 ==\n", None),
        ("no marker\n", None),
        ("+ echo '== process_id: 9 =='\n== process_id: 9 ==\n", 9),
    ],
)
def test_a_launch_is_abortable_while_its_log_shows_it_started_but_not_completed(log, pid):
    assert running_process_id(log) == pid


@pytest.mark.parametrize(
    ("host", "local"),
    [("localhost", True), ("LOCALHOST", True), ("127.0.0.1", False), ("gpvm01", False)],
)
def test_only_listed_hosts_are_launched_without_ssh(host, local):
    assert is_local_host(host, ["localhost", "myhost"]) is local


def test_abort_kills_the_whole_process_group():
    assert abort_script(1234) == "kill -9 -1234"
