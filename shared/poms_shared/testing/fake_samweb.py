"""A local fake of the SAM web API (the calls POMS makes), for integration tests.

A stdlib HTTP server on 127.0.0.1 (a free port) answering ``/sam/<experiment>/api/…``
from one ``SamWorld`` per experiment. Dimensions are really evaluated. Faults can be
queued: the next N requests answer an error status, a "query limit" refusal, or late.
Every request is recorded so tests can count attempts.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from poms_shared.testing.sam_dims_eval import DimsSyntaxError, UnknownDefinition
from poms_shared.testing.sam_world import SamWorld

Answer = tuple[int, str, str]  # status, content type, body
Params = dict[str, list[str]]
_TEXT, _JSON = "text/plain", "application/json"
QUERY_LIMIT_TEXT = "Dimension query refused: the result exceeds the query limit"


@dataclass(frozen=True)
class Fault:
    status: int = 503  # 0: answer normally (after the delay)
    body: str = "Service Unavailable"
    delay: float = 0.0


@dataclass(frozen=True)
class Recorded:
    method: str
    experiment: str
    path: str
    params: Params


class FakeSamweb:
    """The fake server; use as a context manager or call ``start``/``stop``."""

    def __init__(self) -> None:
        self.worlds: dict[str, SamWorld] = {}
        self.requests: list[Recorded] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
            ("*", re.compile(r"files/count"), self._count),
            ("*", re.compile(r"files/list"), self._list),
            ("*", re.compile(r"files/metadata"), self._metadata),
            ("GET", re.compile(r"files/name/([^/]+)/metadata"), self._one_metadata),
            ("POST", re.compile(r"definitions/create"), self._create),
            ("GET", re.compile(r"definitions/name/([^/]+)"), self._describe),
            ("DELETE", re.compile(r"definitions/name/([^/]+)"), self._delete),
            ("POST", re.compile(r"definitions/name/([^/]+)/snapshot"), self._snapshot),
            ("GET", re.compile(r"projects/name/([^/]+)/summary"), self._summary),
            ("GET", re.compile(r"projects/name/([^/]+)/recovery_dimensions"), self._recovery),
        ]

    # ---- test controls -----------------------------------------------------------------

    def world(self, experiment: str) -> SamWorld:
        """The experiment's SAM (created empty on first use)."""
        return self.worlds.setdefault(experiment, SamWorld())

    def fail_next(
        self, count: int = 1, status: int = 503, body: str = "Service Unavailable"
    ) -> None:
        """The next ``count`` requests answer ``status`` with ``body``."""
        self._faults.extend(Fault(status, body) for _ in range(count))

    def refuse_query_next(self, count: int = 1) -> None:
        """The next ``count`` requests are refused for exceeding the query limit."""
        self.fail_next(count, 400, QUERY_LIMIT_TEXT)

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """The next ``count`` requests are answered only after ``seconds``."""
        self._faults.extend(Fault(0, "", seconds) for _ in range(count))

    def recover(self) -> None:
        """Drop the faults still queued: SAM answers normally from now on."""
        with self._lock:
            self._faults.clear()

    def calls(self, path: str = "", method: str = "") -> list[Recorded]:
        """Recorded requests whose path starts with ``path`` (and of ``method``)."""
        return [
            r
            for r in self.requests
            if r.path.startswith(path) and (not method or r.method == method)
        ]

    # ---- life cycle --------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake SAM server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        server = _Server(self)
        self._server = server
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-samweb",
            daemon=True,
        ).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSamweb:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- dispatch ----------------------------------------------------------------------

    def answer(self, method: str, raw_path: str, params: Params) -> Answer:
        """Route one request (called from the handler threads)."""
        match = re.fullmatch(r"/sam/([^/]+)/api/(.+)", raw_path)
        if not match:
            return 404, _TEXT, f"no such API path {raw_path}"
        experiment, path = urllib.parse.unquote(match[1]), match[2]
        with self._lock:
            self.requests.append(Recorded(method, experiment, path, params))
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status:
                return fault.status, _TEXT, fault.body
        for verb, pattern, handler in self._routes:
            found = pattern.fullmatch(path)
            if found and verb in ("*", method):
                args = [urllib.parse.unquote(g) for g in found.groups()]
                with self._lock:
                    return self._guarded(handler, self.world(experiment), params, *args)
        return 404, _TEXT, f"no such API call {method} {path}"

    @staticmethod
    def _guarded(handler: Callable[..., Answer], *args: Any) -> Answer:
        try:
            return handler(*args)
        except DimsSyntaxError as exc:
            return 400, _TEXT, f"Invalid dimension: {exc}"
        except UnknownDefinition as exc:
            return 404, _TEXT, f"Definition {exc.args[0]} not found"
        except KeyError as exc:
            return 404, _TEXT, f"Not found: {exc.args[0]}"
        except _MissingParam as exc:
            return 400, _TEXT, f"Missing parameter {exc.args[0]}"

    # ---- API calls ---------------------------------------------------------------------

    def _count(self, world: SamWorld, params: Params) -> Answer:
        return 200, _TEXT, str(len(world.query(_one(params, "dims"))))

    def _list(self, world: SamWorld, params: Params) -> Answer:
        names = world.query(_one(params, "dims"))
        if params.get("format") == ["json"]:
            return 200, _JSON, json.dumps(names)
        return 200, _TEXT, "".join(f"{n}\n" for n in names)

    def _metadata(self, world: SamWorld, params: Params) -> Answer:
        with_locations = bool(params.get("locations"))
        found = [world.files[n] for n in params.get("file_name", []) if n in world.files]
        return 200, _JSON, json.dumps([f.metadata(with_locations) for f in found])

    def _one_metadata(self, world: SamWorld, params: Params, name: str) -> Answer:
        record = world.files[name].metadata(bool(params.get("locations")))
        return 200, _JSON, json.dumps(record)

    def _create(self, world: SamWorld, params: Params) -> Answer:
        name = _one(params, "defname")
        if name in world.definitions:
            return 409, _TEXT, f"Definition {name} already exists"
        details = {k: params[k][0] for k in ("group", "user", "description") if params.get(k)}
        world.define(name, _one(params, "dims"), **details)
        return 200, _TEXT, f"Dataset definition '{name}' has been created"

    def _describe(self, world: SamWorld, params: Params, name: str) -> Answer:
        d = world.definitions.get(name)
        if d is None:
            raise UnknownDefinition(name)
        body = {"defname": d.name, "dimensions": d.dims, "group": d.group, "username": d.user}
        return 200, _JSON, json.dumps(body)

    def _delete(self, world: SamWorld, params: Params, name: str) -> Answer:
        if world.definitions.pop(name, None) is None:
            raise UnknownDefinition(name)
        return 200, _TEXT, f"Definition {name} deleted"

    def _snapshot(self, world: SamWorld, params: Params, name: str) -> Answer:
        return 200, _TEXT, str(world.snapshot(name))

    def _summary(self, world: SamWorld, params: Params, project: str) -> Answer:
        with_processes = params.get("process_limit") != ["0"]
        return 200, _JSON, json.dumps(world.summary(project, with_processes))

    def _recovery(self, world: SamWorld, params: Params, project: str) -> Answer:
        use_process = params.get("useProcess", ["0"]) == ["1"]
        return 200, _TEXT, world.recovery_dimensions(project, use_process)


class _MissingParam(Exception):
    pass


def _one(params: Params, key: str) -> str:
    values = params.get(key)
    if not values:
        raise _MissingParam(key)
    return values[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSamweb) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that gave up waiting (timeout tests) hang up; that is expected."""


class _Handler(BaseHTTPRequestHandler):
    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode()
            for key, values in urllib.parse.parse_qs(body, keep_blank_values=True).items():
                params.setdefault(key, []).extend(values)
        assert isinstance(self.server, _Server)
        fake = self.server.fake
        status, kind, text = fake.answer(self.command, url.path, params)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``FakeSamweb.requests`` instead."""
