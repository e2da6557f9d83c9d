"""How the samweb adapter talks HTTP: retries, timeouts, refusals and clear errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from poms_shared.catalog import CatalogError
from poms_shared.catalog.sam_http import SamHttp
from poms_shared.catalog.samweb import COUNT_UNKNOWN, SamwebCatalog
from poms_shared.testing.fake_samweb import FakeSamweb

EXP = "exp"


@pytest.fixture
def sam() -> Iterator[FakeSamweb]:
    """A fake SAM whose ``raw`` definition holds f0..f4."""
    with FakeSamweb() as fake:
        for i in range(5):
            fake.world(EXP).add_file(f"f{i}", run=1 if i < 2 else 2)
        fake.world(EXP).define("raw", "file_name f%")
        yield fake


def samweb(sam: FakeSamweb, *, retries: int = 2, timeout: float = 2.0) -> SamwebCatalog:
    return SamwebCatalog(
        SamHttp(sam.url, timeout=timeout, retries=retries, backoff=0), experiment=EXP
    )


def test_server_errors_are_retried_until_sam_answers(sam):
    sam.fail_next(2, status=503)
    assert samweb(sam, retries=2).count_files(EXP, "raw") == 5
    assert len(sam.calls("files/count")) == 3


def test_retries_give_up_with_an_error_naming_the_call_and_the_answer(sam):
    sam.fail_next(10, status=502, body="proxy down")
    with pytest.raises(CatalogError) as caught:
        samweb(sam, retries=2).list_files(EXP, "raw")
    assert caught.value.status == 502
    assert "list_files" in str(caught.value) and "proxy down" in str(caught.value)
    assert "3 attempt(s)" in str(caught.value)
    assert len(sam.requests) == 3


def test_client_errors_are_not_retried(sam):
    sam.fail_next(1, status=403, body="not authorised for group exp")
    with pytest.raises(CatalogError, match="HTTP 403: not authorised") as caught:
        samweb(sam, retries=5).describe_definition(EXP, "raw")
    assert caught.value.status == 403
    assert len(sam.requests) == 1


def test_a_bad_dimension_is_a_clear_error_from_sam(sam):
    with pytest.raises(CatalogError, match="HTTP 400: Invalid dimension"):
        samweb(sam).list(EXP, "no_such_field 3")
    assert len(sam.requests) == 1


def test_a_slow_answer_times_out_and_is_tried_again(sam):
    sam.delay_next(1.0)
    started = time.monotonic()
    with pytest.raises(CatalogError, match=r"no answer within 0\.2s"):
        samweb(sam, retries=0, timeout=0.2).count_files(EXP, "raw")
    assert time.monotonic() - started < 0.9
    sam.delay_next(1.0)
    assert samweb(sam, retries=1, timeout=0.2).count_files(EXP, "raw") == 5


def test_an_unreachable_sam_is_a_clear_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    catalog = SamwebCatalog(
        SamHttp(f"http://127.0.0.1:{port}", retries=1, backoff=0), experiment=EXP
    )
    with pytest.raises(CatalogError, match="cannot reach SAM"):
        catalog.list_files(EXP, "raw")
    assert catalog.count(EXP, "defname:raw") == COUNT_UNKNOWN


@pytest.mark.parametrize("url", ["samweb.fnal.gov:8483", "ftp://samweb", ""])
def test_a_bad_sam_url_is_refused_up_front(url):
    with pytest.raises(CatalogError, match="SAM URL"):
        SamHttp(url)


def test_count_says_unknown_when_sam_cannot_count(sam):
    catalog = samweb(sam, retries=1)
    assert catalog.count(EXP, "defname:raw and run_number 1") == 2
    sam.refuse_query_next()
    assert catalog.count(EXP, "defname:raw") == COUNT_UNKNOWN
    assert len(sam.calls("files/count")) == 2  # the refusal was not retried
    sam.fail_next(2, status=500)
    assert catalog.count(EXP, "defname:raw") == COUNT_UNKNOWN
    assert catalog.count(EXP, "defname:missing") == COUNT_UNKNOWN
    assert catalog.count(EXP, "no_such_field 1") == COUNT_UNKNOWN
    sam.refuse_query_next()
    with pytest.raises(CatalogError, match="query limit"):
        catalog.list(EXP, "defname:raw")


def test_an_answer_that_is_not_what_sam_sends_is_a_clear_error(sam):
    sam.fail_next(1, status=200, body="<html>maintenance</html>")
    with pytest.raises(CatalogError, match="list_files failed: SAM answered '<html>"):
        samweb(sam).list_files(EXP, "raw")
    sam.fail_next(1, status=200, body="many")
    with pytest.raises(CatalogError, match="not a number"):
        samweb(sam).count_files(EXP, "raw")


def test_a_missing_client_certificate_is_reported_when_the_adapter_is_made(tmp_path):
    with pytest.raises(CatalogError, match="cannot load SAM client certificate"):
        SamHttp("https://samweb.example:8483", cert=str(tmp_path / "nocert.pem"))


def test_requests_go_to_the_experiments_api_path(sam):
    samweb(sam).describe_definition(EXP, "raw")
    assert [(r.method, r.experiment, r.path) for r in sam.requests] == [
        ("GET", EXP, "definitions/name/raw")
    ]
    assert sam.requests[0].params["format"] == ["json"]
