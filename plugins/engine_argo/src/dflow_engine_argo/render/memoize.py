"""Reuse of steps on Argo through memoization (pydflow's ``submit(reuse_step=...)``).

A keyed template (leaf, Steps or DAG) rendered with a memoize prefix gets ``memoize`` with the
key ``<prefix>-{{inputs.parameters.dflow_key}}`` in the cache ConfigMap
``<configmap>-<prefix>-{{inputs.parameters.dflow_key}}``: one ConfigMap per key, as pydflow
does, since a ConfigMap holds at most 1 MiB (``MaxSecretSize`` in Kubernetes'
``core/validation``) and one for a whole fan-out would overflow. When a ConfigMap holds an
entry for the key, Argo skips the node and takes the entry's outputs
(``workflow/controller/operator.go`` ``executeTemplate``, memoization, v3.7.18 and v4.1.2).
:func:`plan_reuse` builds the ConfigMaps from the steps of an earlier run (pure data: the
engine creates them through the Kubernetes API before submitting).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from typing import Any

import attrs

from .values import Locations, RenderError

CACHE_LABEL = "workflows.argoproj.io/configmap-type"
DEFAULT_MAX_AGE = "8760h"  # the v4 CRD requires maxAge; entries are made right before submit
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def configmap_name(configmap: str, prefix: str) -> str:
    name = f"{configmap}-{prefix}".lower()
    if len(name) > 253 or not _NAME.match(name):
        raise RenderError(
            f"memoize ConfigMap name {name!r} is not a valid Kubernetes name: "
            "use a lower-case memoize_prefix/configmap (letters, digits, '-')"
        )
    return name


def memoize_field(prefix: str, configmap: str, max_age: str | None) -> dict[str, Any]:
    """The ``memoize`` of a keyed template."""
    key = f"{prefix}-{{{{inputs.parameters.dflow_key}}}}"
    return {
        "key": key,
        "maxAge": max_age or DEFAULT_MAX_AGE,
        "cache": cache(configmap_name(configmap, prefix) + "-{{inputs.parameters.dflow_key}}"),
    }


def cache(name: str) -> dict[str, Any]:
    """``memoize.cache``: the ConfigMap's name only, as in Argo's own examples. Argo v4 types
    it as a LocalObjectReference (name only); v3.7's swagger says ConfigMapKeySelector with a
    required ``key`` that the controller never reads (entries are keyed by the memoize key)."""
    return {"configMap": {"name": name}}


def _outputs(step: Any, where: str) -> dict[str, Any]:
    node = step.recover() if hasattr(step, "recover") else dict(step)
    outputs = dict(node.get("outputs") or {})
    params = [
        {
            k: v
            for k, v in p.items()
            if k in ("name", "value", "valueFrom", "description", "globalName")
        }
        for p in outputs.get("parameters") or []
    ]
    arts = []
    for a in outputs.get("artifacts") or []:
        if "local_path" in a:
            raise RenderError(
                f"{where}: output artifact '{a.get('name')}' is a local path "
                f"({a['local_path']}); Argo can reuse stored artifacts only: "
                "upload it and modify_output_artifact(name, S3Artifact(key=...))"
            )
        arts.append({k: v for k, v in a.items() if k != "modified"})
    out: dict[str, Any] = {}
    if params:
        out["parameters"] = params
    if arts:
        out["artifacts"] = arts
    out["exitCode"] = str(outputs.get("exitCode", "0"))
    return out


@attrs.frozen
class ReusePlan:
    """What reusing steps needs before submit: the cache ConfigMaps to create and the stored
    objects to copy (``(source key, destination key)``, trees copied whole)."""

    configmaps: list[dict[str, Any]]
    copies: list[tuple[str, str]]


_LOCATIONS = ("s3", "oss", "gcs")


def _location(art: dict[str, Any]) -> tuple[str, str] | None:
    for kind in _LOCATIONS:
        if isinstance(art.get(kind), dict) and art[kind].get("key"):
            return kind, art[kind]["key"]
    return None


def _input(node: dict[str, Any], name: str) -> str | None:
    for p in (node.get("inputs") or {}).get("parameters") or []:
        if p.get("name") == name:
            return p.get("value")
    return None


def plan_reuse(
    reuse_step: Iterable[Any],
    prefix: str,
    configmap: str = "dflow",
    *,
    overwrite: bool = True,
    locs: Locations | None = None,
    key_prefix: str = "",
    now: _dt.datetime | None = None,
) -> ReusePlan:
    """The cache ConfigMaps (one per key) that make the keyed steps of ``reuse_step`` hits,
    and the copies they need; steps without a key cannot be reused and are skipped, as
    pydflow does.

    The items of a keyed fan-out write their stacked outputs into one prefix,
    ``<workflow>/<group key>/<name>`` (pydflow's scheme). With ``overwrite`` (pydflow's
    ``config["overwrite_reused_artifact"]``, default) the new run's init step is a cache hit
    pointing at the earlier run's prefix, so new items add to it and the stack holds every
    item; an item's artifact changed by ``modify_output_artifact`` is copied back into that
    prefix. Without ``overwrite``, the reused items' stacks are copied to the new run's prefix.
    """
    locs = locs or Locations("s3")
    stamp = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    maps: dict[str, dict[str, Any]] = {}
    copies: list[tuple[str, str]] = []
    inits: dict[str, dict[str, Any]] = {}  # group key -> init step's cached outputs
    for step in reuse_step:
        key = step.get("key") if hasattr(step, "get") else getattr(step, "key", None)
        if not key:
            continue
        where = f"reused step '{step.get('displayName') or step.get('id')}'"
        node = step.recover() if hasattr(step, "recover") else dict(step)
        outputs = _outputs(step, where)
        group, stack = _input(node, "dflow_group_key"), _input(node, "dflow_artifact_key")
        raw = {a.get("name"): a for a in (node.get("outputs") or {}).get("artifacts") or []}
        for art in outputs.get("artifacts") or []:
            loc = _location(art)
            old = (raw[art["name"]].get("modified") or {}).get("old_key") or (loc and loc[1])
            # (an oss key also holds the repository prefix)
            if not (group and stack and loc and old and old.endswith(f"{stack}/{art['name']}")):
                continue  # not stacked by a keyed fan-out: the entry's location is used as is
            kind, current = loc
            if overwrite:
                if current != old:  # modified: its content goes into the shared prefix
                    copies.append((current, old))
                    art[kind] = {**art[kind], "key": old}
                init = inits.setdefault(
                    group,
                    {
                        "parameters": [{"name": "dflow_artifact_key", "value": stack}],
                        "artifacts": [],
                        "exitCode": "0",
                    },
                )
                if all(a["name"] != art["name"] for a in init["artifacts"]):
                    init["artifacts"].append(
                        {"name": art["name"], kind: {"key": old}, "archive": {"none": {}}}
                    )
            else:
                dest = locs.of_key(f"{key_prefix}{prefix}/{group}/{art['name']}")[kind]["key"]
                if (current, dest) not in copies:
                    copies.append((current, dest))
                art[kind] = {**art[kind], "key": dest}
        _add_entry(maps, configmap, prefix, key, step.get("id") or "", outputs, stamp, where)
    for group, outputs in inits.items():
        _add_entry(
            maps,
            configmap,
            prefix,
            f"{group}-init-artifact",
            f"dflow-{group}",
            outputs,
            stamp,
            f"fan-out '{group}'",
        )
    return ReusePlan(list(maps.values()), copies)


def _add_entry(
    maps: dict[str, dict[str, Any]],
    configmap: str,
    prefix: str,
    key: str,
    node_id: str,
    outputs: dict[str, Any],
    stamp: str,
    where: str,
) -> None:
    entry_key = f"{prefix}-{key}"
    if not _KEY.match(entry_key) or len(entry_key) > 253:
        raise RenderError(
            f"{where}: memoize key {entry_key!r} is not a valid ConfigMap key "
            "(letters, digits, '-', '.', '_')"
        )
    name = f"{configmap_name(configmap, prefix)}-{key}"
    if len(name) > 253 or not _NAME.match(name):
        raise RenderError(
            f"{where}: cache ConfigMap name {name!r} (from key '{key}') is not "
            "a valid Kubernetes name: use lower-case keys (letters, digits, '-')"
        )
    if name in maps:
        raise RenderError(f"{where}: key '{key}' is reused twice; keys must be unique")
    maps[name] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {CACHE_LABEL: "Cache"}},
        "data": {
            entry_key: json.dumps(
                {
                    "nodeID": node_id,
                    "outputs": outputs,
                    "creationTimestamp": stamp,
                    "lastHitTimestamp": stamp,
                },
                separators=(",", ":"),
            )
        },
    }


def reused_global_outputs(reuse_step: Iterable[Any]) -> dict[str, Any]:
    """``status.outputs`` preset with the global outputs of the keyed reused steps, as pydflow
    does: the controller reads them as ``workflow.outputs.*`` from the start
    (``workflow/controller/operator.go`` ``setGlobalParameters``, v3.7.18 and v4.1.2), and a
    modified value is what the new run sees."""
    params: dict[str, dict[str, Any]] = {}
    arts: dict[str, dict[str, Any]] = {}
    for step in reuse_step:
        key = step.get("key") if hasattr(step, "get") else getattr(step, "key", None)
        if not key:
            continue
        where = f"reused step '{step.get('displayName') or step.get('id')}'"
        outputs = _outputs(step, where)
        for p in outputs.get("parameters") or []:
            if p.get("globalName") and p["name"] != "dflow_global":
                params[p["globalName"]] = {
                    "name": p["globalName"],
                    **{k: v for k, v in p.items() if k in ("value", "description")},
                }
        for a in outputs.get("artifacts") or []:
            if a.get("globalName"):
                arts[a["globalName"]] = {
                    **{k: v for k, v in a.items() if k != "globalName"},
                    "name": a["globalName"],
                }
    out: dict[str, Any] = {}
    if params:
        out["parameters"] = list(params.values())
    if arts:
        out["artifacts"] = list(arts.values())
    return out
