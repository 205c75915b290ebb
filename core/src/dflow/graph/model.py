"""The graph of a workflow as pictures show it: one node per step, clusters for Steps/DAG.

Built from the model before a run (:func:`build_graph`); the renderers (mermaid, dot, svg)
draw it, optionally coloured by the phases of a run (:mod:`dflow.graph.phases`). A fan-out is
ONE node with a count (``square ×1000``, or ``×N`` when the count comes from a parameter),
so the graph of a 10,000-slice workflow is as small as its source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import attrs

#: node kinds: a leaf step, a nested Steps or DAG (drawn as a cluster), a recursive call, and
#: the point where a group of parallel steps joins before the next group (not a step)
KINDS = ("op", "steps", "dag", "recursion", "join")


@attrs.frozen
class Edge:
    """``src`` -> ``dst`` (ids of sibling nodes), with the ``when`` of ``dst`` as label."""

    src: str
    dst: str
    label: str | None = None


@attrs.frozen
class Node:
    """A step (or the workflow itself, path ``()``); clusters hold children and their edges."""

    id: str
    path: tuple[str, ...]
    name: str
    template: str
    kind: str
    count: str | None = None
    when: str | None = None
    children: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()

    @property
    def is_cluster(self) -> bool:
        return self.kind in ("steps", "dag")

    @property
    def label(self) -> str:
        """``name`` plus the fan-out count (``square ×1000``)."""
        return f"{self.name} ×{self.count}" if self.count else self.name

    def walk(self) -> Iterator[Node]:
        """This node and every node inside it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@attrs.frozen
class Graph:
    """A workflow's graph: the root node is the entrypoint, named after the workflow."""

    root: Node
    on_exit: Node | None = None

    def nodes(self) -> Iterator[Node]:
        yield from self.root.walk()
        if self.on_exit is not None:
            yield from self.on_exit.walk()


# -- readable labels -------------------------------------------------------------------------

_REF_RE = re.compile(
    r"\{\{\s*(?:(steps|tasks)\.([-\w]+)\.outputs\.(?:parameters|artifacts)\.([-\w]+)"
    r"|(inputs|workflow)\.parameters\.([-\w]+)|(item(?:\.[-\w]+)?))\s*\}\}"
)


def _short_ref(m: re.Match) -> str:
    if m.group(1):
        return f"{m.group(2)}.{m.group(3)}"
    if m.group(4):
        return m.group(5) if m.group(4) == "inputs" else f"workflow.{m.group(5)}"
    return m.group(6)


def condition_text(when: Any, limit: int = 48) -> str:
    """A ``when`` as a short label: references shortened (``{{steps.a.outputs.parameters.x}}``
    reads ``a.x``), long expressions cut with an ellipsis."""
    text = _REF_RE.sub(_short_ref, str(when)).strip()
    if text.startswith("{{=") and text.endswith("}}"):
        text = text[3:-2].strip()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fanout_count(step: Any) -> str | None:
    """How many items a step fans out to: digits when known before the run, ``N`` when a
    parameter or an earlier step decides, None when the step does not fan out."""
    from ..model.helpers import ArgoRange, ArgoSequence

    loop = step.with_param if step.with_param is not None else step.with_sequence
    if loop is None:
        return "N" if getattr(step.slices, "sub_path", False) else None
    if isinstance(loop, ArgoRange):
        items = loop.static_items()
        return str(len(items)) if items is not None else "N"
    if isinstance(loop, list | tuple):
        return str(len(loop))
    if isinstance(loop, ArgoSequence):
        return _sequence_count(loop)
    if isinstance(loop, str):
        try:
            items = json.loads(loop)
        except ValueError:
            return "N"
        return str(len(items)) if isinstance(items, list) else "N"
    return "N"


def _sequence_count(seq: Any) -> str:
    def literal(v: Any) -> int | None:
        try:
            return int(v) if isinstance(v, int | str) and not isinstance(v, bool) else None
        except ValueError:
            return None

    if seq.count is not None:
        n = literal(seq.count)
        return "N" if n is None else str(n)
    start, end = literal(seq.start if seq.start is not None else 0), literal(seq.end)
    if start is None or end is None:
        return "N"
    return str(abs(end - start) + 1)


def link_groups(
    groups: list[list[Node]], new_id: Any, path: tuple[str, ...]
) -> tuple[list[Node], list[Edge]]:
    """Edges that run the groups of a Steps template in order. Between two groups of several
    steps, a join point replaces the every-to-every edges (as Argo's UI draws its StepGroup)."""
    joins: list[Node] = []
    edges: list[Edge] = []
    for i, (before, after) in enumerate(zip(groups, groups[1:], strict=False)):
        if len(before) > 1 and len(after) > 1:
            join = Node(new_id(), (*path, f"[{i}]"), "", "", "join")
            joins.append(join)
            edges += [Edge(a.id, join.id) for a in before]
            edges += [Edge(join.id, b.id, b.when) for b in after]
        else:
            edges += [Edge(a.id, b.id, b.when) for b in after for a in before]
    return joins, edges


# -- building from the model -----------------------------------------------------------------


class _Builder:
    def __init__(self) -> None:
        self.counter = 0
        self.stack: list[int] = []  # ids of the templates being expanded (recursion guard)

    def new_id(self) -> str:
        self.counter += 1
        return f"n{self.counter}"

    def template_node(self, template: Any, path: tuple[str, ...], name: str, **extra: Any) -> Node:
        from ..model.dag import DAG
        from ..model.steps import Steps

        node_id = self.new_id()
        if not isinstance(template, Steps | DAG):
            return Node(node_id, path, name, template.name, "op", **extra)
        if id(template) in self.stack:
            return Node(node_id, path, name, template.name, "recursion", **extra)
        self.stack.append(id(template))
        try:
            if isinstance(template, Steps):
                children, edges = self.steps_body(template, path)
                kind = "steps"
            else:
                children, edges = self.dag_body(template, path)
                kind = "dag"
        finally:
            self.stack.pop()
        return Node(
            node_id, path, name, template.name, kind, children=children, edges=edges, **extra
        )

    def step_node(self, step: Any, path: tuple[str, ...]) -> Node:
        when = condition_text(step.when) if step.when is not None else None
        return self.template_node(
            step.template, (*path, step.name), step.name, count=fanout_count(step), when=when
        )

    def steps_body(self, steps: Any, path: tuple[str, ...]) -> tuple[tuple[Node, ...], tuple]:
        groups = [[self.step_node(s, path) for s in group] for group in steps.steps]
        # groups run in order: every step of a group waits for the whole group before it
        joins, edges = link_groups(groups, self.new_id, path)
        return tuple(n for group in groups for n in group) + tuple(joins), tuple(edges)

    def dag_body(self, dag: Any, path: tuple[str, ...]) -> tuple[tuple[Node, ...], tuple]:
        nodes = {t.name: self.step_node(t, path) for t in dag.tasks}
        edges = [
            Edge(nodes[dep].id, nodes[t.name].id, nodes[t.name].when)
            for t in dag.tasks
            for dep in sorted(t.dependency_names())
            if dep in nodes
        ]
        return tuple(nodes.values()), tuple(edges)


def build_graph(source: Any) -> Graph:
    """The graph of a :class:`~dflow.Workflow`, or of a Steps/DAG template."""
    from ..model.dag import DAG
    from ..model.steps import Steps
    from ..model.workflow import Workflow

    builder = _Builder()
    if isinstance(source, Workflow):
        if source.entrypoint is None:
            raise ValueError(f"workflow '{source.name}' has no steps: add some to draw it")
        root = builder.template_node(source.entrypoint, (), source.name)
        on_exit = None
        if source.on_exit is not None:
            on_exit = builder.template_node(source.on_exit, ("onExit",), "onExit")
        return Graph(root, on_exit)
    if isinstance(source, Steps | DAG):
        return Graph(builder.template_node(source, (), source.name))
    raise TypeError(
        f"cannot draw a {type(source).__name__}: give a Workflow, Steps or DAG "
        "(an OP template alone is a single step)"
    )
