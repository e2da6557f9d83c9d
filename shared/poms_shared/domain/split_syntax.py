"""Split-type expressions such as ``nfiles(10)``, ``mod_3`` or ``byrun(low=1,high=9)``.

Their syntax and parameters are checked wherever a stage is edited and when it launches.

Blanks and newlines anywhere are dropped first, so ``byrun( low=1, high=4 )`` means what it
says (the reference silently ignored such parameters). The type name is the text before the
first ``(`` or ``_``; ``name_<arg>`` is the same as ``name(<arg>)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class SplitError(ValueError):
    """A split-type expression or split data that cannot be used; the message says why."""


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split-type expression: the type name and its (already checked) parameters."""

    kind: str  # "none", "list", "nfiles", ...
    text: str  # the expression without blanks, for messages
    params: dict[str, int] = field(default_factory=dict)


NO_SPLIT = frozenset({"", "none"})
NO_PARAMS = frozenset({"list", "multiparam", "draining", "byexistingruns"})
ONE_COUNT = frozenset({"nfiles", "mod", "drainingn", "stagedfiles", "limitn"})
KINDS = frozenset({"none", "byrun", "new", *NO_PARAMS, *ONE_COUNT})

BYRUN_DEFAULTS = {"low": 1, "high": 999999}
NEW_DEFAULTS = {"window": 7 * 86400, "round": 1, "fts": 1800, "localtime": 0}
NEW_NAMES = frozenset({*NEW_DEFAULTS, "firsttime", "lasttime"})
UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(\d+(?:\.\d*)?)([wdhms]?)$")


def select_expression(split_type: str | None, test_split_type: str | None, test: bool) -> str:
    """The expression a launch uses: the test split type on test launches when it is set."""
    if test and test_split_type and test_split_type.strip():
        return test_split_type
    return split_type or ""


def parse_split_type(expression: str | None) -> SplitSpec:
    """Parse and check an expression; unknown types and bad parameters raise ``SplitError``."""
    text = "".join((expression or "").split())
    if text.lower() in NO_SPLIT:
        return SplitSpec("none", text)
    name, args = _name_and_args(text)
    if name == "new" and (args == "local" or args.startswith("local(")):
        params = _new_params(text, args[len("local") :].strip("()"))
        return SplitSpec("new", text, {**params, "localtime": 1})
    if name not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise SplitError(f"unknown split type {name!r} in {text!r} (known: {known})")
    if name in NO_PARAMS:
        if args:
            raise SplitError(f"split type {name} takes no parameters, got {args!r}")
        return SplitSpec(name, text)
    if name in ONE_COUNT:
        return SplitSpec(name, text, {"n": _count(name, args)})
    if name == "byrun":
        return SplitSpec(name, text, _byrun_params(text, args))
    return SplitSpec(name, text, _new_params(text, args))


def _name_and_args(text: str) -> tuple[str, str]:
    cut = min((i for i in (text.find("("), text.find("_")) if i >= 0), default=len(text))
    name, rest = text[:cut].lower(), text[cut:]
    if rest.startswith("_"):
        return name, rest[1:]
    if rest.startswith("("):
        if not rest.endswith(")"):
            raise SplitError(f"split type {name}: unbalanced parentheses in {text!r}")
        return name, rest[1:-1]
    return name, rest


def _count(name: str, args: str) -> int:
    if not args.isdigit() or int(args) <= 0:
        raise SplitError(
            f"split type {name}: unable to parse integer parameter {args!r} "
            "(expected a positive whole number)"
        )
    return int(args)


def _named(text: str, args: str, allowed: frozenset[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in filter(None, args.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise SplitError(f"{text}: parameter {item!r} is not of the form name=value")
        if key not in allowed:
            raise SplitError(f"{text}: unknown parameter {key!r} (allowed: {sorted(allowed)})")
        values[key] = value
    return values


def _byrun_params(text: str, args: str) -> dict[str, int]:
    raw = _named(text, args, frozenset(BYRUN_DEFAULTS))
    params = dict(BYRUN_DEFAULTS)
    for key, value in raw.items():
        if not value.lstrip("-").isdigit():
            raise SplitError(f"{text}: {key}={value!r} is not a whole number")
        params[key] = int(value)
    if params["low"] > params["high"]:
        raise SplitError(f"{text}: low={params['low']} is above high={params['high']}")
    return params


def _new_params(text: str, args: str) -> dict[str, int]:
    params = dict(NEW_DEFAULTS)
    for key, value in _named(text, args, NEW_NAMES).items():
        params[key] = _seconds(text, key, value)
    if params["window"] <= 0 or params["round"] <= 0:
        raise SplitError(f"{text}: window and round must be positive")
    return params


def _seconds(text: str, key: str, value: str) -> int:
    match = _DURATION.match(value)
    if match is None:
        raise SplitError(
            f"{text}: {key}={value!r} is not a duration (a number with optional w/d/h/m/s)"
        )
    return int(float(match.group(1)) * UNITS.get(match.group(2) or "s", 1))
