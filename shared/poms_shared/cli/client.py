"""The one small HTTP client of the ``poms`` command line and the jobsub wrapper.

Standard library only. :meth:`Client.call` speaks to ``/api/v1`` (JSON in and out);
:meth:`Client.form` posts form fields to a compatibility method at the server's root
(``get_submission_id_for``, ``update_submission``) and returns its plain-text answer.
Every answer of 400 or more raises :class:`ApiError` carrying the server's message; a
server that cannot be reached raises :class:`Unreachable`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 60.0
USER_AGENT = "poms-cli/1"

Params = Mapping[str, str | int | bool | None]


class ApiError(Exception):
    """The server answered with an error (status ≥ 400); ``message`` is its reason."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.body = body


class Unreachable(Exception):
    """No answer at all from the server (refused, unknown host, timed out)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach POMS at {url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    """A successful answer: status, content type, body bytes and headers."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str, default: str = "") -> str:
        """A response header, whatever its case."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), default)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def data(self) -> Any:
        """JSON when the server sent JSON, the text otherwise."""
        return self.json() if self.content_type == "application/json" else self.text


def base_url(url: str) -> str:
    """The server root: no trailing slash, no ``/api/v1`` (people paste either)."""
    url = url.strip().rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    if "://" not in url:
        url = f"http://{url}"
    return url


def query_string(params: Params | None) -> str:
    """``?a=1&b=x`` from the values that are set (True as ``1``; None and False dropped)."""
    pairs = []
    for key, value in (params or {}).items():
        if value is None or value is False:
            continue
        pairs.append((key, "1" if value is True else str(value)))
    return f"?{urllib.parse.urlencode(pairs)}" if pairs else ""


def error_of(status: int, reason: str, body: bytes, content_type: str) -> ApiError:
    """The API's ``{"error": {...}}`` as an ApiError; anything else summarised."""
    parsed: Any = None
    if content_type == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return ApiError(status, str(error.get("code", "error")), str(error["message"]), parsed)
    text = body.decode("utf-8", errors="replace").strip()
    first = text.splitlines()[0][:200] if text and "<html" not in text[:200].lower() else ""
    message = f"HTTP {status} {reason}".strip() + (f": {first}" if first else "")
    return ApiError(status, "http_error", message, parsed if parsed is not None else text)


class Client:
    """Requests to one POMS server as one identity, acting in an experiment and role."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        experiment: str | None = None,
        role: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = base_url(url)
        self.token = token
        self.experiment = experiment
        self.role = role
        self.timeout = timeout

    def headers(self) -> dict[str, str]:
        found = {"User-Agent": USER_AGENT, "Accept": "application/json, text/plain"}
        if self.token:
            found["Authorization"] = f"Bearer {self.token}"
        if self.experiment:
            found["X-POMS-Experiment"] = self.experiment
        if self.role:
            found["X-POMS-Role"] = self.role
        return found

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Answer:
        """``method`` on ``/api/v1<path>``; JSON body if ``json_body`` is given."""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            content_type = "application/json"
        url = f"{self.url}{API_PREFIX}{path}{query_string(params)}"
        return self._send(method, url, body, content_type)

    def form(self, method_name: str, fields: Mapping[str, str | int | None]) -> str:
        """POST form ``fields`` to the compatibility method ``/<method_name>``; its text."""
        kept = {k: str(v) for k, v in fields.items() if v is not None and v != ""}
        if self.experiment and "experiment" not in kept:
            kept["experiment"] = self.experiment
        if self.role and "role" not in kept:
            kept["role"] = self.role
        body = urllib.parse.urlencode(kept).encode()
        answer = self._send(
            "POST", f"{self.url}/{method_name}", body, "application/x-www-form-urlencoded"
        )
        return answer.text

    def _send(self, method: str, url: str, body: bytes | None, content_type: str | None) -> Answer:
        headers = self.headers()
        if content_type:
            headers["Content-Type"] = content_type
        if body is None and method not in ("GET", "HEAD", "DELETE"):
            body = b""
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Answer(
                    response.status,
                    response.headers.get_content_type(),
                    response.read(),
                    dict(response.headers.items()),
                )
        except urllib.error.HTTPError as err:
            raw = err.read() if err.fp is not None else b""
            kind = err.headers.get_content_type()
            raise error_of(err.code, err.reason or "", raw, kind) from None
        except urllib.error.URLError as err:
            raise Unreachable(self.url, _reason(err.reason)) from None
        except (TimeoutError, ConnectionError) as err:
            raise Unreachable(self.url, _reason(err)) from None


def _reason(err: object) -> str:
    if isinstance(err, TimeoutError):
        return "no answer (timed out)"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    return str(err) or err.__class__.__name__
