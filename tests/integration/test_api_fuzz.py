"""OpenAPI-driven fuzzing: no endpoint answers 500, whatever it is sent.

Every operation of the served document is called with generated input (schemathesis
over hypothesis) by an administrator over PostgreSQL holding the demo campaign and a few
submissions. Id path parameters are narrowed to the seeded range and names to a real
one or a wrong one, so generated calls reach the objects and not only "not found".
Only server errors fail the test: refusals and 4xx are the right answer to most
generated input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from poms_shared.db import identity
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT
from poms_shared.demo.load import load_samples
from poms_shared.settings import load_settings
from poms_shared.testing.submissions import add_submissions
from poms_web.adapters import launching
from poms_web.app import create_app

pytestmark = pytest.mark.integration
EXAMPLES = 25  # per operation
ID_RANGE = 12  # generated ids are 0..ID_RANGE
NAMES = {
    "name": [DEMO_CAMPAIGN, "no_such_campaign"],
    "experiment": [DEMO_EXPERIMENT, "nowhere"],
    "username": ["fuzzer", "nobody"],
}


@dataclass
class Target:
    app: Flask
    headers: dict[str, str]


@pytest.fixture
def target(
    pg_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Target]:
    monkeypatch.setattr(launching, "LAUNCH_WAIT", 0.0)  # nothing answers launches here
    with pg_database.transaction() as session:
        load_samples(session)
        for stage in session.scalars(select(CampaignStage)):
            add_submissions(session, stage.campaign_stage_id, 2)
        identity.add_user(session, "fuzzer", root=True)
        for n in range(ID_RANGE + 1):  # tokens the fuzzer may revoke; its own id is past them
            identity.issue_token(session, "fuzzer", f"spare {n}")
        token = identity.issue_token(session, "fuzzer", "fuzz")[1]
    app = create_app(load_settings(var_dir=tmp_path, dev_user=""), pg_database)
    app.logger.disabled = True  # a 500 fails the test; its traceback would only be noise
    yield Target(app, {"Authorization": f"Bearer {token}"})


def narrowed(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document["paths"].values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] != "path":
                    continue
                if param["schema"].get("type") == "integer":
                    param["schema"] = {"type": "integer", "minimum": 0, "maximum": ID_RANGE}
                elif param["name"] in NAMES:
                    param["schema"] = {"type": "string", "enum": NAMES[param["name"]]}
    return document


def test_no_endpoint_answers_a_server_error(target: Target) -> None:
    document = target.app.test_client().get("/api/v1/openapi.json").get_json()
    api = schemathesis.openapi.from_dict(narrowed(document))
    api.app = target.app
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 40, "the document lost its operations"
    codes: Counter[int] = Counter()
    failures: list[str] = []
    for operation in operations:
        failures += fuzz(operation, target.headers, codes)
    assert not failures, "server errors:\n" + "\n".join(sorted(set(failures))[:30])
    assert codes[401] == 0, "the fuzzer was not signed in"
    assert sum(n for code, n in codes.items() if code < 300) > 100, f"too few reached: {codes}"


def fuzz(operation: Any, headers: dict[str, str], codes: Counter[int]) -> list[str]:
    """Generated calls of one operation that got a server error."""
    failures: list[str] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def call(case: Any) -> None:
        response = case.call(headers=headers)
        codes[response.status_code] += 1
        if response.status_code >= 500:
            sent = {"query": case.query, "body": case.body, "path": case.path_parameters}
            failures.append(f"{operation.label}: {response.status_code} for {sent}")

    call()
    return failures
