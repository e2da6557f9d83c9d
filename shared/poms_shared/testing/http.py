"""Small HTTP and waiting helpers for end-to-end tests (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """(status, decoded JSON or text) — HTTP errors are answers too, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    if method != "GET" and data is None:
        data = b""
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, _decode(resp.read(), resp.headers.get_content_type())
    except urllib.error.HTTPError as err:
        return err.code, _decode(err.read(), err.headers.get_content_type())


def _decode(raw: bytes, content_type: str) -> Any:
    return json.loads(raw) if content_type == "application/json" else raw.decode()


class NotYet(Exception):
    """Raised by a probe that wants to be asked again."""


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; its last error after ``timeout``."""

    @retry(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        reraise=True,
        retry=retry_if_exception_type(NotYet),
    )
    def attempt() -> Any:
        value = check()
        if not value:
            raise NotYet(f"{getattr(check, '__name__', 'check')} not true after {timeout:.0f}s")
        return value

    return attempt()
