"""``argo retry`` and ``argo resubmit`` as the Argo Server formulates them
(FormulateRetryWorkflow and FormulateResubmitWorkflow, workflow/util/util.go, v3.7.18)."""

from __future__ import annotations

import copy
import random
import re
import string
from typing import Any

from .nodes import node_id, now, pod_name
from .templating import TemplateError

GROUPS = ("DAG", "TaskGroup", "StepGroup", "Steps")
EXECUTIONS = ("Container", "Pod", "HTTP", "Plugin")
_SELECTOR = re.compile(r"^\s*([\w.\-]+)\s*(==|!=|=)\s*(.*?)\s*$")


def selector_matches(selector: str, node: dict[str, Any]) -> bool:
    """SelectorMatchesNode (workflow/util/util.go, v3.7.18) for ``k=v,k!=v`` selectors."""
    fields = {
        "displayName": node.get("displayName", ""),
        "templateName": node.get("templateName", ""),
        "phase": node.get("phase", ""),
        "name": node.get("name", ""),
        "id": node.get("id", ""),
    }
    for p in (node.get("inputs") or {}).get("parameters") or []:
        fields[f"inputs.parameters.{p['name']}.value"] = str(p.get("value", ""))
    for term in selector.split(","):
        m = _SELECTOR.match(term)
        if not m:
            raise TemplateError(f"invalid selector: '{selector}'")
        key, op, value = m.groups()
        if (fields.get(key, "") == value) != (op != "!="):
            return False
    return True


class _Dag:
    """dagNode (util.go, v3.7.18): one parent per node, picked in sorted id order."""

    def __init__(self, nodes: dict[str, dict[str, Any]], wf_name: str) -> None:
        self.nodes = nodes
        self.parent: dict[str, str | None] = {}
        for nid in sorted(nodes):
            for child in nodes[nid].get("children") or []:
                self.parent[child] = nid
        for nid, n in nodes.items():
            if nid not in self.parent:
                if n["name"] != wf_name and not n["name"].startswith(wf_name + ".onExit"):
                    raise TemplateError(f"couldn't find parent node for {nid}")
                self.parent[nid] = None

    def children(self, nid: str) -> list[str]:
        return [c for c in self.nodes[nid].get("children") or [] if c in self.nodes]

    def descendants(self, nid: str) -> set[str]:
        out: set[str] = set()
        queue = [nid]
        while queue:
            cur = queue.pop(0)
            for c in self.children(cur):
                out.add(c)
                queue.append(c)
        return out

    def sorted_from(self, root: str) -> list[str]:
        """dagSortedNodes: breadth first from the root."""
        out, queue, seen = [], [root], {root}
        while queue:
            cur = queue.pop(0)
            out.append(cur)
            for c in self.children(cur):
                if c not in seen:
                    seen.add(c)
                    queue.append(c)
        return out

    def reset_path(self, start: str) -> tuple[set[str], set[str]]:
        """resetPath (util.go, v3.7.18): delete the node and what hangs from it; reset the
        groups and failed Retry nodes on its way up to the root."""
        to_delete = self.descendants(start) | {start}
        to_reset: set[str] = set()
        if self.parent.get(start) is None:
            return to_reset, to_delete
        cur: str | None = start  # deletions override the resets of the start node
        while cur is not None:
            node = self.nodes[cur]
            if node["type"] in GROUPS:
                to_reset.add(cur)
                cur = self._reset_boundaries(cur, to_reset)
                continue
            if node["type"] == "Retry" and node["phase"] in ("Failed", "Error"):
                to_reset.add(cur)
            cur = self.parent.get(cur)
        return to_reset, to_delete

    def _reset_boundaries(self, cur: str | None, to_reset: set[str]) -> str | None:
        """resetBoundaries (util.go, v3.7.18)."""
        while cur is not None:
            parent = self.parent.get(cur)
            if parent is not None and self.nodes[parent]["type"] == "Retry":
                to_reset.add(parent)
                cur = parent
                parent = self.parent.get(cur)
            if parent is not None and self.nodes[parent]["type"] in ("StepGroup", "TaskGroup"):
                to_reset.add(parent)
            boundary = self.nodes[cur].get("boundaryID") or ""
            if not boundary:
                return self.parent.get(cur)
            while cur is not None and cur != boundary:  # resetUntil the boundary
                cur = self.parent.get(cur)
            if cur is None:
                raise TemplateError("was seeking node but ran out of nodes to explore")
            to_reset.add(cur)
        return None


def _descendant_succeeded(nodes: dict[str, Any], node: dict[str, Any], reset: set[str]) -> bool:
    """isDescendantNodeSucceeded (util.go, v3.7.18)."""
    for c in node.get("children") or []:
        child = nodes[c]
        if (c not in reset and child["phase"] == "Succeeded") or _descendant_succeeded(
            nodes, child, reset
        ):
            return True
    return False


def _reset_node(node: dict[str, Any]) -> dict[str, Any]:
    """resetNode (util.go, v3.7.18)."""
    node = copy.deepcopy(node)
    if node["phase"] != "Skipped":
        node["phase"] = "Running"
    node.pop("message", None)
    node["startedAt"] = now()
    node.pop("finishedAt", None)
    return node


def formulate_retry(
    wf: dict[str, Any], restart_successful: bool = False, selector: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """FormulateRetryWorkflow (util.go, v3.7.18): failed nodes (and ``selector``'s when
    ``restart_successful``) are removed with what depends on them, their groups reset to
    Running; succeeded nodes are kept. Returns the workflow and the pods to delete."""
    phase = wf["status"].get("phase")
    if phase == "Succeeded":
        if not restart_successful or not selector:
            raise TemplateError(
                "To retry a succeeded workflow, set the options "
                "restartSuccessful and nodeFieldSelector"
            )
    elif phase not in ("Failed", "Error"):
        raise TemplateError(f"Cannot retry a workflow in phase {phase}")
    name = wf["metadata"]["name"]
    old = wf["status"]["nodes"]
    new = copy.deepcopy(wf)
    labels = new["metadata"].setdefault("labels", {})
    labels.pop("workflows.argoproj.io/completed", None)
    labels["workflows.argoproj.io/phase"] = "Running"
    st = new["status"]
    st.update(phase="Running", nodes={}, startedAt=now())
    st.pop("message", None)
    st.pop("finishedAt", None)
    # createNewRetryWorkflow: the claims are listed again as the controller reuses them
    st.pop("persistentVolumeClaims", None)
    new["spec"].pop("shutdown", None)
    if new["spec"].get("activeDeadlineSeconds") == 0:
        new["spec"].pop("activeDeadlineSeconds")
    delete_ids: set[str] = set()
    if restart_successful and selector:
        delete_ids = {nid for nid, n in old.items() if selector_matches(selector, n)}
    failed = set()
    for nid, n in old.items():
        if n["phase"] in ("Failed", "Error") and n["type"] in EXECUTIONS:
            node = n
            if (n.get("nodeFlag") or {}).get("retried"):
                node = next(
                    p
                    for p in old.values()
                    if nid in (p.get("children") or []) and p["type"] == "Retry"
                )
            if not _descendant_succeeded(old, node, delete_ids):
                failed.add(nid)
    delete_ids |= failed
    dag = _Dag(old, name)
    order = dag.sorted_from(name)
    to_reset: set[str] = set()
    to_delete: set[str] = set()
    for nid in order:
        if nid not in delete_ids or nid in to_delete:
            continue
        reset, delete = dag.reset_path(nid)
        to_reset |= reset - to_delete
        to_delete |= delete
    for nid in to_reset:
        if nid not in to_delete:
            st["nodes"][nid] = _reset_node(old[nid])
    pods = []
    exit_name = name + ".onExit"
    for nid in to_delete:
        if old[nid]["type"] == "Pod":
            pods.append(pod_name(name, old[nid]["name"], old[nid].get("templateName") or ""))
    for nid, n in old.items():
        gone = nid in to_delete or n["name"].startswith(exit_name)
        if nid not in st["nodes"] and not gone:
            st["nodes"][nid] = copy.deepcopy(n)
    for nid, n in st["nodes"].items():
        n["children"] = [c for c in old[nid].get("children") or [] if c not in to_delete]
        n["outboundNodes"] = [c for c in old[nid].get("outboundNodes") or [] if c not in to_delete]
        for key in ("children", "outboundNodes"):
            if not n[key]:
                n.pop(key)
    return new, pods


def formulate_resubmit(wf: dict[str, Any], memoized: bool = False) -> dict[str, Any]:
    """FormulateResubmitWorkflow (util.go, v3.7.18): a new workflow of the same spec; with
    ``memoized`` the succeeded pods of the old run come along as Skipped nodes."""
    meta = wf["metadata"]
    new_meta: dict[str, Any] = {"generateName": meta.get("generateName") or meta["name"] + "-"}
    if memoized:
        if wf["status"].get("phase") not in ("Failed", "Error"):
            raise TemplateError("workflow must be Failed/Error to resubmit in memoized mode")
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        new_meta["name"] = new_meta["generateName"] + suffix
    skip = (
        "workflows.argoproj.io/creator",
        "workflows.argoproj.io/creator-email",
        "workflows.argoproj.io/creator-preferred-username",
        "workflows.argoproj.io/phase",
        "workflows.argoproj.io/completed",
        "workflows.argoproj.io/workflow-archiving-status",
    )
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in skip}
    labels["workflows.argoproj.io/resubmitted-from-workflow"] = meta["name"]
    new_meta["labels"] = labels
    if meta.get("annotations"):
        new_meta["annotations"] = dict(meta["annotations"])
    spec = copy.deepcopy(wf["spec"])
    if spec.get("activeDeadlineSeconds") == 0:
        spec.pop("activeDeadlineSeconds")
    spec.pop("shutdown", None)
    new = {
        "apiVersion": wf.get("apiVersion", "argoproj.io/v1alpha1"),
        "kind": "Workflow",
        "metadata": new_meta,
        "spec": spec,
    }
    if not memoized:
        return new
    old_name, new_name = meta["name"], new_meta["name"]
    old_nodes = wf["status"]["nodes"]

    def rename(text: str) -> str:
        return new_name + text[len(old_name) :] if text.startswith(old_name) else text

    def convert(nid: str) -> str:
        return node_id(new_name, rename(old_nodes[nid]["name"]))

    nodes: dict[str, Any] = {}
    for nid, n in old_nodes.items():
        if n["name"].startswith(old_name + ".onExit"):
            continue
        m = copy.deepcopy(n)
        m["name"] = rename(n["name"])
        m["id"] = node_id(new_name, m["name"])
        if n.get("boundaryID"):
            m["boundaryID"] = convert(n["boundaryID"])
        failed_pod = n["phase"] in ("Failed", "Error") and n["type"] == "Pod"
        if failed_pod:
            m.pop("startedAt", None)
            m.pop("finishedAt", None)
        else:
            m["startedAt"] = m["finishedAt"] = now()
        m["children"] = [convert(c) for c in n.get("children") or []]
        m["outboundNodes"] = [convert(c) for c in n.get("outboundNodes") or []]
        if n["phase"] not in ("Failed", "Error") and n["type"] == "Pod":
            m.update(phase="Skipped", type="Skipped", message=f"original pod: {nid}")
        elif n["type"] == "Skipped" and not _descendant_succeeded(old_nodes, n, set()):
            continue
        else:
            m["phase"] = "Pending"
            m.pop("message", None)
        nodes[m["id"]] = m
    new["status"] = {"nodes": nodes, "phase": ""}
    return new
