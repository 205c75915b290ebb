"""What every renderer shares: phase colours and the text lines of a node."""

from __future__ import annotations

from collections.abc import Mapping

from .model import Graph, Node
from .phases import NodeStatus

#: fill and stroke per phase (light fills keep black text readable)
PHASE_COLORS: dict[str, tuple[str, str]] = {
    "Succeeded": ("#d4edda", "#2e7d32"),
    "Failed": ("#f8d7da", "#c62828"),
    "Error": ("#ffd8b0", "#d84315"),
    "Skipped": ("#eceff1", "#90a4ae"),
    "Omitted": ("#f5f5f5", "#bdbdbd"),
    "Running": ("#d6e9fb", "#1565c0"),
    "Pending": ("#fff8d6", "#f9a825"),
}
DEFAULT_COLORS = ("#ffffff", "#546e7a")
CLUSTER_COLORS = ("#f7f9fb", "#90a4ae")

Status = Mapping[tuple, NodeStatus]


def colors(node: Node, status: Status | None) -> tuple[str, str]:
    """(fill, stroke) of a node: by phase after a run, neutral before."""
    found = status.get(node.path) if status else None
    if found is not None:
        return PHASE_COLORS.get(found.phase, DEFAULT_COLORS)
    return CLUSTER_COLORS if node.is_cluster else DEFAULT_COLORS


def phase_of(node: Node, status: Status | None) -> str | None:
    found = status.get(node.path) if status else None
    return found.phase if found is not None else None


def title(node: Node) -> str:
    """The first line: name (with the count of a fan-out), marked when recursive."""
    label = node.label
    if node.kind == "recursion":
        label = f"↻ {label}"
    if node.is_cluster and node.path and node.template != node.name:
        label = f"{label} ({node.template})"
    return label


def lines(node: Node, status: Status | None, has_incoming: bool) -> list[str]:
    """Text lines of a node: title, its condition when no edge carries it, run summary."""
    if node.kind == "join":
        return []
    out = [title(node)]
    if node.when and not has_incoming:
        out.append(f"if {node.when}")
    found = status.get(node.path) if status else None
    if found is not None:
        if node.count or found.total > 1:
            out.append(found.summary())
        elif not node.is_cluster:
            out.append(found.phase)
    return out


def incoming(node: Node) -> set[str]:
    """Ids of the children of ``node`` that some edge points to."""
    return {e.dst for e in node.edges}


def used_phases(graph: Graph, status: Status | None) -> list[str]:
    """Phases present in a run, in legend order."""
    if not status:
        return []
    seen = {phase_of(n, status) for n in graph.nodes()}
    return [p for p in PHASE_COLORS if p in seen]
