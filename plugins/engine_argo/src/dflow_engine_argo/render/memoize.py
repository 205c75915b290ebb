"""Reuse of steps on Argo through memoization (pydflow's ``submit(reuse_step=...)``).

A keyed template (leaf, Steps or DAG) rendered with a memoize prefix gets ``memoize`` with the
key ``<prefix>-{{inputs.parameters.dflow_key}}`` in the cache ConfigMap
``<configmap>-<prefix>-{{inputs.parameters.dflow_key}}``: one ConfigMap per key, as pydflow
does, since a ConfigMap holds at most 1 MiB (``MaxSecretSize`` in Kubernetes'
``core/validation``) and one for a whole fan-out would overflow. When a ConfigMap holds an
entry for the key, Argo skips the node and takes the entry's outputs
(``workflow/controller/operator.go`` ``executeTemplate``, memoization, v3.7.18 and v4.1.2).
:func:`memoize_entries` builds the ConfigMaps from the steps of an earlier run (pure data: the
engine creates them through the Kubernetes API before submitting).
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
        configmap_name(configmap, prefix) + "-{{inputs.parameters.dflow_key}}")}


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
    """The cache ConfigMaps (one per keyed step of ``reuse_step``) that make those steps hits;
    steps without a key cannot be reused and are skipped, as pydflow does."""
    stamp = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    maps: dict[str, dict[str, Any]] = {}
    for step in reuse_step:
        key = step.get("key") if hasattr(step, "get") else getattr(step, "key", None)
        if not key:
            continue
        where = f"reused step '{step.get('displayName') or step.get('id')}'"
        entry_key = f"{prefix}-{key}"
        if not _KEY.match(entry_key) or len(entry_key) > 253:
            raise RenderError(f"{where}: memoize key {entry_key!r} is not a valid ConfigMap key "
                              "(letters, digits, '-', '.', '_')")
        name = f"{configmap_name(configmap, prefix)}-{key}"
        if len(name) > 253 or not _NAME.match(name):
            raise RenderError(f"{where}: cache ConfigMap name {name!r} (from key '{key}') is not "
                              "a valid Kubernetes name: use lower-case keys (letters, digits, '-')")
        if name in maps:
            raise RenderError(f"{where}: key '{key}' is reused twice; keys must be unique")
        maps[name] = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {CACHE_LABEL: "Cache"}},
            "data": {entry_key: json.dumps({
                "nodeID": step.get("id") or "", "outputs": _outputs(step, where),
                "creationTimestamp": stamp, "lastHitTimestamp": stamp,
            }, separators=(",", ":"))},
        }
    return list(maps.values())
