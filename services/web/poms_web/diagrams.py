"""Small server-drawn diagrams (inline SVG, readable and clickable without JavaScript):
a thing in the middle, what it comes from on the left, what follows it on the right."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

BOX_W, BOX_H = 170, 34  # a node's box
GAP_X, GAP_Y = 110, 14  # between columns, between boxes of a column
PAD = 8
CHARS = 22  # of a label that fit in a box; longer labels are cut with "…"


@dataclass(frozen=True)
class Node:
    label: str
    href: str | None = None
    kind: str = ""  # a CSS class: a status (``status-located``), ``current``, …
    title: str = ""  # shown on hover


@dataclass(frozen=True)
class Edge:
    node: Node
    label: str = ""  # along the arrow: file patterns, "recovery", …


def around(center: Node, left: list[Edge], right: list[Edge], caption: str) -> Markup:
    """``left`` → ``center`` → ``right`` as an SVG figure; ``caption`` names it for readers."""
    rows = max(len(left), len(right), 1)
    height = rows * (BOX_H + GAP_Y) - GAP_Y + 2 * PAD
    width = 3 * BOX_W + 2 * GAP_X + 2 * PAD
    mid_y = height / 2 - BOX_H / 2
    x_left, x_mid = PAD, PAD + BOX_W + GAP_X
    x_right = x_mid + BOX_W + GAP_X
    parts = [
        f'<svg class="diagram" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(caption)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for x_from, x_to, side, edges in (
        (x_left + BOX_W, x_mid, "left", left),
        (x_mid + BOX_W, x_right, "right", right),
    ):
        top = height / 2 - (len(edges) * (BOX_H + GAP_Y) - GAP_Y) / 2
        for index, edge in enumerate(edges):
            y = top + index * (BOX_H + GAP_Y)
            box_y, x_box = y, x_left if side == "left" else x_right
            y_from = (box_y if side == "left" else mid_y) + BOX_H / 2
            y_to = (mid_y if side == "left" else box_y) + BOX_H / 2
            parts.append(_arrow(x_from, y_from, x_to, y_to, edge.label))
            parts.append(_box(edge.node, x_box, box_y))
    parts.append(_box(center, x_mid, mid_y))
    parts.append("</svg>")
    return Markup("".join(parts))


def _arrow(x1: float, y1: float, x2: float, y2: float, label: str) -> str:
    line = (
        f'<line class="edge" x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
        'marker-end="url(#arrow)"/>'
    )
    if not label:
        return line
    tx, ty = (x1 + x2) / 2, (y1 + y2) / 2 - 4
    text = f'<text class="edge-label" x="{tx:.0f}" y="{ty:.0f}" text-anchor="middle">'
    return f"{line}{text}{escape(_cut(label, 18))}<title>{escape(label)}</title></text>"


def _box(node: Node, x: float, y: float) -> str:
    title = node.title or node.label
    shape = (
        f'<g class="node {escape(node.kind)}"><title>{escape(title)}</title>'
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="5"/>'
        f'<text x="{x + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle">'
        f"{escape(_cut(node.label, CHARS))}</text></g>"
    )
    if node.href is None:
        return shape
    return f'<a href="{escape(node.href)}">{shape}</a>'


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_kind(status: str) -> str:
    """The CSS class of a status label: "Awaiting Approval" → ``status-awaiting-approval``."""
    return "status-" + status.lower().replace(" ", "-")


def lineage(
    sid: int,
    stage: str,
    status: str,
    parent: dict[str, object] | None,
    parent_is_recovered: bool,
    recoveries: list[dict[str, object]],
    dependents: list[dict[str, object]],
    href: Callable[[int], str],
) -> Markup:
    """A submission between the one it recovers or processes the output of, and its
    recoveries and dependents."""

    def node(item: dict[str, object]) -> Node:
        label = f"{item['submission_id']} {item['stage']}"
        kind = status_kind(str(item["status"]))
        return Node(
            label, href(int(str(item["submission_id"]))), kind, f"{label}: {item['status']}"
        )

    left = []
    if parent is not None:
        left.append(Edge(node(parent), "recovers" if parent_is_recovered else "outputs"))
    right = [
        Edge(node(r), f"recovery {r['recovery_type']}" if r.get("recovery_type") else "recovery")
        for r in recoveries
    ] + [Edge(node(d), "outputs") for d in dependents]
    center = Node(f"{sid} {stage}", None, f"current {status_kind(status)}", f"{sid}: {status}")
    return around(center, left, right, f"Lineage of submission {sid}")


def stage_neighbours(
    name: str,
    upstream: list[dict[str, object]],
    downstream: list[dict[str, object]],
    href: Callable[[int], str],
) -> Markup:
    """A stage between the stages it takes files from and those it feeds."""
    left = [
        Edge(Node(str(d["upstream"]), href(int(str(d["upstream_id"])))), str(d["file_patterns"]))
        for d in upstream
    ]
    right = [
        Edge(
            Node(str(d["downstream"]), href(int(str(d["downstream_id"])))), str(d["file_patterns"])
        )
        for d in downstream
    ]
    return around(Node(name, None, "current"), left, right, f"Dependencies of stage {name}")


BAR_W, BAR_GAP, CHART_H = 26, 8, 120  # a week's bar, the space between, the plot height


def weekly_bars(weeks: list[dict[str, Any]], outcomes: tuple[str, ...], caption: str) -> Markup:
    """Stacked bars, one per week (``weeks``: ``{"week": "YYYY-MM-DD", outcome: n, …}``),
    each outcome a CSS class; the counts are in each bar's title, the total above it."""
    top = max((sum(int(w[o]) for o in outcomes) for w in weeks), default=0) or 1
    left, bottom = 30, CHART_H + 24
    width = left + len(weeks) * (BAR_W + BAR_GAP) + PAD
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {bottom + 8}" width="{width}" '
        f'height="{bottom + 8}" xmlns="http://www.w3.org/2000/svg"><title>{escape(caption)}</title>',
        f'<line class="axis" x1="{left}" y1="{CHART_H + 4}" x2="{width - PAD}" '
        f'y2="{CHART_H + 4}"/>',
        f'<text class="tick" x="{left - 4}" y="14" text-anchor="end">{top}</text>',
    ]
    for n, week in enumerate(weeks):
        x = left + n * (BAR_W + BAR_GAP)
        y = CHART_H + 4.0
        total = sum(int(week[o]) for o in outcomes)
        told = ", ".join(f"{o} {week[o]}" for o in outcomes if week[o])
        hover = f"week of {week['week']}: {told or 'none'}"
        parts.append(f"<g><title>{escape(hover)}</title>")
        for name in outcomes:
            height = int(week[name]) / top * CHART_H
            if height:
                y -= height
                parts.append(
                    f'<rect class="bar {escape(name.lower())}" x="{x}" y="{y:.1f}" '
                    f'width="{BAR_W}" height="{height:.1f}"/>'
                )
        if total:
            parts.append(
                f'<text class="total" x="{x + BAR_W / 2:.0f}" y="{y - 3:.0f}" '
                f'text-anchor="middle">{total}</text>'
            )
        label = escape(str(week["week"])[5:])  # MM-DD
        parts.append(
            f'<text class="tick" x="{x + BAR_W / 2:.0f}" y="{bottom}" '
            f'text-anchor="middle">{label}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
