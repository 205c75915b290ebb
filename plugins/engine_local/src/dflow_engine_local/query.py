"""Query results from the journal: Argo-format dicts for ``ArgoWorkflow`` / ``ArgoStep``.

Readable from any process while the run goes on (a read-only WAL snapshot).
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from dflow.argo_dicts import DeferredNode
from dflow.argo_objects import ArgoObjectDict, ArgoParameter, ArgoWorkflow
from dflow.gc_pause import gc_paused

from .journal import ROW, Node, read_rows
from .layout import read_text
from .run import is_running

DEAD_MESSAGE = (
    "the process running this workflow died; submit it again with the same id "
    "(Workflow(id=...).submit()) to resume it"
)


def _io(section: dict) -> dict:
    params = [
        dict(
            name=k,
            value=v.get("value"),
            **({"type": v["type"]} if v.get("type") else {}),
            **({"globalName": v["globalName"]} if v.get("globalName") else {}),
        )
        for k, v in (section.get("parameters") or {}).items()
    ]
    arts = [
        {
            "name": k,
            "local_path": v.get("local_path"),
            **({"globalName": v["globalName"]} if v.get("globalName") else {}),
        }
        for k, v in (section.get("artifacts") or {}).items()
    ]
    return {"parameters": params, "artifacts": arts}


def node_dict(node: Node, children: list[str], wf_dir: str) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": node.id,
        "name": node.path,
        "displayName": node.display_name,
        "type": node.type,
        "phase": node.phase,
        "templateName": node.template,
        "startedAt": node.started,
        "finishedAt": node.finished,
        "message": node.message,
        "children": children,
        "boundaryID": node.parent_id,
        "inputs": _io(node.inputs),
        "outputs": _io(node.outputs),
    }
    if node.attempts:
        d["attempts"] = node.attempts
    progress = node.progress
    if node.type == "Pod" and node.dir and node.phase == "Running":
        progress = read_text(os.path.join(wf_dir, node.dir, "progress")) or progress
    if progress:
        d["progress"] = progress
    if node.dir:
        d["local_dir"] = os.path.join(wf_dir, node.dir)
    return d


def workflow_phase(meta: dict, wf_dir: str) -> tuple[str, str]:
    phase = meta.get("status") or "Pending"
    message = meta.get("message") or ""
    if phase in ("Running", "Pending") and not is_running(wf_dir):
        return "Failed", DEAD_MESSAGE
    return phase, message


def retry_view(node: Node, wf_dir: str, events: list[tuple]) -> list[dict[str, Any]]:
    """A retried leaf as Argo shows it: a ``Retry`` node whose children are the attempts.

    The Retry node keeps the step's id, display name, key, inputs and outputs (so queries by
    name or key and ``reuse_step`` find it); attempt ``i`` is a ``Pod`` named ``<step>(i)``
    with its own phase, times and message (from the journal's events), the last one with the
    step's outputs. Every attempt ran in the same step directory.
    """
    spans: list[dict[str, Any]] = []
    for phase, at, message in events:
        if phase == "Running":
            if spans and spans[-1]["phase"] == "Running":  # a run died during that attempt
                spans[-1].update(
                    phase="Failed", finishedAt=at, message="the run stopped during this attempt"
                )
            spans.append({"phase": "Running", "startedAt": at, "finishedAt": None, "message": ""})
        elif spans and spans[-1]["phase"] == "Running":
            spans[-1].update(phase=phase, finishedAt=at, message=message)
    retry = node_dict(node, [], wf_dir)
    out = [retry]
    inputs = {
        "parameters": {
            k: v for k, v in (node.inputs.get("parameters") or {}).items() if k != "dflow_key"
        },
        "artifacts": node.inputs.get("artifacts") or {},
    }
    for i, span in enumerate(spans):
        last = i == len(spans) - 1
        d = node_dict(node, [], wf_dir)
        d.update(
            id=f"{node.id}-{i}",
            name=f"{node.path}({i})",
            displayName=f"{node.display_name}({i})",
            type="Pod",
            boundaryID=node.parent_id,
            inputs=_io(inputs),
            outputs=_io(node.outputs if last else {}),
            **span,
        )
        if last and node.phase not in ("Running", "Pending"):
            d.update(phase=node.phase, message=node.message)
        d.pop("attempts", None)
        out.append(d)
    retry.update(type="Retry", children=[d["id"] for d in out[1:]])
    retry.pop("local_dir", None)
    return out


def _after_death(d: dict[str, Any]) -> dict[str, Any]:
    if d["phase"] in ("Pending", "Running"):
        d.update(
            phase="Error",
            message="the process running this workflow died while this step was unfinished",
        )
    return d


def _node_view(row: tuple, children: list[str], wf_dir: str, dead: bool) -> dict[str, Any]:
    d = node_dict(Node.from_row(row), children, wf_dir)
    return _after_death(d) if dead else d


@gc_paused()  # a fan-out's record is 100,000s of nodes: see dflow.gc_pause
def build_workflow(wf_id: str, wf_dir: str, retry_nodes: bool = False) -> ArgoWorkflow:
    """The workflow as Argo reports it; ``retry_nodes``: retried steps as Retry nodes."""
    events: dict[str, list[tuple]] = {}
    meta, rows = read_rows(wf_dir, events if retry_nodes else None)
    id_, parent, type_ = ROW["id"], ROW["parent_id"], ROW["type"]
    kids: dict[str, list[str]] = {}
    for r in rows:
        if r[parent]:
            kids.setdefault(r[parent], []).append(r[id_])
    phase, message = workflow_phase(meta, wf_dir)
    dead = message == DEAD_MESSAGE  # the runner died: nothing of it is running any more
    out: dict[str, Any] = {}
    for r in rows:
        if r[id_] in events and r[type_] == "Pod":  # a retried leaf (events: only theirs)
            n = Node.from_row(r)
            for d in retry_view(n, wf_dir, events[n.id]):
                out[d["id"]] = _after_death(d) if dead else d
        else:  # made when read: a run's 100,000 nodes cost seconds, most are never read
            out[r[id_]] = DeferredNode(partial(_node_view, r, kids.get(r[id_], []), wf_dir, dead))
    status = {
        "phase": phase,
        "message": message,
        "startedAt": meta.get("startedAt"),
        "finishedAt": meta.get("finishedAt"),
        "nodes": out,
        "outputs": _io(meta.get("global_outputs") or {}),
    }
    return ArgoWorkflow({"metadata": {"name": wf_id, "uid": wf_id}, "status": status})


def global_outputs(wf_dir: str) -> ArgoObjectDict | None:
    meta, _ = read_rows(wf_dir)
    g = meta.get("global_outputs")
    if not g:
        return None
    params = ArgoObjectDict()
    for k, v in g.get("parameters", {}).items():
        d = {"name": k, "value": v.get("value")}
        if v.get("type"):
            d["type"] = v["type"]
        dict.__setitem__(params, k, ArgoParameter(d))
    arts = ArgoObjectDict(
        {
            k: {"name": k, "local_path": v.get("local_path")}
            for k, v in g.get("artifacts", {}).items()
        }
    )
    out = ArgoObjectDict()
    dict.__setitem__(out, "parameters", params)
    dict.__setitem__(out, "artifacts", arts)
    return out
