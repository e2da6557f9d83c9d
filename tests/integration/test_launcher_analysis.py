"""Analysis launches: sandboxes of uploaded files, the user's proxy and vault token."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from launcher_harness import configure_stage, log_text, new_submission, running_launcher

from poms_shared.contracts.messages import LaunchFailed, LaunchSubmission, SubmissionLaunched
from poms_shared.db.session import Database
from poms_shared.demo.load import load_samples
from poms_shared.settings import Settings, load_settings

PROXY = "x509up_voms_demo_Analysis_poms"
TOKEN = "vt_demo_Analysis_poms"
SHOW = (
    'echo "UPLOADS=$UPLOADS"; ls "$UPLOADS"; echo "PROXY=$X509_USER_PROXY"; '
    'stat -c "mode=%%a" "$X509_USER_PROXY"; '
)
SUBMIT = "poms-local-submit -- true"


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    with database.transaction() as session:
        load_samples(session)
    return load_settings(var_dir=tmp_path, database_url=database.url)


def upload(settings: Settings, name: str, text: str = "x", age_days: float = 0) -> Path:
    path = settings.uploads_dir / "demo" / "poms" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if age_days:
        then = time.time() - age_days * 86400
        os.utime(path, (then, then))
    return path


def launch(settings: Settings, database: Database, **stage) -> tuple[object, str, int]:
    stage_id = configure_stage(database, vo_role="Analysis", **stage)
    sid = new_submission(database, stage_id)
    with running_launcher(settings, database) as launcher:
        launcher.send(LaunchSubmission(submission_id=sid))
        outcome = launcher.wait_event((SubmissionLaunched, LaunchFailed), submission_id=sid)
        return outcome, log_text(launcher, sid), sid


def test_an_analysis_launch_runs_in_a_sandbox_with_a_private_copy_of_the_proxy(settings, database):
    notes = upload(settings, "notes.txt", "my config")
    upload(settings, PROXY, "proxy bits")
    outcome, text, _ = launch(settings, database, launch_script=SHOW + SUBMIT)
    assert isinstance(outcome, SubmissionLaunched), text
    uploads = re.search(r"^UPLOADS=(\S+)$", text, re.MULTILINE)
    assert uploads, text
    sandbox = Path(uploads.group(1))
    assert sandbox.parent == settings.uploads_dir / "sandboxes"
    assert re.fullmatch(r"[0-9a-f]{32}", sandbox.name)
    assert sorted(p.name for p in sandbox.iterdir()) == sorted([PROXY, "notes.txt"])
    assert (sandbox / "notes.txt").stat().st_ino == notes.stat().st_ino  # a hard link
    proxy = re.search(r"^PROXY=(\S+)$", text, re.MULTILINE)
    assert proxy and proxy.group(1).startswith("/tmp/proxy"), text
    assert "mode=400" in text
    assert not Path(proxy.group(1)).exists()  # removed when the launch finished


def test_production_launches_use_home_and_no_sandbox(settings, database):
    stage_id = configure_stage(database, launch_script='echo "UPLOADS=$UPLOADS"; ' + SUBMIT)
    sid = new_submission(database, stage_id)
    with running_launcher(settings, database) as launcher:
        launcher.send(LaunchSubmission(submission_id=sid))
        launcher.wait_event(SubmissionLaunched, submission_id=sid)
        text = log_text(launcher, sid)
    assert f"UPLOADS={os.environ['HOME']}\n" in text
    assert not (settings.uploads_dir / "sandboxes").exists()


@pytest.fixture
def token_settings(settings: Settings, tmp_path: Path) -> tuple[Settings, Path]:
    """Token mode with a stand-in htgettoken that records its options and writes a token."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "htgettoken"
    fake.write_text(
        '#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\necho token > "$BEARER_TOKEN_FILE"\n'
    )
    fake.chmod(0o755)
    tokened = load_settings(
        var_dir=settings.var_dir, database_url=settings.database_url, vault_server="vault.test"
    )
    return tokened, bin_dir


def test_token_mode_fetches_a_bearer_token_with_the_uploaded_vault_token(token_settings, database):
    settings, bin_dir = token_settings
    token = upload(settings, TOKEN)
    outcome, text, _ = launch(
        settings,
        database,
        setup=f"export PATH={bin_dir}:$PATH; TOKENOPTS_EXTRA=[--nokerberos]",
        launch_script='echo "BEARER=$BEARER_TOKEN_FILE"; cat "$BEARER_TOKEN_FILE"; ' + SUBMIT,
    )
    assert isinstance(outcome, SubmissionLaunched), text
    assert (bin_dir / "args").read_text().split() == [
        "-a", "vault.test", "-r", "default", "-i", "demo",
        f"--vaulttokeninfile={token}", "--credkey=poms", "--nokerberos",
    ]  # fmt: skip
    bearer = re.search(r"^BEARER=(/tmp/token[0-9a-f]+)$", text, re.MULTILINE)
    assert bearer and "\ntoken\n" in text, text
    assert not Path(bearer.group(1)).exists()


@pytest.mark.parametrize(
    ("age_days", "reason"),
    [(None, "no vault token uploaded"), (6, "6.0 days old")],
)
def test_token_mode_refuses_a_missing_or_stale_vault_token(
    token_settings, database, age_days, reason
):
    settings, _ = token_settings
    if age_days is not None:
        upload(settings, TOKEN, age_days=age_days)
    outcome, _, _ = launch(settings, database, launch_script=SUBMIT)
    assert isinstance(outcome, LaunchFailed)
    assert reason in outcome.reason


def test_an_analysis_launch_off_the_analysis_hosts_is_refused(settings, database):
    restricted = load_settings(
        var_dir=settings.var_dir,
        database_url=settings.database_url,
        analysis_launch_hosts=("ana01.example.org",),
    )
    outcome, _, _ = launch(restricted, database, launch_script=SUBMIT)
    assert isinstance(outcome, LaunchFailed)
    assert "localhost is not an analysis launch node for experiment demo" in outcome.reason
