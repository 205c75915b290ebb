"""Parallelism and failFast: whether a node may start now (checkParallelism and the node
counters of operator.go / node_counters.go, v3.7.18)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .kinds import template_type

if TYPE_CHECKING:
    from .controller import Operator


def check_parallelism(
    op: Operator, tmpl: dict[str, Any], node: dict[str, Any] | None, boundary_id: str
) -> Exception | None:
    """checkParallelism (operator.go, v3.7.18): workflow and template parallelism, failFast."""
    from .controller import ERR_PARALLELISM

    limit = op.spec.get("parallelism")
    if limit is not None and op.active_pods >= int(limit):
        return ERR_PARALLELISM
    kind = template_type(tmpl)
    if node is not None and kind in ("dag", "steps"):
        if fail_fast(tmpl) and unsuccessful_children(op, node["id"]) > 0:
            if op.count_active_pods(node["id"]) == 0:
                fail_fast_mark(op, node, kind)
            return ERR_PARALLELISM
        if tmpl.get("parallelism") is not None and op.count_active_pods(node["id"]) >= int(
            tmpl["parallelism"]
        ):
            return ERR_PARALLELISM
    if boundary_id and (node is None or node["phase"] not in ("Pending", "Running")):
        boundary = op.nodes.get(boundary_id)
        btmpl = op.template(boundary.get("templateName")) if boundary else None
        if btmpl is not None:
            bkind = template_type(btmpl)
            if fail_fast(btmpl) and unsuccessful_children(op, boundary_id) > 0:
                if op.count_active_pods(boundary_id) == 0:
                    fail_fast_mark(op, boundary, bkind)
                return ERR_PARALLELISM
            if btmpl.get("parallelism") is not None and op.count_active_children(
                boundary_id
            ) >= int(btmpl["parallelism"]):
                return ERR_PARALLELISM
    return None


def fail_fast(tmpl: dict[str, Any]) -> bool:
    """Template.IsFailFast: ``failFast`` of a steps template or DAG (DAG default true only
    counts in assessDAGPhase)."""
    if tmpl.get("dag") is not None:
        return bool(tmpl["dag"].get("failFast"))
    return bool(tmpl.get("failFast"))


def unsuccessful_children(op: Operator, boundary_id: str) -> int:
    """getUnsuccessfulChildren (node_counters.go, v3.7.18)."""
    return sum(
        1
        for n in op.status["nodes"].values()
        if n.get("boundaryID") == boundary_id
        and n["type"] in ("Pod", "Steps", "DAG")
        and n["phase"] in ("Failed", "Error")
    )


def fail_fast_mark(op: Operator, node: dict[str, Any], kind: str) -> None:
    msg = "template has failed or errored children and failFast enabled"
    if kind == "steps":
        leaf = None

        def dfs(nid: str) -> None:
            nonlocal leaf
            n = op.nodes.get(nid)
            if n is None:
                return
            if n["type"] == "StepGroup":
                leaf = n
            for c in n.get("children") or []:
                dfs(c)

        dfs(node["id"])
        if leaf is not None:
            op.nodes.mark(leaf["name"], "Failed", msg)
    op.nodes.mark(node["name"], "Failed", msg)
