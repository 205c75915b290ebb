"""Mermaid flowchart text (``wf.to_mermaid()``): clusters are subgraphs, conditions edge labels.

Labels are HTML-escaped (mermaid renders labels as HTML), ``#`` too: mermaid reads ``#name;``
as its own entity codes, which its renderer leaves mangled in edge labels (mermaid 11). So a
step name or a condition can never close a label or inject markup into the rendered page.
"""

from __future__ import annotations

from . import style
from .model import Graph, Node

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;", "#": "&num;"}
_ESCAPES["`"] = "&grave;"  # a leading backtick would start a markdown string


def _text(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def _label(lines: list[str]) -> str:
    return '"' + "<br/>".join(_text(line) for line in lines) + '"'


def render(graph: Graph, status: style.Status | None = None, direction: str = "TB") -> str:
    """The graph as a mermaid ``flowchart``; coloured by phase when ``status`` is given."""
    out = [f"flowchart {direction}"]
    classes: dict[str, list[str]] = {}

    def emit(node: Node, indent: str, has_incoming: bool) -> None:
        phase = style.phase_of(node, status)
        if phase:
            classes.setdefault(phase, []).append(node.id)
        if node.kind == "join":
            out.append(f"{indent}{node.id}(( ))")  # a small circle, as Argo's UI draws it
            return
        label = _label(style.lines(node, status, has_incoming))
        if not node.is_cluster:
            shape = f"[[{label}]]" if node.kind == "recursion" else f"[{label}]"
            out.append(f"{indent}{node.id}{shape}")
            return
        out.append(f"{indent}subgraph {node.id}[{label}]")
        out.append(f"{indent}  direction {direction}")
        targets = style.incoming(node)
        for child in node.children:
            emit(child, indent + "  ", child.id in targets)
        out.append(f"{indent}end")
        for e in node.edges:
            arrow = f"-->|{_label([e.label])}|" if e.label else "-->"
            out.append(f"{indent}{e.src} {arrow} {e.dst}")

    emit(graph.root, "  ", False)
    if graph.on_exit is not None:
        emit(graph.on_exit, "  ", True)
        out.append(f"  {graph.root.id} -.->|onExit| {graph.on_exit.id}")
    for phase in style.PHASE_COLORS:
        if phase in classes:
            fill, stroke = style.PHASE_COLORS[phase]
            out.append(f"  classDef {phase} fill:{fill},stroke:{stroke},color:#000")
            out.append(f"  class {','.join(classes[phase])} {phase}")
    return "\n".join(out) + "\n"
