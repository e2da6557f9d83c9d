"""HTTP to the SAM web API: one request with a timeout, retried on 5xx and lost connections.

4xx answers are never retried: SAM has understood and refused. Every failure ends as a
``CatalogError`` naming the call and what SAM (or the network) said.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from poms_shared.catalog.port import CatalogError

log = logging.getLogger(__name__)
Params = Mapping[str, str | int | Sequence[str]]
_SNIPPET = 300  # characters of an error body worth repeating in a message


@dataclass(frozen=True)
class SamReply:
    status: int
    text: str


class _Transient(Exception):
    """Worth another try: a 5xx answer, a timeout or a dropped connection."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


def snippet(text: str) -> str:
    """The first part of an answer on one line, for messages and logs."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[:_SNIPPET] + "…"


def _tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if cert:
        try:
            context.load_cert_chain(cert, key or None)
        except (OSError, ssl.SSLError) as exc:
            reason = f"cannot load SAM client certificate {cert}: {exc}"
            raise CatalogError("tls setup", reason) from None
    return context


class SamHttp:
    """Requests to ``<base_url>/sam/<experiment>/api/<path>``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        retries: int = 5,
        cert: str = "",
        key: str = "",
        backoff: float = 0.5,
    ) -> None:
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CatalogError("setup", f"SAM URL must be http(s)://host[:port], not {base_url!r}")
        if timeout <= 0 or retries < 0:
            raise CatalogError("setup", f"bad SAM timeout {timeout} or retries {retries}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        handlers: list[urllib.request.BaseHandler] = []
        if parsed.scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=_tls_context(cert, key)))
        self._opener = urllib.request.build_opener(*handlers)

    def url(self, experiment: str, path: str, params: Params | None = None) -> str:
        exp = urllib.parse.quote(experiment, safe="")
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        return f"{self.base_url}/sam/{exp}/api/{path}{query}"

    def request(
        self,
        call: str,
        method: str,
        experiment: str,
        path: str,
        *,
        params: Params | None = None,
        form: Params | None = None,
        accept: tuple[int, ...] = (),
    ) -> SamReply:
        """Answer of a 2xx, or of a status listed in ``accept``; CatalogError otherwise."""
        if not experiment or "/" in experiment:
            raise CatalogError(call, f"bad experiment name {experiment!r}")
        url = self.url(experiment, path, params)
        data = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff, max=10),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            reply = retrying(self._once, method, url, data)
        except _Transient as exc:
            tries = self.retries + 1
            reason = f"{exc} (gave up after {tries} attempt(s))"
            raise CatalogError(call, reason, exc.status) from None
        if 200 <= reply.status < 300 or reply.status in accept:
            return reply
        reason = f"SAM answered HTTP {reply.status}: {snippet(reply.text)}"
        raise CatalogError(call, reason, reply.status)

    def _once(self, method: str, url: str, data: bytes | None) -> SamReply:
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        request.add_header("Accept", "application/json, text/plain")
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                reply = SamReply(resp.status, resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as err:
            reply = SamReply(err.code, err.read().decode("utf-8", "replace"))
        except TimeoutError:
            log.warning("SAM %s %s: no answer within %.1fs", method, url, self.timeout)
            raise _Transient(f"no answer within {self.timeout:g}s") from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            log.warning("SAM %s %s: %s", method, url, reason)
            raise _Transient(f"cannot reach SAM: {reason}") from None
        if reply.status >= 500:
            log.warning("SAM %s %s: HTTP %s", method, url, reply.status)
            reason = f"SAM answered HTTP {reply.status}: {snippet(reply.text)}"
            raise _Transient(reason, reply.status)
        return reply
