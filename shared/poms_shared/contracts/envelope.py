"""The envelope around every message, and its strict JSON encoding."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from poms_shared.contracts.fast_job_events import build, decode_job_events
from poms_shared.contracts.fast_json import loads
from poms_shared.contracts.messages import MESSAGE_TYPES, Message


class MalformedMessage(ValueError):
    """A message body that cannot be decoded; it is dead-lettered, never retried."""


class Envelope(BaseModel):
    """Routing metadata plus the typed payload."""

    model_config = ConfigDict(frozen=True)
    message_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str
    causation_id: str | None = None
    payload: SerializeAsAny[Message]

    @property
    def routing_key(self) -> str:
        """Topic routing key, e.g. ``event.SubmissionLocated``."""
        return f"{self.payload.kind}.{self.type}"


def new_envelope(
    payload: Message, *, correlation_id: str | None = None, causation: Envelope | None = None
) -> Envelope:
    """Wrap a payload; a message caused by another inherits its correlation id."""
    if causation is not None:
        correlation_id = correlation_id or causation.correlation_id
    return Envelope(
        type=type(payload).__name__,
        schema_version=type(payload).schema_version,
        correlation_id=correlation_id or str(uuid.uuid4()),
        causation_id=causation.message_id if causation else None,
        payload=payload,
    )


def encode(envelope: Envelope) -> bytes:
    """Serialise to UTF-8 JSON bytes."""
    return envelope.model_dump_json().encode()


def decode(body: bytes | str, parse: Callable[[bytes | str], Any] = loads) -> Envelope:
    """Parse and validate a message body; raise MalformedMessage with the reason.
    ``parse``: the JSON parser (by default json.loads' values and errors, faster); with
    it, a complete job-events report is checked and built by ``fast_job_events``."""
    if parse is loads and (values := decode_job_events(body)) is not None:
        envelope: Envelope = build(Envelope, values)
        return envelope
    try:
        raw: Any = parse(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MalformedMessage("body is not a JSON object")
    kind = raw.get("type")
    payload_cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if payload_cls is None:
        raise MalformedMessage(f"unknown message type {kind!r}")
    try:
        payload = payload_cls.model_validate(raw.get("payload"))
        fields = {k: v for k, v in raw.items() if k != "payload"}
        return Envelope.model_validate({**fields, "payload": payload})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise MalformedMessage(f"invalid {kind}: {first['msg']} at {where}") from exc
