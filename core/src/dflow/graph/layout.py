"""A small layered (Sugiyama-style) layout, so SVG needs nothing but Python.

Each cluster is laid out on its own, bottom up, and then placed as one box in its parent's
layout; edges only join siblings, so no edge crosses a cluster border. Within a cluster:
layers by longest path, a dummy point per layer an edge skips (so long edges route around the
nodes in between), a few barycenter sweeps to reduce crossings, rows centred.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from .model import Node

FONT_SIZE = 12
CHAR_WIDTH = 7.0  # average advance of the sans-serif font at FONT_SIZE (wide glyphs dominate)
LINE_HEIGHT = 16
NODE_PAD_X, NODE_PAD_Y = 12, 9
CLUSTER_PAD, HEADER = 14, 22
GAP_X, GAP_Y, LABEL_GAP = 22, 34, 18
DUMMY_WIDTH = 6
JOIN_SIZE = 8
SWEEPS = 4


@attrs.define
class Route:
    """An edge's polyline (absolute after :func:`place`) and its label."""

    points: list[tuple[float, float]]
    label: str | None
    label_at: tuple[float, float] = (0.0, 0.0)  # start of the label's baseline
    arrow: bool = True  # no arrowhead into a join point


@attrs.define
class Box:
    """A laid out node: position relative to its parent until placed."""

    node: Node
    lines: list[str]
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    children: list[Box] = attrs.Factory(list)
    routes: list[Route] = attrs.Factory(list)


def text_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def _layers(node: Node) -> dict[str, int]:
    """Longest-path layering; an edge closing a cycle (never valid, but drawable) is ignored."""
    preds: dict[str, list[str]] = {c.id: [] for c in node.children}
    for e in node.edges:
        preds[e.dst].append(e.src)
    layer: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(n: str) -> int:
        if n in layer:
            return layer[n]
        visiting.add(n)
        ranks = [visit(p) + 1 for p in preds[n] if p not in visiting]
        visiting.discard(n)
        layer[n] = max(ranks, default=0)
        return layer[n]

    for child in node.children:
        visit(child.id)
    return layer


def _order(rows: list[list[str]], links: list[tuple[str, str]]) -> None:
    """Barycenter sweeps: each row sorted by the mean position of its neighbours."""
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for a, b in links:
        down.setdefault(a, []).append(b)
        up.setdefault(b, []).append(a)

    def sweep(row: list[str], fixed: list[str], nbrs: dict[str, list[str]]) -> None:
        pos = {n: i for i, n in enumerate(fixed)}
        keys = {}
        for i, n in enumerate(row):
            near = [pos[m] for m in nbrs.get(n, []) if m in pos]
            keys[n] = sum(near) / len(near) if near else i
        row.sort(key=lambda n: keys[n])

    for _ in range(SWEEPS):
        for i in range(1, len(rows)):
            sweep(rows[i], rows[i - 1], up)
        for i in range(len(rows) - 2, -1, -1):
            sweep(rows[i], rows[i + 1], down)


def layout(
    node: Node, lines_of: Callable[[Node, bool], list[str]], has_incoming: bool = False
) -> Box:
    """Lay out ``node`` and everything inside it; ``lines_of(node, has_incoming)`` gives the
    text lines of each node."""
    lines = lines_of(node, has_incoming)
    if node.kind == "join":
        return Box(node, lines, w=JOIN_SIZE, h=JOIN_SIZE)
    if not node.is_cluster:
        w = max(60.0, max(text_width(t) for t in lines) + 2 * NODE_PAD_X)
        return Box(node, lines, w=w, h=len(lines) * LINE_HEIGHT + 2 * NODE_PAD_Y)
    targets = {e.dst for e in node.edges}
    boxes = {c.id: layout(c, lines_of, c.id in targets) for c in node.children}
    layer = _layers(node)
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for child in node.children:
        rows[layer[child.id]].append(child.id)
    # dummies: an edge over k layers becomes k+1 links through k-1 points
    chains: list[tuple[list[str], str | None]] = []
    links: list[tuple[str, str]] = []
    for i, e in enumerate(node.edges):
        if layer[e.dst] <= layer[e.src]:
            continue
        chain = [e.src]
        for k in range(layer[e.src] + 1, layer[e.dst]):
            dummy = f"~{i}.{k}"
            rows[k].append(dummy)
            chain.append(dummy)
        chain.append(e.dst)
        chains.append((chain, e.label))
        links += list(zip(chain, chain[1:], strict=False))
    _order(rows, links)
    labelled = {layer[e.dst] for e in node.edges if e.label}
    header = HEADER + (len(lines) - 1) * LINE_HEIGHT
    size = {
        n: (boxes[n].w, boxes[n].h) if n in boxes else (DUMMY_WIDTH, 0.0) for r in rows for n in r
    }
    row_w = [sum(size[n][0] for n in r) + GAP_X * max(len(r) - 1, 0) for r in rows]
    inner_w = max([*row_w, max(text_width(t) for t in lines)], default=0.0)
    centre: dict[str, tuple[float, float, float]] = {}  # id -> (x centre, top, bottom)
    y: float = header + CLUSTER_PAD
    for k, row in enumerate(rows):
        if k in labelled:
            y += LABEL_GAP
        height = max((size[n][1] for n in row), default=0.0)
        x = CLUSTER_PAD + (inner_w - row_w[k]) / 2
        for n in row:
            w, h = size[n]
            top = y + (height - h) / 2
            if n in boxes:
                boxes[n].x, boxes[n].y = x, top
            centre[n] = (x + w / 2, top, top + h)
            x += w + GAP_X
        y += height + GAP_Y
    box = Box(node, lines, w=inner_w + 2 * CLUSTER_PAD, h=y - GAP_Y + CLUSTER_PAD)
    box.children = [boxes[c.id] for c in node.children]
    for chain, label in chains:
        pts = [(centre[chain[0]][0], centre[chain[0]][2])]
        for dummy in chain[1:-1]:
            cx, top, _ = centre[dummy]
            pts.append((cx, top))
        pts.append((centre[chain[-1]][0], centre[chain[-1]][1]))
        (x1, y1), (x2, y2) = pts[-2], pts[-1]
        at = (x1 + (x2 - x1) * 0.75 + 4, y1 + (y2 - y1) * 0.75)
        if label:  # the cluster grows to hold a label that passes its right edge
            box.w = max(box.w, at[0] + text_width(label) * 0.85 + CLUSTER_PAD)
        into_join = chain[-1] in boxes and boxes[chain[-1]].node.kind == "join"
        box.routes.append(Route(pts, label, at, arrow=not into_join))
    return box


def place(box: Box, dx: float = 0.0, dy: float = 0.0) -> None:
    """Turn relative positions into absolute ones (in place)."""
    box.x += dx
    box.y += dy
    for route in box.routes:
        route.points = [(x + box.x, y + box.y) for x, y in route.points]
        route.label_at = (route.label_at[0] + box.x, route.label_at[1] + box.y)
    for child in box.children:
        place(child, box.x, box.y)
