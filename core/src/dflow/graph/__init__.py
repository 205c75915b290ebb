"""Pictures of workflows (mermaid, DOT, SVG) and the HTML report of a run.

``wf.to_mermaid()``, ``wf.to_dot()``, ``wf.to_svg()`` and ``wf.report(path)`` call in here;
so do ``dflow graph`` and ``dflow report``. Pass ``status=phases_of(wf)`` (or
``phases=True`` on the Workflow methods) to colour a graph by the phases of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Edge, Graph, Node, build_graph
    from .phases import NodeStatus, collect

__all__ = [
    "Edge",
    "Graph",
    "Node",
    "NodeStatus",
    "build_graph",
    "collect",
    "phases_of",
    "render",
]

FORMATS = ("mermaid", "dot", "svg")
# the model loads on first use, so `dflow --help` (which registers `dflow graph`) stays light
_LAZY = {
    "Edge": "model",
    "Graph": "model",
    "Node": "model",
    "build_graph": "model",
    "NodeStatus": "phases",
    "collect": "phases",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def phases_of(workflow: Any) -> dict[tuple, NodeStatus]:
    """The phases of a submitted workflow's steps, per graph path (``query_step()``)."""
    from .phases import collect

    return collect(workflow.query_step(), workflow.id)


def render(graph: Graph, fmt: str, status: dict[tuple, NodeStatus] | None = None) -> str:
    """``graph`` as ``mermaid``, ``dot`` or ``svg`` text."""
    from . import dot, mermaid, svg

    renderers = {"mermaid": mermaid.render, "dot": dot.render, "svg": svg.render}
    if fmt not in renderers:
        raise ValueError(f"unknown graph format {fmt!r}: use one of {', '.join(FORMATS)}")
    return renderers[fmt](graph, status)


def draw(source: Any, fmt: str, phases: bool | None = None) -> str:
    """A Workflow, Steps or DAG as ``fmt`` text. ``phases``: colour a workflow by its run's
    phases (default: when it has been submitted). A ``Workflow(id=...)`` handle without steps
    is drawn from what the engine reports."""
    from ..model.workflow import Workflow
    from .model import build_graph
    from .phases import collect

    if not isinstance(source, Workflow):
        return render(build_graph(source), fmt)
    if phases is None:
        phases = bool(source.id)
    steps = source.query_step() if phases else None
    status = collect(steps, source.id) if steps is not None else None
    if source.entrypoint is None and steps is not None:
        from .runtime import graph_from_steps

        return render(graph_from_steps(steps, source.id), fmt, status)
    return render(build_graph(source), fmt, status)
