"""Parser and evaluator for the subset of SAM's dimension language POMS writes.

Grammar (``and`` binds tighter than ``or``/``minus``; ``with`` applies to what precedes it)::

    expr    := chain (("or" | "union" | "minus") chain)* ("with" option)*
    chain   := primary (("and" | "intersect") primary)*
    primary := "(" expr ")" | ("isparentof:" | "ischildof:") "(" expr ")"
             | "defname:" NAME | KEY values | "file_name" ["like"] values
             | "create_date" OP VALUE
    option  := "availability" WORD | ("limit" | "offset" | "stride") INT

``consumed_status`` and ``process_status`` are project-relative: inside one ``and`` chain
they refer to the projects named by its ``project_name`` terms (every project otherwise),
which is how SAM reads ``project_name P and consumed_status …``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from poms_shared.domain.patterns import like

if TYPE_CHECKING:
    from poms_shared.testing.sam_world import SamWorld

_TOKEN = re.compile(r"\s*(?:('[^']*')|([(),])|(>=|<=|!=|>|<|=)|([^\s()',<>=!]+))")
_VALUE_KEYS = (
    "file_name",
    "version",
    "run_number",
    "snapshot_id",
    "snapshot_for_project_name",
    "project_name",
    "consumed_status",
    "process_status",
)
_NESTED = ("isparentof", "ischildof")
_MAX_DEPTH = 20  # definitions referring to definitions; deeper is a loop


class DimsSyntaxError(ValueError):
    """The dimension does not parse (SAM answers 400)."""


class UnknownDefinition(LookupError):
    """``defname:`` of a definition that does not exist (SAM answers 404)."""


@dataclass(frozen=True)
class Term:
    key: str
    values: tuple[str, ...]
    like: bool = False
    op: str = ""


@dataclass(frozen=True)
class Nested:
    relation: str
    inner: Node


@dataclass(frozen=True)
class Combine:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class AllOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class With:
    inner: Node
    option: str
    arg: str


Node = Term | Nested | Combine | AllOf | With


def tokens(text: str) -> list[str]:
    found, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise DimsSyntaxError(f"cannot read the dimension at {text[pos : pos + 20]!r}")
        found.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return found


def parse(text: str) -> Node:
    """The syntax tree of a dimension; DimsSyntaxError when it is not one."""
    parser = _Parser(tokens(text))
    node = parser.expr()
    if parser.pos != len(parser.items):
        raise DimsSyntaxError(f"unexpected {parser.items[parser.pos]!r}")
    return node


class _Parser:
    def __init__(self, items: list[str]) -> None:
        self.items, self.pos = items, 0

    def peek(self) -> str:
        return self.items[self.pos].lower() if self.pos < len(self.items) else ""

    def take(self, expected: str | None = None) -> str:
        if self.pos >= len(self.items):
            raise DimsSyntaxError(f"dimension ends early (wanted {expected or 'more'})")
        item = self.items[self.pos]
        if expected is not None and item.lower() != expected:
            raise DimsSyntaxError(f"expected {expected!r}, found {item!r}")
        self.pos += 1
        return item

    def expr(self) -> Node:
        node = self.chain()
        while self.peek() in ("or", "union", "minus"):
            op = "minus" if self.take() == "minus" else "or"
            node = Combine(op, node, self.chain())
        while self.peek() == "with":
            self.take()
            option = self.take().lower()
            if option not in ("availability", "limit", "offset", "stride"):
                raise DimsSyntaxError(f"unknown 'with' option {option!r}")
            node = With(node, option, self.take().lower())
        return node

    def chain(self) -> Node:
        items = [self.primary()]
        while self.peek() in ("and", "intersect"):
            self.take()
            items.append(self.primary())
        return items[0] if len(items) == 1 else AllOf(tuple(items))

    def primary(self) -> Node:
        word = self.take()
        if word == "(":
            node = self.expr()
            self.take(")")
            return node
        key, colon, rest = word.partition(":")
        key = key.lower()
        if colon and key in _NESTED and not rest:
            self.take("(")
            inner = self.expr()
            self.take(")")
            return Nested(key, inner)
        if colon and key == "defname":
            return Term("defname", (rest or self.take(),))
        if key == "create_date":
            op = self.take()
            if op not in (">", ">=", "<", "<=", "="):
                raise DimsSyntaxError(f"create_date needs a comparison, found {op!r}")
            return Term(key, (self.value(),), op=op)
        if key in _VALUE_KEYS and not colon:
            is_like = key == "file_name" and self.peek() == "like"
            if is_like:
                self.take()
            return Term(key, self.values(), like=is_like)
        raise DimsSyntaxError(f"unknown dimension {word!r}")

    def value(self) -> str:
        item = self.take()
        if item in ("(", ")", ","):
            raise DimsSyntaxError(f"expected a value, found {item!r}")
        return item[1:-1] if item.startswith("'") else item

    def values(self) -> tuple[str, ...]:
        found = [self.value()]
        while self.peek() == ",":
            self.take()
            found.append(self.value())
        return tuple(found)


def _matches(text: str | None, patterns: tuple[str, ...], wildcards: bool = True) -> bool:
    if text is None:
        return False
    return any(like(text, p) if wildcards and "%" in p else text == p for p in patterns)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DimsSyntaxError(f"bad date {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Evaluator:
    """Evaluates a syntax tree over one ``SamWorld``; results are sets of file names."""

    def __init__(self, world: SamWorld, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise DimsSyntaxError("definitions refer to each other in a loop")
        self.world, self.depth = world, depth

    def evaluate(self, node: Node, scope: tuple[str, ...] | None = None) -> set[str]:
        if isinstance(node, Combine):
            left, right = self.evaluate(node.left), self.evaluate(node.right)
            return left - right if node.op == "minus" else left | right
        if isinstance(node, AllOf):
            named = _projects_named(node.items)
            sets = [self.evaluate(item, named or None) for item in node.items]
            return set.intersection(*sets)
        if isinstance(node, Nested):
            return self._related(node.relation, self.evaluate(node.inner))
        if isinstance(node, With):
            return self._with(self.evaluate(node.inner, scope), node.option, node.arg)
        return self._term(node, scope)

    def _related(self, relation: str, found: set[str]) -> set[str]:
        files = self.world.files.values()
        if relation == "isparentof":  # the parents of the found files
            return {p for f in files if f.name in found for p in f.parents}
        return {f.name for f in files if found.intersection(f.parents)}

    def _with(self, found: set[str], option: str, arg: str) -> set[str]:
        if option == "availability":
            if arg in ("physical", "anylocation", "default"):
                return {n for n in found if self.world.files[n].locations}
            return found
        if not arg.isdigit():
            raise DimsSyntaxError(f"'with {option}' needs a number, not {arg!r}")
        ordered, n = sorted(found), int(arg)
        if option == "limit":
            return set(ordered[:n])
        if option == "offset":
            return set(ordered[n:])
        return set(ordered[:: max(n, 1)])

    def _term(self, term: Term, scope: tuple[str, ...] | None) -> set[str]:
        world, key, values = self.world, term.key, term.values
        files = world.files.values()
        if key == "defname":
            definition = world.definitions.get(values[0])
            if definition is None:
                raise UnknownDefinition(values[0])
            return Evaluator(world, self.depth + 1).evaluate(parse(definition.dims))
        if key == "file_name":
            if term.like:
                return {f.name for f in files if any(like(f.name, p) for p in values)}
            return {f.name for f in files if _matches(f.name, values)}
        if key == "version":
            return {f.name for f in files if _matches(f.version, values)}
        if key == "run_number":
            return {f.name for f in files if any(_run_matches(f.runs, v) for v in values)}
        if key == "create_date":
            return {f.name for f in files if _compare(f.created, term.op, _moment(values[0]))}
        if key == "snapshot_id":
            ids = [int(v) for v in values if v.isdigit()]
            return {n for i in ids for n in world.snapshots.get(i, [])}
        projects = [world.projects[p] for p in values if p in world.projects]
        if key == "snapshot_for_project_name":
            return {n for p in projects for n in world.snapshots[p.snapshot_id]}
        if key == "project_name":
            return {n for p in projects for n in p.deliveries}
        wanted = scope if scope is not None else tuple(world.projects)
        found = set()
        for proj in (world.projects[p] for p in wanted if p in world.projects):
            for name, (state, pid) in proj.deliveries.items():
                status = state if key == "consumed_status" else proj.processes.get(pid)
                if _matches(status, values):
                    found.add(name)
        return found


def _projects_named(items: tuple[Node, ...]) -> tuple[str, ...]:
    """The projects a chain's ``project_name`` terms name: the scope of its statuses."""
    terms = [t for t in items if isinstance(t, Term) and t.key == "project_name"]
    return tuple(v for t in terms for v in t.values)


def _run_matches(runs: list[tuple[int, int]], wanted: str) -> bool:
    run, _, subrun = wanted.partition(".")
    if not run.isdigit() or (subrun and not subrun.isdigit()):
        raise DimsSyntaxError(f"bad run number {wanted!r}")
    return any(r == int(run) and (not subrun or s == int(subrun)) for r, s in runs)


def _compare(moment: datetime, op: str, bound: datetime) -> bool:
    return {
        ">": moment > bound,
        ">=": moment >= bound,
        "<": moment < bound,
        "<=": moment <= bound,
        "=": moment == bound,
    }[op]
