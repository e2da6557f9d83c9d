"""The commands a launch or a job runs many times, and ``poms``, start without the
service libraries.

``poms-local-submit`` runs once per launch and ``poms-local-job`` once per job; each
Python start that loads the message models (pydantic) or the database layer spends a
quarter of a second of CPU on it, which a launch burst pays hundreds of times over.
``poms`` talks to the REST API; only ``poms admin`` needs the database, and loads it
when one of its commands runs (``poms --help`` went from 1.3 s to 0.1 s).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pydantic", "sqlalchemy", "poms_shared.contracts", "poms_shared.db")


@pytest.mark.parametrize(
    "module",
    [
        "poms_shared.batch.local_cli",  # poms-local-submit, -job, declare-file, report-input
        "poms_shared.demo.scripts",
        "poms_shared.wrapper.jobsub",
        "poms_shared.wrapper.run_script",
        "poms_shared.cli.main",  # poms
    ],
)
def test_a_job_side_command_loads_no_message_models_nor_database(module: str) -> None:
    probe = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], check=True, capture_output=True, text=True
        ).stdout
    )
    assert [m for m in loaded if m.startswith(HEAVY)] == []
