"""The graph of a run known only by its id (``dflow graph ID``), from ``query_step()`` alone.

Without the Workflow object, the structure comes from the queried nodes: nesting from their
paths (:mod:`dflow.graph.phases`), the order of a Steps template's groups from the ``[i]`` in
node names, DAG dependencies from Argo's ``children`` links between sibling tasks (the local
engine does not record them: its DAG tasks are drawn without edges). Conditions are not
recorded by either engine, so edges carry no labels.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

from .model import Edge, Graph, Node, link_groups
from .phases import GROUP_TYPES, collect, field, step_paths

_ITEM_RE = re.compile(r"\(\d+:")
EXIT = ("onExit",)  # the workflow's exit handler (see phases.step_paths)


def _group_index(step: Any, name: str) -> int:
    """The Steps group a node ran in: the ``[i]`` just before its name in ``wf[0].a[1].b``."""
    found = re.findall(r"\[(\d+)\]\." + re.escape(name) + r"(?:\(|$)", str(field(step, "name", "")))
    return int(found[-1]) if found else 0


def graph_from_steps(
    steps: Iterable[Any], workflow_id: str | None = None, name: str | None = None
) -> Graph:
    """A graph of what ran: one node per step path, fan-outs folded with their item count."""
    steps = list(steps)
    status = collect(steps, workflow_id)
    paths = step_paths(steps, workflow_id)
    ids: dict[tuple, str] = {path: f"n{i}" for i, path in enumerate(sorted(status, key=len))}
    join_ids = itertools.count()
    at_path: dict[tuple, list[Any]] = {}
    for s in steps:
        at = paths.get(field(s, "id"))
        if at is not None:
            at_path.setdefault(at, []).append(s)
    kids: dict[tuple, list[tuple]] = {}
    for path in status:
        if path and path != EXIT:
            kids.setdefault(path[:-1], []).append(path)

    def kind_of(path: tuple) -> str:
        types = {field(s, "type") for s in status[path].steps}
        return "steps" if "Steps" in types else "dag" if "DAG" in types else "op"

    def first(path: tuple) -> Any:
        return status[path].steps[0]

    def build(path: tuple) -> Node:
        found = status[path]
        looped = any(
            field(s, "type") in GROUP_TYPES or _ITEM_RE.search(str(field(s, "displayName", "")))
            for s in found.steps
        )
        count = str(found.total) if looped and path else None
        kind = kind_of(path)
        children = sorted(
            kids.get(path, []),
            key=lambda p: (_group_index(first(p), p[-1]), str(field(first(p), "startedAt", ""))),
        )
        nodes = [build(p) for p in children] if kind != "op" else []
        edges: list[Edge] = []
        if kind == "steps":
            groups: dict[int, list[Node]] = {}
            for p, n in zip(children, nodes, strict=True):
                groups.setdefault(_group_index(first(p), p[-1]), []).append(n)
            ordered = [groups[k] for k in sorted(groups)]
            joins, edges = link_groups(ordered, lambda: f"j{next(join_ids)}", path)
            nodes += joins
        elif kind == "dag":
            sibling = {p: n for p, n in zip(children, nodes, strict=True)}
            seen = set()
            for p, n in sibling.items():
                for s in at_path.get(p, ()):  # retry attempts link to dependents too
                    for child in field(s, "children", []) or []:
                        to = paths.get(child)
                        target = sibling.get(to) if to is not None else None
                        if target is not None and target is not n and (n.id, target.id) not in seen:
                            seen.add((n.id, target.id))
                            edges.append(Edge(n.id, target.id))
        template = str(field(first(path), "templateName", "") or "")
        label = path[-1] if path else (name or workflow_id or template)
        return Node(ids[path], path, label, template, kind, count, None, tuple(nodes), tuple(edges))

    if () not in status:
        raise ValueError(
            f"workflow {workflow_id or ''}: no steps reported yet (pending?); try again later"
        )
    return Graph(build(()), build(EXIT) if EXIT in status else None)
