"""The served OpenAPI document, cross-site refusal, and ids past the integer range."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from poms_shared.db.session import Database
from poms_shared.demo import DEMO_CAMPAIGN, demo_ini
from poms_shared.demo.load import ensure_experiment
from poms_shared.settings import load_settings
from poms_web.app import _at_most, create_app
from poms_web.compat import METHODS


@pytest.fixture
def app(database: Database, tmp_path: Path) -> Flask:
    with database.transaction() as session:
        ensure_experiment(session, "demo", "poms", "production")
    return create_app(load_settings(var_dir=tmp_path), database)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    test_client = app.test_client()
    assert test_client.post("/api/v1/campaigns/ini", data=demo_ini()).status_code == 201
    return test_client


def test_the_document_is_valid_openapi_and_lists_every_endpoint(app: Flask) -> None:
    response = app.test_client().get("/api/v1/openapi.json", headers={"X-Forwarded-For": "x"})
    assert response.status_code == 200
    doc = response.get_json()
    validate(doc)
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, f"{method} {path} is not in the document"
    for name in METHODS:
        assert set(doc["paths"][f"/{name}"]) == {"get", "post"}
    launch = doc["paths"]["/api/v1/stages/{stage_id}/launch"]["post"]
    assert launch["requestBody"]["content"]["application/json"]["schema"]["properties"]["test"]


def test_the_document_needs_no_sign_in(database: Database, tmp_path: Path) -> None:
    closed = create_app(load_settings(var_dir=tmp_path, dev_user=""), database).test_client()
    assert closed.get("/api/v1/campaigns").status_code == 401
    assert closed.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.localhost"},
        {"Origin": "null"},
    ],
)
def test_a_cross_site_change_is_refused_and_changes_nothing(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    before = client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}").get_json()
    stage = before["stages_detail"][0]["stage_id"]
    refused = client.patch(f"/api/v1/stages/{stage}", json={"completion_pct": 42}, headers=headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "cross_site"
    form = client.post("/update_submission", data={"submission_id": "1"}, headers=headers)
    assert form.status_code == 403
    after = client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}").get_json()
    assert after == before
    assert client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}", headers=headers).status_code == 200


def test_same_origin_and_script_requests_go_through(client: FlaskClient) -> None:
    stage = client.get(f"/api/v1/campaigns/{DEMO_CAMPAIGN}").get_json()["stages_detail"][0]
    sid = stage["stage_id"]
    own = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert (
        client.patch(f"/api/v1/stages/{sid}", json={"completion_pct": 80}, headers=own).status_code
        == 200
    )
    assert client.patch(f"/api/v1/stages/{sid}", json={"completion_pct": 85}).status_code == 200


def test_an_id_past_the_integer_range_is_not_found(client: FlaskClient) -> None:
    assert client.get(f"/api/v1/submissions/{2**40}").status_code == 404
    assert client.get(f"/api/v1/stages/{2**31}").status_code == 404


@pytest.mark.parametrize("limit", [0, 7, 10, 99, 100, 2_147_483_647, 1_000_000_000])
def test_the_id_pattern_accepts_exactly_the_numbers_up_to_its_limit(limit: int) -> None:
    pattern = re.compile(_at_most(limit) + r"\Z")
    edge = [0, 1, limit - 1, limit, limit + 1, limit * 10, limit + 10, 10 ** len(str(limit))]
    for number in [n for n in edge if n >= 0] + list(range(0, 1200, 7)):
        assert bool(pattern.match(str(number))) == (number <= limit), number
