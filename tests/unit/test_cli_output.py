"""What ``poms`` prints: tables, ``key: value`` blocks, the JSON untouched with --json."""

from __future__ import annotations

import json

import pytest

from poms_shared.cli.client import base_url, error_of, query_string
from poms_shared.cli.output import cell, fields, listing, table


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        ("", "-"),
        (True, "yes"),
        (False, "no"),
        (["a", 1], "a, 1"),
        ([], "-"),
        ({"k": 1}, '{"k":1}'),
        ("two\nlines", "two lines"),
        ("x" * 80, "x" * 59 + "…"),
    ],
)
def test_a_cell_shows_a_value_on_one_short_line(value: object, text: str) -> None:
    assert cell(value) == text


def test_a_table_aligns_columns_under_their_headers() -> None:
    rows = [
        {"id": 1, "name": "generate", "state": {"held": True}},
        {"id": 22, "name": "sim", "state": {"held": False}},
    ]
    text = table(rows, [("id", "ID"), ("name", "NAME"), ("state.held", "HELD")])
    assert text.splitlines() == [
        "ID  NAME      HELD",
        "1   generate  yes",
        "22  sim       no",
    ]


def test_an_empty_list_says_so() -> None:
    assert table([], [("id", "ID")], empty="(no campaigns)") == "(no campaigns)"


def test_a_listing_tells_how_to_see_more_pages_and_keeps_the_json() -> None:
    data = {"items": [{"id": 1}], "total": 3, "page": 1, "per_page": 1, "pages": 3}
    shown = listing([("id", "ID")])(data)
    assert shown.data is data
    assert "page 1 of 3, 3 in all" in shown.text and "--all-pages" in shown.text


def test_fields_label_each_value() -> None:
    text = fields({"submission_id": 7, "status": "Running"}, [("submission_id", "submission")])
    assert text == "submission: 7"
    assert "status: Running" in fields({"status": "Running", "jobs": {"total": 2}})


def test_the_servers_json_error_gives_the_message() -> None:
    body = json.dumps({"error": {"status": 403, "code": "forbidden", "message": "Must be pat"}})
    err = error_of(403, "FORBIDDEN", body.encode(), "application/json")
    assert (err.status, err.code, err.message) == (403, "forbidden", "Must be pat")


def test_an_error_page_that_is_not_json_is_summarised() -> None:
    err = error_of(502, "Bad Gateway", b"<html><body>proxy</body></html>", "text/html")
    assert err.message == "HTTP 502 Bad Gateway"
    assert error_of(500, "", b"oops\nmore", "text/plain").message == "HTTP 500: oops"


def test_urls_and_queries_are_made_tidy() -> None:
    assert base_url("poms.example:8443/api/v1/") == "http://poms.example:8443"
    assert base_url("https://p.example/") == "https://p.example"
    assert query_string({"all": True, "mine": False, "tag": None, "search": "a b"}) == (
        "?all=1&search=a+b"
    )
    assert query_string({}) == ""


def test_override_pairs_read_as_a_command_line_and_times_lose_their_microseconds() -> None:
    assert cell([["--stage ", "sim"], ["-N=", "3"]]) == "--stage sim -N=3"
    assert cell("2026-01-02T03:04:05.678901") == "2026-01-02 03:04:05"
    assert cell("2026-01-02T03:04:05+00:00").startswith("2026-01-0")
