"""The .ini error type, and converters from raw value text to typed values (``ValueError``)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from poms_shared.domain.split_syntax import parse_split_type
from poms_shared.ini.model import (
    COMPLETION_TYPES,
    STAGE_TYPES,
    Pair,
    Pairs,
    Recovery,
    clean_text,
)

# Spellings meaning "not set" for typed keys: the original exporter writes Python's None for
# campaign defaults it does not have, and JSON columns may hold null.
UNSET_WORDS = frozenset({"", "None", "null"})
_PAIRS = "a JSON list of [key, value] pairs"


class IniError(ValueError):
    """A campaign file problem, naming the section and key it was found in."""

    def __init__(
        self,
        message: str,
        *,
        section: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.section = section
        self.key = key
        self.line = line

    def __str__(self) -> str:
        where = f"[{self.section}] " if self.section is not None else ""
        what = f"{self.key}: " if self.key is not None else ""
        return f"{where}{what}{self.message}"


def _show(raw: str) -> str:
    text = raw.strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON and would not survive a write/read round trip.
    raise ValueError(name)


def _json(raw: str, expected: str) -> Any:
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        raise ValueError(f"must be {expected}, got {_show(raw)}") from None


def as_bool(raw: str) -> bool:
    """``True``/``true`` or ``False``/``false``."""
    value = raw.strip()
    if value in ("True", "true"):
        return True
    if value in ("False", "false"):
        return False
    raise ValueError(f"must be True or False, got {_show(raw)}")


def as_state(raw: str) -> bool:
    """Campaign state ``Active``/``Inactive`` (any case) as "is active"; empty means active."""
    value = raw.strip().lower()
    if value in ("", "active"):
        return True
    if value == "inactive":
        return False
    raise ValueError(f"must be Active or Inactive, got {_show(raw)}")


def _choice(raw: str, options: tuple[str, ...]) -> str:
    value = raw.strip()
    if value not in options:
        raise ValueError(f"must be one of {', '.join(options)}, got {_show(raw)}")
    return value


def as_choice_completion(raw: str) -> str:
    """A completion type: ``located`` or ``complete``."""
    return _choice(raw, COMPLETION_TYPES)


def as_choice_stage_type(raw: str) -> str:
    """A stage type: test, generator, approval, regular or datatransfer."""
    return _choice(raw, STAGE_TYPES)


def as_split_type(raw: str) -> str:
    """A split-type expression whose type and parameters are known (``SplitError`` if not)."""
    parse_split_type(raw)
    return raw.strip()


def as_percent(raw: str) -> float:
    """A completion percentage, 0 < pct <= 100."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= 100:  # NaN fails this comparison too
        raise ValueError(f"must be a number between 0 and 100, got {_show(raw)}")
    return value


def as_depth(raw: str) -> int:
    """An output ancestor depth: a whole number of at least 1."""
    value = raw.strip()
    if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
        raise ValueError(f"must be a whole number of at least 1, got {_show(raw)}")
    return int(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _pairs_from(value: Any, raw: str, expected: str) -> Pairs:
    if isinstance(value, str):
        # Some older files and JSON columns hold the list JSON-encoded a second time ("[]").
        value = _json(value, expected)
    if not isinstance(value, list):
        raise ValueError(f"must be {expected}, got {_show(raw)}")
    pairs: list[Pair] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"must be {expected}, got {_show(raw)}")
        if not _is_scalar(item[1]):
            raise ValueError(f"must be {expected} with plain values, got {_show(raw)}")
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def as_pairs(raw: str) -> Pairs | None:
    """``[[key, value], ...]`` as a tuple of pairs; ``None`` when not set."""
    if raw.strip() in UNSET_WORDS:
        return None
    return _pairs_from(_json(raw, _PAIRS), raw, _PAIRS)


def as_recoveries(raw: str) -> tuple[Recovery, ...]:
    """``[[recovery type, [[key, value], ...]], ...]``; empty when not set."""
    expected = "a JSON list of [recovery type, [[key, value], ...]] entries"
    if raw.strip() in UNSET_WORDS:
        return ()
    value = _json(raw, expected)
    if not isinstance(value, list):
        raise ValueError(f"must be {expected}, got {_show(raw)}")
    plan: list[Recovery] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"must be {expected}, got {_show(raw)}")
        if not clean_text(item[0]):
            raise ValueError(f"names an empty recovery type in {_show(raw)}")
        plan.append((item[0], _pairs_from(item[1] or [], raw, expected)))
    return tuple(plan)


def as_keywords(raw: str) -> dict[str, Any]:
    """Campaign keywords: a JSON object; empty when not set."""
    if raw.strip() in UNSET_WORDS:
        return {}
    value = _json(raw, "a JSON object")
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object, got {_show(raw)}")
    return value


def as_position(raw: str) -> tuple[str, float, float]:
    """A node position ``["<label>", x, y]``."""
    expected = 'a JSON list ["<node label>", x, y]'
    value = _json(raw, expected)
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)):
        raise ValueError(f"must be {expected}, got {_show(raw)}")
    label, x, y = value
    for number in (x, y):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"must be {expected} with numeric x and y, got {_show(raw)}")
        if not math.isfinite(number):
            raise ValueError(f"must have finite x and y, got {_show(raw)}")
    if not clean_text(label):
        raise ValueError(f"names an empty node label in {_show(raw)}")
    return clean_text(label), float(x), float(y)
