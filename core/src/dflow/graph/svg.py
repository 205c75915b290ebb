"""SVG pictures (``wf.to_svg()``) from our own layout (:mod:`dflow.graph.layout`): no Graphviz.

All text is XML-escaped; each node carries a ``<title>`` (its path and phase) as tooltip and
``data-path``/``data-phase`` attributes, so a page (the HTML report) can find it.
"""

from __future__ import annotations

from html import escape

from . import style
from .layout import FONT_SIZE, HEADER, LINE_HEIGHT, NODE_PAD_Y, Box, Route, layout, place
from .model import Graph

MARGIN = 12
LEGEND_HEIGHT = 26

_CSS = (
    "text{font-family:Helvetica,Arial,sans-serif;font-size:%dpx;fill:#1f2933}"
    ".cluster>text.title{font-weight:bold}"
    ".edge{fill:none;stroke:#78909c;stroke-width:1.3}"
    ".edge-label{font-size:10px;fill:#37474f}"
    ".recursion rect{stroke-dasharray:4 2}"
) % FONT_SIZE


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _tooltip(box: Box, status: style.Status | None) -> str:
    node = box.node
    text = "/".join(node.path) or node.name
    text += f" (template {node.template})"
    found = status.get(node.path) if status else None
    if found is not None:
        text += f": {found.summary()}"
    return f"<title>{escape(text)}</title>"


def _node(box: Box, status: style.Status | None, out: list[str]) -> None:
    node = box.node
    if node.kind == "join":
        r = box.w / 2
        out.append(
            f'<circle class="join" cx="{_fmt(box.x + r)}" cy="{_fmt(box.y + r)}" r="{_fmt(r)}"'
            ' fill="#78909c"/>'
        )
        return
    fill, stroke = style.colors(node, status)
    phase = style.phase_of(node, status)
    kind = "cluster" if node.is_cluster else "node"
    cls = f"{kind} {node.kind}" + (f" phase-{phase}" if phase else "")
    out.append(
        f'<g class="{cls}" data-path="{escape("/".join(node.path))}"'
        f' data-phase="{escape(phase or "")}">'
    )
    out.append(_tooltip(box, status))
    radius = 8 if node.is_cluster else 6
    out.append(
        f'<rect x="{_fmt(box.x)}" y="{_fmt(box.y)}" width="{_fmt(box.w)}" height="{_fmt(box.h)}"'
        f' rx="{radius}" fill="{fill}" stroke="{stroke}" stroke-width="1.4"/>'
    )
    if node.is_cluster:
        y = box.y + HEADER - 6
        for i, line in enumerate(box.lines):
            cls = ' class="title"' if i == 0 else ""
            out.append(f'<text x="{_fmt(box.x + 10)}" y="{_fmt(y)}"{cls}>{escape(line)}</text>')
            y += LINE_HEIGHT
    else:
        y = box.y + NODE_PAD_Y + LINE_HEIGHT - 4
        for line in box.lines:
            out.append(
                f'<text x="{_fmt(box.x + box.w / 2)}" y="{_fmt(y)}"'
                f' text-anchor="middle">{escape(line)}</text>'
            )
            y += LINE_HEIGHT
    out.append("</g>")
    for child in box.children:
        _node(child, status, out)
    for route in box.routes:
        _edge(route, out)


def _edge(route: Route, out: list[str]) -> None:
    pts = route.points
    if len(pts) == 2:
        (x1, y1), (x2, y2) = pts
        mid = (y1 + y2) / 2
        d = (
            f"M{_fmt(x1)},{_fmt(y1)} C{_fmt(x1)},{_fmt(mid)} {_fmt(x2)},{_fmt(mid)} "
            f"{_fmt(x2)},{_fmt(y2)}"
        )
    else:
        d = "M" + " L".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pts)
    marker = ' marker-end="url(#arrow)"' if route.arrow else ""
    out.append(f'<path class="edge" d="{d}"{marker}/>')
    if route.label:
        x, y = route.label_at
        out.append(
            f'<text class="edge-label" x="{_fmt(x)}" y="{_fmt(y)}">{escape(route.label)}</text>'
        )


def render(graph: Graph, status: style.Status | None = None) -> str:
    """A standalone SVG document of the graph; coloured by phase when ``status`` is given."""

    def lines_of(node, has_incoming):
        return style.lines(node, status, has_incoming)

    boxes = [layout(graph.root, lines_of)]
    if graph.on_exit is not None:
        boxes.append(layout(graph.on_exit, lines_of, True))
    y: float = MARGIN
    for box in boxes:
        place(box, MARGIN, y)
        y += box.h + 20
    phases = style.used_phases(graph, status)
    legend_width = sum(30 + len(p) * 7 for p in phases)
    width = max(max(b.w for b in boxes), legend_width) + 2 * MARGIN
    height = y - 20 + MARGIN + (LEGEND_HEIGHT if phases else 0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(width)}" height="{_fmt(height)}"'
        f' viewBox="0 0 {_fmt(width)} {_fmt(height)}" role="img">',
        f"<desc>{escape(graph.root.name)}</desc>",
        f"<style>{_CSS}</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"'
        ' fill="#78909c"/></marker></defs>',
    ]
    for box in boxes:
        _node(box, status, out)
    x = MARGIN
    for phase in phases:
        fill, stroke = style.PHASE_COLORS[phase]
        ly = height - LEGEND_HEIGHT + 6
        out.append(
            f'<g class="legend"><rect x="{_fmt(x)}" y="{_fmt(ly)}" width="14" height="14" rx="3"'
            f' fill="{fill}" stroke="{stroke}"/><text x="{_fmt(x + 19)}" y="{_fmt(ly + 11)}">'
            f"{phase}</text></g>"
        )
        x += 30 + len(phase) * 7
    out.append("</svg>")
    return "\n".join(out) + "\n"
