"""Step events from polled statuses: one :class:`StepEvent` per observed phase change.

An engine that learns about its workflows by polling (Argo; the local engine when another
process runs the workflow) hands each snapshot of the nodes to a :class:`PhaseTracker`, which
returns the changes since the previous snapshot in the order they happened, and delivers them
through :func:`emit`: the same ``dflow_step_event`` stream the local engine emits as it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .plugins.records import StepEvent

log = logging.getLogger(__name__)

HOLDERS = frozenset(("StepGroup", "TaskGroup", "Retry"))
TERMINAL = frozenset(("Succeeded", "Failed", "Error", "Skipped", "Omitted"))


def _field(node: Any, name: str) -> Any:
    if isinstance(node, Mapping):
        return node.get(name)
    return getattr(node, name, None)


def containers(nodes: Iterable[Any]) -> dict[str, str]:
    """Node id -> the node that contains it (absent for the root).

    Containment, not Argo's ``children`` graph, which also links a step to the group that runs
    after it: a Step/Task group's or a retry's children are inside it, any other node is inside
    its ``boundaryID`` (the Steps/DAG node whose template it runs in).
    """
    nodes = list(nodes)
    parents: dict[str, str] = {}
    for n in nodes:
        if _field(n, "type") in HOLDERS:
            for child in _field(n, "children") or ():
                parents[child] = _field(n, "id")
    for n in nodes:
        node_id, boundary = _field(n, "id"), _field(n, "boundaryID")
        if node_id not in parents and boundary and boundary != node_id:
            parents[node_id] = boundary
    return parents


class PhaseTracker:
    """Diffs successive snapshots of one workflow's nodes into step events.

    A node seen for the first time yields one event (its current phase); a node whose phase
    changed yields one; an unchanged node yields nothing, however often it is polled.
    """

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.phases: dict[str, str] = {}

    def changes(self, nodes: Iterable[Any]) -> list[StepEvent]:
        """The events between the last snapshot and ``nodes`` (Argo ``status.nodes`` values or
        :class:`~dflow.argo_objects.ArgoStep` objects), in the order they happened."""
        nodes = [n for n in nodes if _field(n, "id")]
        parents = containers(nodes)
        depth: dict[str, int] = {}

        def depth_of(node_id: str) -> int:
            d, seen = 0, node_id
            while seen in parents and d < 1000:  # a malformed cycle must not hang a poll
                seen = parents[seen]
                d += 1
            depth[node_id] = d
            return d

        found = []
        for n in nodes:
            node_id = _field(n, "id")
            phase = _field(n, "phase") or "Pending"
            if self.phases.get(node_id) == phase:
                continue
            self.phases[node_id] = phase
            terminal = phase in TERMINAL
            # parents open before their children and close after them; Argo stamps seconds
            when = (_field(n, "finishedAt") if terminal else _field(n, "startedAt")) or ""
            d = depth[node_id] if node_id in depth else depth_of(node_id)
            order = (when, terminal, -d if terminal else d)
            found.append((order, self._event(n, node_id, phase, parents.get(node_id))))
        found.sort(key=lambda pair: pair[0])
        return [event for _, event in found]

    def _event(self, n: Any, node_id: str, phase: str, parent: str | None) -> StepEvent:
        return StepEvent(
            workflow_id=self.workflow_id,
            step_id=node_id,
            name=_field(n, "displayName") or _field(n, "name") or node_id,
            phase=phase,
            key=_field(n, "key") or _key_param(n),
            type=_field(n, "type") or "Pod",
            message=_field(n, "message") or "",
            parent_id=parent,
            progress=_field(n, "progress") or "",
        )


def _key_param(node: Any) -> str | None:
    """An Argo node's step key: its ``dflow_key`` input parameter (as the renderer sets it)."""
    params = _field(_field(node, "inputs") or {}, "parameters") or ()
    if isinstance(params, Mapping):  # ArgoStep: keyed by name
        found = params.get("dflow_key")
        return (_field(found, "value") or None) if found is not None else None
    for p in params:  # Argo's status: a list of {name, value}
        if isinstance(p, Mapping) and p.get("name") == "dflow_key":
            return p.get("value") or None
    return None


def emit(events: Iterable[StepEvent]) -> None:
    """Deliver events to the ``dflow_step_event`` observers (none lost to a broken plugin)."""
    events = list(events)
    if not events:
        return
    from .plugins.manager import get_plugin_manager

    pm = get_plugin_manager()
    for event in events:
        pm.emit_step_event(event)
