"""The JSON parse under ``decode``: msgspec, with ``json.loads`` for whatever it refuses.

Only the parse is replaced; every message is still validated by its pydantic model, so
what is accepted, and the reason a body is refused, are exactly as before:

* msgspec parses valid UTF-8 JSON into the same values ``json.loads`` gives (objects with
  repeated keys keep the last value in both). Where they differ (``NaN``/``Infinity``,
  numbers beyond a double, a UTF-8 BOM or UTF-16/32 bodies, lone surrogates, invalid
  JSON) msgspec raises and ``json.loads`` decides, with its own result or error.
* In a ``JobEventsReported`` body, each distinct ``at`` text is parsed once by pydantic's
  own datetime validation and that one ``datetime`` object is handed to every event that
  carries the text (the events of one poll share their times; recent texts are
  remembered across messages, as later reports repeat them). The model keeps a given
  ``datetime`` as it is, so the events hold the values the full validation would give,
  and the tracker then hashes, compares and formats a few shared objects instead of one
  per event. A text pydantic refuses is left as it is, for the model to refuse with the
  usual reason.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

import msgspec
from pydantic import TypeAdapter, ValidationError

_DECODER = msgspec.json.Decoder()
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
JOB_EVENTS = "JobEventsReported"


def loads(body: bytes | str) -> Any:
    """``json.loads(body)``, faster; job-event times parsed once per distinct text."""
    try:
        raw = _DECODER.decode(body)
    except (msgspec.MsgspecError, ValueError):
        return json.loads(body)  # its value, or its error, as before
    if isinstance(raw, dict) and raw.get("type") == JOB_EVENTS:
        share_event_times(raw.get("payload"))
    return raw


def share_event_times(payload: Any) -> None:
    """Replace each event's ``at`` text by the datetime pydantic parses it to, one object
    per distinct text; anything unexpected is left for the model to judge."""
    if not isinstance(payload, dict):
        return
    events = payload.get("events")
    if not isinstance(events, list):
        return
    parsed: dict[str, datetime | None] = {}
    for event in events:
        if not isinstance(event, dict):
            continue
        text = event.get("at")
        if not isinstance(text, str):
            continue
        if text not in parsed:
            parsed[text] = event_time(text)
        if (when := parsed[text]) is not None:
            event["at"] = when


@functools.lru_cache(maxsize=4096)
def event_time(text: str) -> datetime | None:
    """The datetime pydantic's validation parses ``text`` to, one shared object per
    recent text; None if it refuses the text."""
    try:
        return _DATETIME.validate_python(text)
    except ValidationError:
        return None
