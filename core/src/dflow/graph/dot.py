"""Graphviz DOT text (``wf.to_dot()``): clusters for Steps/DAG, conditions as edge labels.

An edge to or from a cluster is drawn to the cluster's border (``compound=true`` with
``lhead``/``ltail``) through an anchor node inside it.
"""

from __future__ import annotations

from . import style
from .model import Graph, Node


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _anchor(node: Node) -> str:
    """A node inside a cluster that edges can attach to (its first leaf, or its own point)."""
    if not node.is_cluster:
        return node.id
    for child in node.walk():
        if not child.is_cluster and child.kind != "join":
            return child.id
    return f"{node.id}_empty"


def render(graph: Graph, status: style.Status | None = None, rankdir: str = "TB") -> str:
    """The graph in the DOT language; coloured by phase when ``status`` is given."""
    out = [
        f"digraph {_quote(graph.root.name)} {{",
        f"  compound=true; rankdir={rankdir}; fontname=Helvetica;",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=11];',
        '  edge [fontname=Helvetica, fontsize=9, color="#78909c"];',
    ]

    def emit(node: Node, indent: str, has_incoming: bool) -> None:
        fill, stroke = style.colors(node, status)
        label = _quote("\n".join(style.lines(node, status, has_incoming)))
        if node.kind == "join":
            out.append(f'{indent}{node.id} [shape=point, width=0.08, color="#78909c"];')
            return
        if not node.is_cluster:
            shape = ", peripheries=2" if node.kind == "recursion" else ""
            out.append(
                f'{indent}{node.id} [label={label}, fillcolor="{fill}", color="{stroke}"{shape}];'
            )
            return
        out.append(f"{indent}subgraph cluster_{node.id} {{")
        out.append(
            f'{indent}  label={label}; style="rounded,filled"; fillcolor="{fill}"; '
            f'color="{stroke}";'
        )
        if not node.children:
            out.append(f"{indent}  {node.id}_empty [shape=point, style=invis];")
        targets = style.incoming(node)
        for child in node.children:
            emit(child, indent + "  ", child.id in targets)
        out.append(f"{indent}}}")
        by_id = {c.id: c for c in node.children}
        for e in node.edges:
            src, dst = by_id[e.src], by_id[e.dst]
            attrs = []
            if src.is_cluster:
                attrs.append(f"ltail=cluster_{src.id}")
            if dst.is_cluster:
                attrs.append(f"lhead=cluster_{dst.id}")
            if e.label:
                attrs.append(f"label={_quote(e.label)}")
            extra = f" [{', '.join(attrs)}]" if attrs else ""
            out.append(f"{indent}{_anchor(src)} -> {_anchor(dst)}{extra};")

    emit(graph.root, "  ", False)
    if graph.on_exit is not None:
        emit(graph.on_exit, "  ", True)
        tail = f"ltail=cluster_{graph.root.id}, " if graph.root.is_cluster else ""
        out.append(
            f"  {_anchor(graph.root)} -> {_anchor(graph.on_exit)} "
            f'[{tail}style=dashed, label="onExit"];'
        )
    out.append("}")
    return "\n".join(out) + "\n"
