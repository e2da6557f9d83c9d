"""The web service's HTTP surface over a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from poms_shared.db.models import Campaign, CampaignDependency, CampaignStage, JobType, LoginSetup
from poms_shared.db.session import Database
from poms_shared.db.tables import OutboxMessage
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT, demo_ini
from poms_shared.demo.load import ensure_experiment
from poms_shared.ini import parse_ini
from poms_shared.settings import load_settings
from poms_web.app import create_app

UPLOAD = "/api/v1/campaigns/ini"
DEMO = f"/api/v1/campaigns/{DEMO_CAMPAIGN}"
COUNTED = (Campaign, CampaignStage, CampaignDependency, JobType, LoginSetup)

# Two stages and no dependency between them: neither can be called *the* leading stage.
TWIN_INI = """\
[campaign]
name=twin
[campaign_defaults]
login_setup=twin_login
job_type=twin_job
[campaign_stage left]
[campaign_stage right]
[login_setup twin_login]
host=localhost
account=poms
[job_type twin_job]
launch_script=poms-demo-launch
"""


@pytest.fixture
def client(database: Database, tmp_path: Path) -> FlaskClient:
    with database.transaction() as session:
        ensure_experiment(session, DEMO_EXPERIMENT, "poms", "production")
    app = create_app(load_settings(var_dir=tmp_path, experiment=DEMO_EXPERIMENT), database)
    return app.test_client()


def upload(client: FlaskClient, text: str | bytes, *, multipart: bool = True) -> Any:
    body = text.encode() if isinstance(text, str) else text
    if multipart:
        return client.post(UPLOAD, data={"file": (io.BytesIO(body), "campaign.ini")})
    return client.post(UPLOAD, data=body, content_type="text/plain")


def edited(old: str, new: str) -> str:
    """The demo .ini with one piece of text replaced (which must be there)."""
    text = demo_ini()
    assert old in text, old
    return text.replace(old, new)


def without_sections(*headers: str) -> str:
    """The demo .ini without the named sections (blocks are separated by blank lines)."""
    blocks = demo_ini().split("\n\n")
    kept = [b for b in blocks if not any(h in b.splitlines() for h in headers)]
    assert len(kept) == len(blocks) - len(headers), headers
    return "\n\n".join(kept)


def row_counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in COUNTED
        }


def outbox_rows(database: Database) -> list[OutboxMessage]:
    with database.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.outbox_id)))


def assert_json_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error: dict[str, Any] = response.get_json()["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert error["message"]
    return error


# ---- operations endpoints ----------------------------------------------------------------


def test_healthz_says_ok_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_metrics_are_prometheus_text_with_the_message_counters(client: FlaskClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Type"].count("charset") == 1
    text = response.get_data(as_text=True)
    assert "# TYPE poms_messages_consumed_total counter" in text


# ---- uploading and reading campaigns -----------------------------------------------------


@pytest.mark.parametrize(
    ("multipart", "content_type"),
    [
        pytest.param(True, None, id="multipart field 'file'"),
        pytest.param(False, "text/plain", id="raw body"),
        pytest.param(False, "application/x-www-form-urlencoded", id="raw body as curl sends it"),
    ],
)
def test_uploading_the_demo_ini_creates_the_campaign_and_its_stages(
    client: FlaskClient, multipart: bool, content_type: str | None
) -> None:
    if multipart:
        response = upload(client, demo_ini())
    else:
        response = client.post(UPLOAD, data=demo_ini().encode(), content_type=content_type)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["campaign"] == DEMO_CAMPAIGN
    assert isinstance(body["campaign_id"], int)
    assert sorted(body["stage_ids"]) == ["generate", "reconstruct", "simulate"]
    assert body["warnings"] == []

    listing = client.get("/api/v1/campaigns").get_json()
    assert listing["total"] == 1
    [item] = listing["items"]
    assert item["campaign_id"] == body["campaign_id"]
    assert (item["name"], item["experiment"], item["stages"]) == (DEMO_CAMPAIGN, "demo", 3)
    assert item["state"] == "idle"


def test_campaign_detail_shows_stages_dependencies_and_the_leading_stage(
    client: FlaskClient,
) -> None:
    ids = upload(client, demo_ini()).get_json()["stage_ids"]
    response = client.get(f"{DEMO}?experiment={DEMO_EXPERIMENT}")
    assert response.status_code == 200
    detail = response.get_json()
    assert detail["stages"] == 3
    assert [s["name"] for s in detail["stages_detail"]] == ["generate", "simulate", "reconstruct"]
    assert {s["name"]: s["stage_id"] for s in detail["stages_detail"]} == ids
    assert all(s["submissions"] == [] for s in detail["stages_detail"])
    assert detail["leading_stages"] == ["generate"]
    assert sorted(detail["dependencies"], key=lambda d: d["upstream"]) == [
        {"upstream": "generate", "downstream": "simulate", "file_patterns": "gen_%.root"},
        {"upstream": "simulate", "downstream": "reconstruct", "file_patterns": "sim_%.root"},
    ]
    assert detail["keywords"] == {"tune": "T1"}


def test_exported_ini_reads_back_as_the_uploaded_campaign(client: FlaskClient) -> None:
    upload(client, demo_ini())
    response = client.get(f"{DEMO}/ini?experiment={DEMO_EXPERIMENT}")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    # CampaignSpec keeps one normal form (stage order, defaults folded), so equal specs
    # mean the upload and the export describe the same campaign.
    assert parse_ini(response.get_data(as_text=True)) == parse_ini(demo_ini())


def test_uploading_the_exported_ini_again_changes_nothing(client: FlaskClient) -> None:
    first = upload(client, demo_ini()).get_json()
    exported = client.get(f"{DEMO}/ini").get_data(as_text=True)
    again = upload(client, exported)
    assert again.status_code == 201
    assert again.get_json()["campaign_id"] == first["campaign_id"]
    assert again.get_json()["stage_ids"] == first["stage_ids"]
    assert client.get(f"{DEMO}/ini").get_data(as_text=True) == exported


def test_a_stage_left_out_of_a_new_upload_is_detached(client: FlaskClient) -> None:
    first = upload(client, demo_ini()).get_json()
    smaller = without_sections("[campaign_stage reconstruct]", "[dependencies reconstruct]")
    response = upload(client, smaller)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["campaign_id"] == first["campaign_id"]
    detail = client.get(DEMO).get_json()
    assert detail["stages"] == 2
    assert [s["name"] for s in detail["stages_detail"]] == ["generate", "simulate"]
    assert [d["downstream"] for d in detail["dependencies"]] == ["simulate"]
    exported = client.get(f"{DEMO}/ini").get_data(as_text=True)
    assert "reconstruct" not in exported
    assert client.get("/api/v1/campaigns").get_json()["items"][0]["stages"] == 2


# ---- refused uploads ---------------------------------------------------------------------

BAD_UPLOADS = [
    pytest.param(
        "this is not an ini file\n",
        "bad_ini",
        None,
        None,
        "line 1",
        id="unparsable text",
    ),
    pytest.param(
        without_sections("[campaign]"),
        "bad_ini",
        None,
        None,
        "no [campaign] section",
        id="no [campaign] section",
    ),
    pytest.param(
        edited("completion_pct=100", "completion_pct=lots"),
        "bad_ini",
        "campaign_stage reconstruct",
        "completion_pct",
        "lots",
        id="completion_pct is not a number",
    ),
    pytest.param(
        edited('[["--stage ", "generate"], ', '[["--stage ", "generate"]; '),
        "bad_ini",
        "campaign_stage generate",
        "param_overrides",
        "JSON",
        id="param_overrides is not JSON",
    ),
    pytest.param(
        edited("campaign_stage_1 = generate", "campaign_stage_1 = nosuch"),
        "bad_ini",
        "dependencies simulate",
        "campaign_stage_1",
        "nosuch",
        id="dependency on an unknown stage",
    ),
    pytest.param(
        edited("login_setup=demo_local", "login_setup=nosuch_login"),
        "bad_campaign",
        "campaign_stage generate",
        "login_setup",
        "nosuch_login",
        id="login setup that exists nowhere (refused when saving)",
    ),
    pytest.param(
        edited("recoveries = []", 'recoveries = [["nosuch_recovery", []]]'),
        "bad_campaign",
        "job_type demo_job",
        "recoveries",
        "nosuch_recovery",
        id="recovery type that exists nowhere (refused when saving)",
    ),
]


@pytest.mark.parametrize(("text", "code", "section", "key", "detail"), BAD_UPLOADS)
def test_a_bad_ini_is_refused_naming_where_and_nothing_is_written(
    client: FlaskClient,
    database: Database,
    text: str,
    code: str,
    section: str | None,
    key: str | None,
    detail: str,
) -> None:
    before = row_counts(database)
    error = assert_json_error(upload(client, text), 400, code)
    message = error["message"]
    assert detail in message
    if section is not None:
        assert f"[{section}]" in message
    if key is not None:
        assert f"{key}:" in message
    if code == "bad_ini":
        assert (error["section"], error["key"]) == (section, key)
    assert row_counts(database) == before
    assert client.get("/api/v1/campaigns").get_json()["total"] == 0


def test_a_bad_reupload_leaves_the_stored_campaign_as_it_was(
    client: FlaskClient, database: Database
) -> None:
    upload(client, demo_ini())
    exported = client.get(f"{DEMO}/ini").get_data(as_text=True)
    before = row_counts(database)
    bad = edited("job_type=demo_job", "job_type=nosuch_job")
    assert_json_error(upload(client, bad), 400, "bad_campaign")
    assert row_counts(database) == before
    assert client.get(f"{DEMO}/ini").get_data(as_text=True) == exported


@pytest.mark.parametrize(
    ("body", "multipart", "code"),
    [
        pytest.param(b"", True, "missing_file", id="empty multipart file"),
        pytest.param(b"", False, "missing_file", id="empty body"),
        pytest.param("[campaign]\nname=café\n".encode("latin-1"), False, "bad_ini", id="latin-1"),
        pytest.param(b"\xff\xfe[\x00c\x00", True, "bad_ini", id="UTF-16 file"),
    ],
)
def test_empty_or_non_utf8_uploads_are_refused(
    client: FlaskClient, database: Database, body: bytes, multipart: bool, code: str
) -> None:
    before = row_counts(database)
    assert_json_error(upload(client, body, multipart=multipart), 400, code)
    assert row_counts(database) == before


def test_a_multipart_upload_without_a_file_field_is_refused(client: FlaskClient) -> None:
    response = client.post(UPLOAD, data={"text": demo_ini()}, content_type="multipart/form-data")
    assert_json_error(response, 400, "missing_file")


# ---- unknown things ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/campaigns/nosuch"),
        ("GET", "/api/v1/campaigns/nosuch/ini"),
        ("POST", "/api/v1/campaigns/nosuch/launch"),
        ("GET", "/api/v1/submissions/999999"),
        ("GET", "/api/v1/whatever"),
        ("GET", f"{DEMO}?experiment=otherexp"),
    ],
)
def test_unknown_things_are_a_json_404(client: FlaskClient, method: str, path: str) -> None:
    upload(client, demo_ini())
    assert_json_error(client.open(path, method=method), 404, "not_found")


def test_a_404_for_an_unknown_campaign_names_it(client: FlaskClient) -> None:
    error = assert_json_error(client.get("/api/v1/campaigns/nosuch"), 404, "not_found")
    assert "nosuch" in error["message"]


# ---- launching ---------------------------------------------------------------------------


def test_a_campaign_with_two_leading_stages_cannot_be_launched(
    client: FlaskClient, database: Database
) -> None:
    assert upload(client, TWIN_INI).status_code == 201
    error = assert_json_error(client.post("/api/v1/campaigns/twin/launch"), 409, "cannot_launch")
    assert "left" in error["message"] and "right" in error["message"]
    assert outbox_rows(database) == []


def test_launching_the_demo_queues_one_launch_command_for_the_leading_stage(
    client: FlaskClient, database: Database
) -> None:
    upload(client, demo_ini())
    response = client.post(f"{DEMO}/launch?experiment={DEMO_EXPERIMENT}")
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["status"], body["campaign"]) == ("accepted", DEMO_CAMPAIGN)
    assert body["leading_stage"] == "generate"
    [row] = outbox_rows(database)
    assert row.routing_key == "command.LaunchCampaign"
    assert row.published_at is None  # nothing relays it in this test
    assert body["correlation_id"] in row.body


def test_launching_wakes_the_outbox_relay(database: Database, tmp_path: Path) -> None:
    with database.transaction() as session:
        ensure_experiment(session, DEMO_EXPERIMENT, "poms", "production")
    wakes: list[bool] = []
    app = create_app(load_settings(var_dir=tmp_path), database, wake=lambda: wakes.append(True))
    client = app.test_client()
    upload(client, demo_ini())
    assert wakes == []
    assert client.post(f"{DEMO}/launch").status_code == 202
    assert wakes == [True]


# ---- the HTML page -----------------------------------------------------------------------


def test_the_index_page_lists_the_campaign_and_refreshes_itself(client: FlaskClient) -> None:
    upload(client, demo_ini())
    response = client.get("/?refresh=5")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert DEMO_CAMPAIGN in page
    assert '<meta http-equiv="refresh" content="5">' in page
    assert '<meta http-equiv="refresh" content="30">' in client.get("/").get_data(as_text=True)
    for stage in ("generate", "simulate", "reconstruct"):
        assert stage in page
    assert "not launched" in page


def test_the_index_page_of_an_empty_system_says_how_to_add_a_campaign(
    client: FlaskClient,
) -> None:
    response = client.get("/?refresh=30")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "No campaigns yet" in page and "poms campaign upload" in page
    assert '<meta http-equiv="refresh" content="30">' in page
    filtered = client.get("/campaigns?q=nothing").get_data(as_text=True)
    assert "No campaign matches these filters" in filtered


def test_uploads_and_launches_are_written_to_the_audit_log(database, tmp_path):
    from sqlalchemy import select

    from poms_shared.db.tables import AuditEntry
    from poms_shared.demo import demo_ini
    from poms_shared.demo.load import ensure_experiment
    from poms_shared.settings import load_settings
    from poms_web.app import create_app

    with database.transaction() as session:
        ensure_experiment(session, "demo", "poms", "production")
    client = create_app(load_settings(var_dir=tmp_path), database).test_client()
    assert client.post("/api/v1/campaigns/ini", data=demo_ini()).status_code == 201
    assert client.post("/api/v1/campaigns/ini", data=demo_ini()).status_code == 201
    assert client.post("/api/v1/campaigns/demo_mc/launch").status_code == 202
    with database.transaction() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.audit_id)).all()
        entries = [(r.actor, r.action, r.entity, r.before is None) for r in rows]
        assert "demo_mc" in rows[1].before["ini"]
    assert entries == [
        ("poms", "save_ini", "campaign", True),
        ("poms", "save_ini", "campaign", False),
        ("poms", "launch", "campaign", True),
    ]
