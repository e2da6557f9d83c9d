"""A typed decode of complete ``JobEventsReported`` bodies, the tracker's bulk input.

``decode`` hands a job-events report to this module first. msgspec checks the body
against typed structs in C, and the ``JobEvent`` objects are then built from the checked
values without running pydantic's validation again. That validation and the Python
values it builds were most of what the tracker spent on a report.

Only bodies that the pydantic models would accept unchanged take this path. Each of
their values is then exactly what the models give:

* Every field of the envelope, the payload and each event is present, as our own
  encoder writes them. A body that leaves a field out, where the models would fill in a
  default and record the field as unset, goes the full way.
* Values must already have their field's type, with no lax conversion: an int is a JSON
  integer, a text is a JSON string, a state is one of the known words. A float field also
  takes a JSON integer, as the model does, and holds it as a float. Anything else
  (``"7"`` for an int, ``2.0`` for a seq, a bool, ``NaN``) goes the full way.
* Unknown fields in the payload or in an event go the full way, to be refused there.
  Unknown envelope fields are ignored, as the envelope model ignores them.
* Times are parsed by pydantic's own datetime validation, once per distinct text (see
  ``fast_json.event_time``). A text it refuses goes the full way, for the usual reason.

``None`` means "not taken": the caller decodes the body the full way, which gives the
envelope or the refusal and its reason, exactly as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from poms_shared.contracts.fast_json import JOB_EVENTS, event_time
from poms_shared.contracts.messages import JobEvent, JobEventsReported

_NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
_NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]


class _Event(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A ``JobEvent`` as our encoder writes it; ``at`` is still text."""

    source: str
    backend: str
    batch_job_id: str
    submission_id: int
    state: Literal["idle", "running", "held", "completed", "failed", "cancelled", "removed"]
    seq: int
    at: str
    exit_code: int | None
    node: str | None
    log_path: str | None
    site: str | None
    cpu_seconds: _NonNegativeFloat | None
    wall_seconds: _NonNegativeFloat | None
    memory_mb: _NonNegativeInt | None
    memory_requested_mb: _NonNegativeInt | None


class _Payload(msgspec.Struct, forbid_unknown_fields=True):
    events: list[_Event]


class _Envelope(msgspec.Struct):
    message_id: str
    type: Literal["JobEventsReported"]
    schema_version: int
    occurred_at: str
    correlation_id: str
    causation_id: str | None
    payload: _Payload


_DECODER = msgspec.json.Decoder(_Envelope)
_MARKS = (f'"type":"{JOB_EVENTS}"'.encode(), f'"type":"{JOB_EVENTS}"')
_asdict = msgspec.structs.asdict
_new = object.__new__
_set = object.__setattr__


def decode_job_events(body: bytes | str) -> dict[str, Any] | None:
    """The envelope's fields, the payload a built ``JobEventsReported``; None when the
    body is not a complete, strictly typed job-events report (the full decode decides)."""
    if _MARKS[isinstance(body, str)] not in body:  # type: ignore[operator]
        return None  # not ours, or not as our encoder writes it: no need to try
    try:
        raw = _DECODER.decode(body)
    except (msgspec.MsgspecError, ValueError):
        return None
    events = raw.payload.events
    times = {text: event_time(text) for text in {e.at for e in events}}
    occurred_at = event_time(raw.occurred_at)
    if occurred_at is None or None in times.values():
        return None
    return {
        "message_id": raw.message_id,
        "type": raw.type,
        "schema_version": raw.schema_version,
        "occurred_at": occurred_at,
        "correlation_id": raw.correlation_id,
        "causation_id": raw.causation_id,
        "payload": build(JobEventsReported, {"events": [_job_event(e, times) for e in events]}),
    }


def _job_event(wire: _Event, times: dict[str, datetime | None]) -> JobEvent:
    values = _asdict(wire)
    values["at"] = times[wire.at]
    event: JobEvent = build(JobEvent, values)
    return event


def build(cls: type[Any], values: dict[str, Any]) -> Any:
    """An instance of the pydantic model ``cls`` holding ``values`` (every one of its
    fields, already of the right type), built as ``model_construct`` builds one with
    all fields set, without its per-field Python loop."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
