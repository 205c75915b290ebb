"""Nodes of ``status.nodes`` as Argo's controller names, identifies and updates them.

Each function follows one rule of Argo's source; the file and tag are cited beside it. Node
records are plain dicts in Argo's JSON shape (``id``, ``name``, ``displayName``, ``type``,
``templateName``, ``templateScope``, ``phase``, ``boundaryID``, ``children``,
``outboundNodes``, ``startedAt``, ``finishedAt``, ``message``, ``inputs``, ``outputs``,
``progress``, ``nodeFlag``), so the stand-in server can serve them unchanged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .templating import TemplateError

FULFILLED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
COMPLETED = ("Succeeded", "Failed", "Error", "Skipped")
# operator.go (v3.7.18) stepsOrDagSeparator: "[0]." or "." after the boundary's name
_SEPARATOR = re.compile(r"^(\[\d+\])?\.")
_MAX_POD_PREFIX = 253 - 10 - 1  # util/pod_name.go (v3.7.18): maxK8sResourceNameLength - hash


def now() -> str:
    """A timestamp as Kubernetes serialises metav1.Time (RFC 3339, whole seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def fnv32a(text: str) -> int:
    """FNV-1a, 32 bits: Go's ``hash/fnv.New32a`` used for node IDs and pod names."""
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def node_id(workflow_name: str, node_name: str) -> str:
    """``wf.NodeID(name)``: the workflow's name for its root, else ``<wf>-<fnv32a(name)>``
    (pkg/apis/workflow/v1alpha1/workflow_types.go, v3.7.18 and v4.1.2)."""
    if node_name == workflow_name:
        return workflow_name
    return f"{workflow_name}-{fnv32a(node_name)}"


def pod_name(workflow_name: str, node_name: str, template_name: str) -> str:
    """Pod names v2 (the default): ``<wf>-<template>-<fnv32a(node name)>``, the workflow's
    name for a root pod (workflow/util/pod_name.go GeneratePodName, v3.7.18)."""
    if workflow_name == node_name:
        return workflow_name
    prefix = f"{workflow_name}-{template_name}" if template_name else workflow_name
    return f"{prefix[:_MAX_POD_PREFIX]}-{fnv32a(node_name)}"


def on_exit_name(parent: str) -> str:
    """common.GenerateOnExitNodeName (workflow/common/util.go, v3.7.18)."""
    return f"{parent}.onExit"


def hook_name(parent: str, hook: str) -> str:
    """generateLifeHookNodeName (workflow/controller/hooks.go, v3.7.18)."""
    return f"{parent}.hooks.{hook}"


def fulfilled(node: dict[str, Any] | None) -> bool:
    return node is not None and node.get("phase") in FULFILLED


def completed(node: dict[str, Any] | None) -> bool:
    return node is not None and node.get("phase") in COMPLETED


def failed_or_error(node: dict[str, Any] | None) -> bool:
    return node is not None and node.get("phase") in ("Failed", "Error")


class Nodes:
    """``wf.Status.Nodes`` with the controller's helpers over it."""

    def __init__(self, workflow_name: str, nodes: dict[str, dict[str, Any]]) -> None:
        self.wf = workflow_name
        self.nodes = nodes

    def id(self, name: str) -> str:
        return node_id(self.wf, name)

    def by_name(self, name: str) -> dict[str, Any] | None:
        return self.nodes.get(self.id(name))

    def get(self, nid: str) -> dict[str, Any] | None:
        return self.nodes.get(nid)

    def initialize(
        self,
        name: str,
        type_: str,
        template_scope: str,
        template_name: str | None,
        boundary_id: str,
        phase: str,
        flag: dict[str, bool] | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        """initializeNode (workflow/controller/operator.go, v3.7.18): display name is the
        name minus its boundary's name and the ``[i].``/``.`` separator."""
        nid = self.id(name)
        if nid in self.nodes:
            raise AssertionError(f"node {name} already initialized")
        node: dict[str, Any] = {
            "id": nid,
            "name": name,
            "type": type_,
            "templateScope": template_scope,
            "phase": phase,
            "startedAt": now(),
        }
        if template_name:
            node["templateName"] = template_name
        if boundary_id:
            node["boundaryID"] = boundary_id
        if flag is not None:  # a *NodeFlag: shared with the caller's opts, as in Go
            node["nodeFlag"] = flag
        boundary = self.nodes.get(boundary_id) if boundary_id else None
        if boundary is not None:
            display = name[len(boundary["name"]) :] if name.startswith(boundary["name"]) else name
            node["displayName"] = _SEPARATOR.sub("", display, count=1)
        else:
            node["displayName"] = name
        if phase in FULFILLED:
            node["finishedAt"] = node["startedAt"]
        if message:
            node["message"] = message
        self.nodes[nid] = node
        return node

    def mark(self, name: str, phase: str, message: str | None = None) -> dict[str, Any]:
        """markNodePhase (operator.go, v3.7.18): sets phase, message and finishedAt once."""
        node = self.by_name(name)
        if node is None:
            raise KeyError(f"node {name} is not initialized")
        node["phase"] = phase
        if message is not None:
            if message:
                node["message"] = message
            else:
                node.pop("message", None)
        if phase in FULFILLED and not node.get("finishedAt"):
            node["finishedAt"] = now()
        return node

    def mark_error(self, name: str, err: str) -> dict[str, Any]:
        return self.mark(name, "Error", err)

    def add_child(self, parent: str, child: str) -> None:
        """addChildNode (operator.go, v3.7.18): parent and child by name, no duplicates."""
        node = self.by_name(parent)
        if node is None:
            raise KeyError(f"node {parent} is not initialized")
        cid = self.id(child)
        children = node.setdefault("children", [])
        if cid not in children:
            children.append(cid)

    def outbound(self, nid: str) -> list[str]:
        """getOutboundNodes (operator.go, v3.7.18): the nodes a following step hangs from."""
        node = self.nodes[nid]
        t = node["type"]
        if t in ("Skipped", "Suspend", "HTTP", "Plugin", "Pod"):
            return [nid]
        if t in ("Container", "TaskGroup"):
            children = node.get("children") or []
            if not children:
                return [nid]
            out: list[str] = []
            for c in children:
                out += self.outbound(c)
            return out
        if t == "Retry":
            children = node.get("children") or []
            if children:
                return [children[-1]]
        if t in ("Steps", "DAG") and (node.get("memoizationStatus") or {}).get("hit"):
            return [nid]
        out = []
        for o in node.get("outboundNodes") or []:
            out += self.outbound(o)
        return out

    def children_fulfilled(self, node: dict[str, Any], seen: dict[str, bool] | None = None) -> bool:
        """childrenFulfilled (operator.go, v3.7.18): every descendant is fulfilled."""
        seen = {} if seen is None else seen
        if node["id"] in seen:
            return seen[node["id"]]
        children = node.get("children") or []
        if not children:
            seen[node["id"]] = fulfilled(node)
            return seen[node["id"]]
        for c in children:
            child = self.nodes.get(c)
            if child is not None and not self.children_fulfilled(child, seen):
                seen[node["id"]] = False
                return False
        seen[node["id"]] = True
        return True

    def retry_children(self, node: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None]:
        """getChildNodeIdsAndLastRetriedNode (operator.go, v3.7.18): attempts, hooks excluded."""
        ids = [
            c
            for c in node.get("children") or []
            if not ((self.nodes.get(c) or {}).get("nodeFlag") or {}).get("hooked")
        ]
        last = self.nodes.get(ids[-1]) if ids else None
        return ids, last

    def last_attempt(self, node: dict[str, Any]) -> dict[str, Any] | None:
        """possiblyGetRetryChildNode (operator.go, v3.7.18)."""
        if node["type"] != "Retry" or (node.get("memoizationStatus") or {}).get("hit"):
            return None
        return self.retry_children(node)[1]


def duration_seconds(node: dict[str, Any]) -> float:
    start, end = parse_time(node.get("startedAt")), parse_time(node.get("finishedAt"))
    if start is None:
        return 0.0
    return ((end or datetime.now(UTC)) - start).total_seconds()


def loop_index(name: str) -> int:
    """parseLoopIndex (operator.go, v3.7.18): ``x(3:item)`` -> 3."""
    return int(name.split("(")[-1].split(":", 1)[0])


def parse_duration(text: Any) -> float:
    """ParseStringToDuration (workflow_types.go, v3.7.18): ``30``, ``30s``, ``1m30s``, ``2h``."""
    s = str(text).strip()
    if s.lstrip("-").isdigit():
        return float(s)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num = 0.0, ""
    i = 0
    while i < len(s):
        if s[i].isdigit() or s[i] == ".":
            num += s[i]
            i += 1
            continue
        unit = next(
            (u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if s.startswith(u, i)), None
        )
        if unit is None or not num:
            raise TemplateError(f"invalid duration {text!r}")
        total += float(num) * units[unit]
        num, i = "", i + len(unit)
    if num:
        raise TemplateError(f"invalid duration {text!r}: missing unit")
    return total
