"""The phases of a run, per graph node, from ``query_step()`` results (both engines).

Every queried step (an ``ArgoStep``) is placed on the graph by its *path*: the step names from
the workflow root, found through ``boundaryID`` (the enclosing Steps/DAG node) and the step name
that starts its ``displayName`` (``square(3:3)`` and retry attempts ``square(0)`` are instances
of ``square``). Fan-out items, retry attempts and loop groups fold onto one node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

PHASES = ("Succeeded", "Failed", "Error", "Skipped", "Running", "Pending", "Omitted")
#: node types that only group others (Argo: StepGroup per Steps group, TaskGroup per DAG loop)
GROUP_TYPES = ("StepGroup", "TaskGroup")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*")


def field(obj: Any, name: str, default: Any = None) -> Any:
    """A field of an ``ArgoStep`` (a dict with attribute access) or of a plain dict."""
    value = obj.get(name, default) if isinstance(obj, Mapping) else default
    return default if value is None else value


@attrs.frozen
class NodeStatus:
    """What a run did at one graph node: its instances' phases folded into one."""

    phase: str
    counts: dict[str, int]
    steps: tuple[Any, ...]

    @classmethod
    def of(cls, steps: Iterable[Any]) -> NodeStatus:
        """The folded status of ``steps``, the instances of one node (fan-out items, retry
        attempts, loop groups): the graph's pictures and ``dflow get``'s tree both use it."""
        steps = tuple(steps)
        counts: dict[str, int] = {}
        for s in steps:
            phase = field(s, "phase") or "Pending"
            counts[phase] = counts.get(phase, 0) + 1
        return cls(fold_phase(counts), counts, steps)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """``998 Succeeded, 2 Failed`` (most frequent first)."""
        ordered = sorted(self.counts.items(), key=lambda kv: (-kv[1], PHASES.index(kv[0])))
        return ", ".join(f"{n} {phase}" for phase, n in ordered)


def fold_phase(phases: Iterable[str]) -> str:
    """One phase for many instances: what needs attention first (running, then errors)."""
    seen = set(phases)
    for phase in ("Running", "Pending", "Error", "Failed", "Succeeded", "Skipped", "Omitted"):
        if phase in seen:
            return phase
    return "Pending"


def step_name(step: Any) -> str | None:
    """The step name of a queried node (``square`` for ``square(3:3)(0)``); None for a
    StepGroup (``[0]``)."""
    m = _NAME_RE.match(str(field(step, "displayName", "") or field(step, "name", "")))
    return m.group(0) if m else None


def _hook_suffix(step: Any, name: str) -> str:
    """``.onExit`` (or ``.hooks.running``...) when a node runs a hook of step ``name``."""
    display = str(field(step, "displayName", "") or "")
    rest = display[len(name) :] if display.startswith(name) else ""
    return rest if rest.startswith(".") else ""


def step_paths(steps: Iterable[Any], workflow_id: str | None = None) -> dict[str, tuple | None]:
    """Node id -> path of step names from the root (the root itself has path ``()``; None for
    a StepGroup or a node outside the workflow's tree).

    The workflow's exit handler has path ``("onExit",)``; a step's hook or exit handler gets
    its own path (``(..., "square.onExit")``), never counted as an instance of the step.
    """
    by_id = {field(s, "id"): s for s in steps}
    root = workflow_id if workflow_id in by_id else None
    if root is None:
        root = next(
            (
                i
                for i, s in by_id.items()
                if not field(s, "boundaryID")
                and field(s, "type") in ("Steps", "DAG")
                and not str(field(s, "displayName", "")).endswith(".onExit")
            ),
            None,
        )
    root_names = {workflow_id, field(by_id.get(root, {}), "displayName")} - {None}
    # an attempt of a retried step: Argo gives it no boundary when the entrypoint retries
    retried = {
        child: node_id
        for node_id, s in by_id.items()
        if field(s, "type") == "Retry"
        for child in field(s, "children", []) or []
    }
    paths: dict[str, tuple | None] = {}

    def path_of(node_id: str, depth: int = 0) -> tuple | None:
        if node_id in paths:
            return paths[node_id]
        node = by_id.get(node_id)
        if node is None or depth > 200:
            return None
        if node_id == root:
            paths[node_id] = ()
            return ()
        boundary = field(node, "boundaryID")
        display = str(field(node, "displayName", "") or "")
        name = step_name(node)
        retry = by_id.get(retried.get(node_id))
        if display.endswith(".onExit") and (not boundary or display[:-7] in root_names):
            found: tuple | None = ("onExit",)  # Argo: no boundary; local: under the root
        elif not boundary and retry is not None and step_name(retry) == name:
            found = path_of(retried[node_id], depth + 1)
        elif not boundary or name is None:
            return None  # a StepGroup (``[0]``) or a node outside the workflow's tree
        else:
            parent = by_id.get(boundary)
            base = path_of(boundary, depth + 1)
            if base is None:
                return None
            hook = _hook_suffix(node, name)
            same = parent is not None and field(parent, "type") in GROUP_TYPES
            # the local engine's loop items sit inside their group node, named like it
            if hook:
                found = (*base, name + hook)
            elif same and step_name(parent) == name:
                found = base
            else:
                found = (*base, name)
        paths[node_id] = found
        return found

    for node_id in by_id:
        path_of(node_id)
    return paths


def collect(steps: Iterable[Any], workflow_id: str | None = None) -> dict[tuple, NodeStatus]:
    """Path -> folded status of the nodes at that path."""
    steps = list(steps)
    paths = step_paths(steps, workflow_id)
    # a Retry node stands for its attempts (its children at the same path; a child at another
    # path is the step's hook or exit handler)
    attempts = {
        child
        for s in steps
        if field(s, "type") == "Retry"
        for child in field(s, "children", []) or []
        if paths.get(child) == paths.get(field(s, "id"))
    }
    instances: dict[tuple, list[Any]] = {}
    groups: dict[tuple, list[Any]] = {}
    for s in steps:
        path = paths.get(field(s, "id"))
        if path is None or field(s, "id") in attempts:
            continue
        kind = groups if field(s, "type") in GROUP_TYPES else instances
        kind.setdefault(path, []).append(s)
    out = {}
    for path in set(instances) | set(groups):
        out[path] = NodeStatus.of(instances.get(path) or groups[path])
    return out
