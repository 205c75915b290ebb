"""Memoization: cache entries in ConfigMaps (the memoize check of executeTemplate and
workflow/controller/cache/configmap_cache.go, v3.7.18)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .kinds import node_type
from .nodes import now, parse_duration, parse_time
from .templating import TemplateError

if TYPE_CHECKING:
    from .controller import Operator
    from .execute import Opts

CACHE_LABEL = "workflows.argoproj.io/configmap-type"


def memoize(
    op: Operator, name: str, holder: dict[str, Any], tmpl: dict[str, Any], opts: Opts
) -> dict[str, Any]:
    """The memoization cache check of executeTemplate with configMapCache.Load (v3.7.18):
    a hit makes a Succeeded node with the cached outputs and no pod."""
    memo = tmpl["memoize"]
    cm_name = memo["cache"]["configMap"]["name"]
    cm = op.cluster.kube_objects.get((op.cluster.namespace, "configmaps", cm_name))
    entry = None
    label = ((cm or {}).get("metadata") or {}).get("labels", {}).get(CACHE_LABEL)
    if cm is not None and label != "Cache":  # validateConfigmap (configmap_cache.go, v3.7.18)
        raise TemplateError(
            f"memoization configmap doesn't have {CACHE_LABEL} label, refusing to use it"
            if label is None
            else f"memoization configmap doesn't have label {CACHE_LABEL} = Cache, refusing to use it"
        )
    if cm is not None:
        raw = (cm.get("data") or {}).get(memo["key"])
        if raw:
            entry = json.loads(raw)
            entry["lastHitTimestamp"] = now()
            cm["data"][memo["key"]] = json.dumps(entry)
    hit = bool(entry and entry.get("nodeID"))
    outputs = (entry or {}).get("outputs")
    if hit and memo.get("maxAge"):
        created = parse_time(entry.get("creationTimestamp"))
        if created is None or time.time() - created.timestamp() > parse_duration(memo["maxAge"]):
            hit = False
    status = {"hit": hit, "key": memo["key"], "cacheName": cm_name}
    from .execute import initialize_executable

    node = initialize_executable(op, name, node_type(tmpl), tmpl, holder, opts, "Pending")
    node["memoizationStatus"] = status
    if hit:
        node["phase"] = "Succeeded"
        if outputs is not None:
            node["outputs"] = outputs
        node["finishedAt"] = now()
    return node


def save_memoized(op: Operator, node: dict[str, Any]) -> None:
    """configMapCache.Save (cache/configmap_cache.go, v3.7.18) for a memoized node that
    succeeded."""
    status = node.get("memoizationStatus")
    if not status or status.get("hit"):
        return
    key = (op.cluster.namespace, "configmaps", status["cacheName"])
    cm = op.cluster.kube_objects.setdefault(
        key,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": status["cacheName"],
                "namespace": op.cluster.namespace,
                "labels": {CACHE_LABEL: "Cache"},
            },
        },
    )
    stamp = now()
    cm.setdefault("data", {})[status["key"]] = json.dumps(
        {
            "nodeID": node["id"],
            "outputs": node.get("outputs"),
            "creationTimestamp": stamp,
            "lastHitTimestamp": stamp,
        }
    )
