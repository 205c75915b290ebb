"""Reuse of steps on Argo through memoization (pydflow's ``submit(reuse_step=...)``).

A keyed template rendered with a memoize prefix gets ``memoize`` with the key
``<prefix>-{{inputs.parameters.dflow_key}}`` in one cache ConfigMap ``<configmap>-<prefix>``;
when that ConfigMap holds an entry for the key, Argo skips the pod and takes the entry's
outputs. :func:`memoize_entries` builds that ConfigMap from the steps of an earlier run
(pure data: the engine creates it through the Kubernetes API before submitting).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from typing import Any

from .values import RenderError

CACHE_LABEL = "workflows.argoproj.io/configmap-type"
DEFAULT_MAX_AGE = "8760h"  # the v4 CRD requires maxAge; entries are made right before submit
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def configmap_name(configmap: str, prefix: str) -> str:
    name = f"{configmap}-{prefix}".lower()
    if len(name) > 253 or not _NAME.match(name):
        raise RenderError(f"memoize ConfigMap name {name!r} is not a valid Kubernetes name: "
                          "use a lower-case memoize_prefix/configmap (letters, digits, '-')")
    return name


def memoize_field(prefix: str, configmap: str, max_age: str | None) -> dict[str, Any]:
    """The ``memoize`` of a keyed template."""
    key = f"{prefix}-{{{{inputs.parameters.dflow_key}}}}"
    return {"key": key, "maxAge": max_age or DEFAULT_MAX_AGE, "cache": cache(
        configmap_name(configmap, prefix))}


def cache(name: str) -> dict[str, Any]:
    """``memoize.cache``: the ConfigMap's name only, as in Argo's own examples. Argo v4 types
    it as a LocalObjectReference (name only); v3.7's swagger says ConfigMapKeySelector with a
    required ``key`` that the controller never reads (entries are keyed by the memoize key)."""
    return {"configMap": {"name": name}}


def _outputs(step: Any, where: str) -> dict[str, Any]:
    node = step.recover() if hasattr(step, "recover") else dict(step)
    outputs = dict(node.get("outputs") or {})
    params = [{k: v for k, v in p.items() if k in ("name", "value", "valueFrom", "description",
                                                    "globalName")}
              for p in outputs.get("parameters") or []]
    arts = []
    for a in outputs.get("artifacts") or []:
        if "local_path" in a:
            raise RenderError(f"{where}: output artifact '{a.get('name')}' is a local path "
                              f"({a['local_path']}); Argo can reuse stored artifacts only: "
                              "upload it and modify_output_artifact(name, S3Artifact(key=...))")
        arts.append({k: v for k, v in a.items() if k != "modified"})
    out: dict[str, Any] = {}
    if params:
        out["parameters"] = params
    if arts:
        out["artifacts"] = arts
    out["exitCode"] = str(outputs.get("exitCode", "0"))
    return out


def memoize_entries(reuse_step: Iterable[Any], prefix: str, configmap: str = "dflow",
                    now: _dt.datetime | None = None) -> list[dict[str, Any]]:
    """The cache ConfigMap (a list of one manifest, empty without keyed steps) that makes
    the keyed steps of ``reuse_step`` hits; steps without a key cannot be reused and are
    skipped, as pydflow does."""
    stamp = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data: dict[str, str] = {}
    for step in reuse_step:
        key = step.get("key") if hasattr(step, "get") else getattr(step, "key", None)
        if not key:
            continue
        where = f"reused step '{step.get('displayName') or step.get('id')}'"
        entry_key = f"{prefix}-{key}"
        if not _KEY.match(entry_key) or len(entry_key) > 253:
            raise RenderError(f"{where}: memoize key {entry_key!r} is not a valid ConfigMap key "
                              "(letters, digits, '-', '.', '_')")
        if entry_key in data:
            raise RenderError(f"{where}: key '{key}' is reused twice; keys must be unique")
        data[entry_key] = json.dumps({
            "nodeID": step.get("id") or "", "outputs": _outputs(step, where),
            "creationTimestamp": stamp, "lastHitTimestamp": stamp,
        }, separators=(",", ":"))
    if not data:
        return []
    return [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": configmap_name(configmap, prefix),
                          "labels": {CACHE_LABEL: "Cache"}},
             "data": data}]
