"""``poms`` argument parsing, the requests verbs make, and exit statuses (no server)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from poms_shared.cli.base import UsageError, key_values
from poms_shared.cli.client import Answer, ApiError, Client, Unreachable
from poms_shared.cli.main import main, parser, run_api
from poms_shared.cli.output import Shown


class FakeClient(Client):
    """Records calls; answers each with the next canned (status, JSON) or raises it."""

    def __init__(self, *answers: Any, experiment: str | None = "demo") -> None:
        super().__init__("http://poms.test", "tok", experiment=experiment)
        self.answers = list(answers)
        self.calls: list[tuple[str, str, dict[str, Any], Any]] = []

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:  # type: ignore[override]
        self.calls.append((method, path, dict(kwargs.get("params") or {}), kwargs.get("json_body")))
        answer = self.answers.pop(0) if self.answers else {}
        if isinstance(answer, Exception):
            raise answer
        return Answer(200, "application/json", json.dumps(answer).encode())


def run_verb(argv: list[str], client: FakeClient) -> Shown:
    args = parser().parse_args(argv)
    shown: Shown = args.handler(args, client)
    return shown


def test_common_options_go_before_the_noun_or_after_the_verb() -> None:
    before = parser().parse_args(["--json", "--experiment", "nova", "campaign", "list"])
    after = parser().parse_args(["campaign", "list", "--json", "-e", "nova", "--role", "analysis"])
    assert before.json and before.experiment == "nova"
    assert after.json and after.experiment == "nova" and after.role == "analysis"
    plain = parser().parse_args(["campaign", "list"])
    assert not hasattr(plain, "json") and not hasattr(plain, "url")


@pytest.mark.parametrize(
    "argv",
    [
        ["campaign"],
        ["campaign", "fly"],
        ["stage", "show", "twelve"],
        ["stage", "split", "3"],
        ["stage", "split", "3", "--reset", "--position", "2"],
        ["submission", "list", "--page", "0"],
        ["member", "set", "bob", "boss"],
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main(argv)
    assert ended.value.code == 2
    assert "usage: poms" in capsys.readouterr().err


def test_help_reads_like_a_manual(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["--help"])
    assert ended.value.code == 0
    text = capsys.readouterr().out
    for noun in ("campaign", "stage", "submission", "login-setup", "job-type", "token", "admin"):
        assert f"\n    {noun}" in text
    assert "examples:" in text and "POMS_URL" in text and "register-python-argcomplete" in text


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        (ApiError(403, "forbidden", "Must be role production"), 1, "poms: Must be role production"),
        (ApiError(404, "not_found", "stage 9 does not exist"), 1, "poms: stage 9 does not exist"),
        (ApiError(500, "internal_error", "internal error"), 1, "poms: internal error"),
        (UsageError("expected key=value, not 'x'"), 2, "poms: expected key=value"),
        (Unreachable("http://127.0.0.1:1", "connection refused"), 3, "Check POMS_URL"),
    ],
)
def test_failures_map_to_exit_statuses_with_the_message_on_stderr(
    error: Exception, status: int, says: str
) -> None:
    def handler(args: Any, client: Client) -> Shown:
        raise error

    args = parser().parse_args(["me"])
    args.handler = handler
    out, err = io.StringIO(), io.StringIO()
    assert run_api(args, {"HOME": "/nonexistent"}, out, err) == status
    assert says in err.getvalue() and out.getvalue() == ""
    if status == 3:
        assert "http://127.0.0.1:1" in err.getvalue()


def test_a_401_without_a_token_says_how_to_get_one() -> None:
    def handler(args: Any, client: Client) -> Shown:
        raise ApiError(401, "not_signed_in", "send 'Authorization: Bearer <token>'")

    args = parser().parse_args(["me"])
    args.handler = handler
    err = io.StringIO()
    assert run_api(args, {"HOME": "/nonexistent"}, io.StringIO(), err) == 1
    assert "POMS_TOKEN" in err.getvalue()


def test_a_bad_config_file_is_bad_usage(tmp_path: Any) -> None:
    (tmp_path / "c.toml").write_text("nonsense = 1\n")
    err = io.StringIO()
    args = parser().parse_args(["me"])
    assert run_api(args, {"POMS_CONFIG": str(tmp_path / "c.toml")}, io.StringIO(), err) == 2
    assert "unknown key 'nonsense'" in err.getvalue()


def test_json_prints_the_answer_unchanged() -> None:
    args = parser().parse_args(["me", "--json"])
    args.handler = lambda a, c: Shown({"username": "pat", "root": False}, "user: pat")
    out = io.StringIO()
    assert run_api(args, {"HOME": "/x"}, out, io.StringIO()) == 0
    assert json.loads(out.getvalue()) == {"username": "pat", "root": False}


def test_key_values_read_json_values_or_keep_text() -> None:
    assert key_values(["completion_pct=80", "dataset=my files", "failed_ratio=null"]) == {
        "completion_pct": 80,
        "dataset": "my files",
        "failed_ratio": None,
    }
    with pytest.raises(UsageError, match="key=value"):
        key_values(["completion_pct"])


def test_campaign_list_sends_its_filters_and_the_experiment() -> None:
    client = FakeClient({"items": [{"name": "nu", "active": True}], "total": 1})
    shown = run_verb(["campaign", "list", "--mine", "--tag", "mc", "--per-page", "5"], client)
    [(method, path, params, _)] = client.calls
    assert (method, path) == ("GET", "/campaigns")
    assert params["mine"] and params["tag"] == "mc" and params["per_page"] == 5
    assert "nu" in shown.text


def test_all_pages_fetches_every_page_into_one_list() -> None:
    page = {"total": 3, "per_page": 2, "pages": 2}
    client = FakeClient(
        {**page, "page": 1, "items": [{"token_id": 1}, {"token_id": 2}]},
        {**page, "page": 2, "items": [{"token_id": 3}]},
    )
    shown = run_verb(["token", "list", "--all-pages"], client)
    assert [t["token_id"] for t in shown.data["items"]] == [1, 2, 3]
    assert [c[2]["page"] for c in client.calls] == [None, 2]


def test_stage_launch_sends_only_the_options_given_and_prints_the_submission() -> None:
    client = FakeClient({"status": "launched", "submission_id": 42, "request_id": "r"})
    shown = run_verb(["stage", "launch", "7", "--test", "--dataset", "ds1"], client)
    assert client.calls[0][1] == "/stages/7/launch"
    assert client.calls[0][3] == {"test": True, "dataset": "ds1"}
    assert shown.text.startswith("submission 42 launched")


def test_a_held_launch_is_explained() -> None:
    body = {"error": {"status": 423, "code": "held", "message": "held", "held_launch_id": 5}}
    client = FakeClient(ApiError(423, "held", "launches of this stage are held", body))
    with pytest.raises(ApiError) as caught:
        run_verb(["stage", "launch", "7"], client)
    assert "poms held list" in caught.value.message and "stage release 7" in caught.value.message


def test_stage_split_and_overrides_send_the_bodies_the_server_takes() -> None:
    client = FakeClient({"cs_last_split": None}, {"cs_last_split": 4}, {})
    run_verb(["stage", "split", "3", "--reset"], client)
    run_verb(["stage", "split", "3", "--position", "4"], client)
    run_verb(["stage", "overrides", "3", "--stage =gen", "-N =5"], client)
    assert [c[3] for c in client.calls] == [
        {"reset": True},
        {"position": 4},
        {"param_overrides": [["--stage ", "gen"], ["-N ", "5"]]},
    ]


def test_recover_without_a_type_launches_the_next_step_of_the_plan() -> None:
    client = FakeClient(
        {"steps": [{"recovery_type": "added_files"}]},
        {"status": "launched", "submission_id": 9},
    )
    shown = run_verb(["submission", "recover", "4"], client)
    assert client.calls[1][:2] == ("POST", "/submissions/4/recover")
    assert client.calls[1][3] == {"recovery_type": "added_files"}
    assert "submission 9" in shown.text


def test_delete_without_a_terminal_needs_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(UsageError, match="--yes"):
        run_verb(["campaign", "delete", "nu"], FakeClient())
    client = FakeClient({"deleted": "nu"})
    run_verb(["campaign", "delete", "nu", "--yes"], client)
    assert client.calls[0][:3] == ("DELETE", "/campaigns/nu", {"experiment": "demo"})
