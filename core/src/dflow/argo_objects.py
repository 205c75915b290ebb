"""Query results: a workflow and its steps as engines report them (pydflow's ``argo_objects``).

Every engine answers queries with the same objects, built from Argo-format dicts. The local
engine produces these dicts itself, so the format is spelled out here.

Workflow dict (``ArgoWorkflow(d)``)::

    {"metadata": {"name": "<workflow id>", "uid": "..."},     # or a top-level "id"/"uid"
     "status": {"phase": "Pending|Running|Succeeded|Failed|Error",
                "startedAt": "2024-05-01T10:00:00Z", "finishedAt": "... or null",
                "outputs": {"parameters": [...], "artifacts": [...]},     # global outputs
                "nodes": {"<node id>": <node>, ...}}}

Node dict (``ArgoStep(node, workflow_id)``)::

    {"id": "<node id>", "name": "<wf>.steps[0].hello(0:1)", "displayName": "hello(0:1)",
     "type": "Pod|Steps|DAG|StepGroup|TaskGroup|Retry|Skipped|Suspend",
     "phase": "Pending|Running|Succeeded|Failed|Error|Skipped|Omitted",
     "templateName": "hello", "startedAt": ISO-8601 or null, "finishedAt": ISO-8601 or null,
     "boundaryID": "<id of the enclosing Steps/DAG node>",            # optional
     "children": ["<node id>", ...], "outboundNodes": ["<node id>", ...],   # optional
     "message": "...",
     "inputs":  {"parameters": [{"name": "x", "value": "<text>",
                                 "description": "{\\"type\\": \\"int\\"}"}, ...],
                 "artifacts":  [{"name": "f", "s3": {"key": "..."}}          # Argo
                                | {"name": "f", "local_path": "/abs/path"}, ...]},  # local
     "outputs": {same shape, plus optional "result" and "exitCode"}}

A parameter value is always text (see :mod:`dflow.serialization`); its type comes from the
``description`` JSON (``{"type": "int"}``, as rendered for Argo) or from a ``type`` field
(as the local engine records it), and ``ArgoParameter.value`` is decoded accordingly.

The attribute dicts live in :mod:`dflow.argo_dicts`, pod names, the name filter and durations
in :mod:`dflow.argo_names`; both are importable from here, as from pydflow's module.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .argo_dicts import ArgoObjectDict as ArgoObjectDict
from .argo_dicts import ArgoObjectList as ArgoObjectList
from .argo_dicts import _LazyNodes, _plain
from .argo_names import FNV1_32_INIT as FNV1_32_INIT
from .argo_names import FNV_32_PRIME as FNV_32_PRIME
from .argo_names import duration as duration
from .argo_names import fnva as fnva
from .argo_names import get_duration as get_duration
from .argo_names import get_hash as get_hash
from .argo_names import get_pod_name as get_pod_name
from .argo_names import k8s_naming_hash_length as k8s_naming_hash_length
from .argo_names import match as match
from .argo_names import max_k8s_resource_name_length as max_k8s_resource_name_length
from .argo_names import name_matches as name_matches
from .argo_names import parse_time as parse_time
from .gc_pause import gc_paused
from .serialization import dump_value, load_value, type_name

BIGPAR_PREFIX = "dflow_bigpar_"

logger = logging.getLogger(__name__)


def _declared_type(d: Mapping[str, Any]) -> Any:
    """The type a parameter records: a ``type`` field, else the ``description`` JSON."""
    if d.get("type") is not None:
        return d["type"]
    desc = d.get("description")
    if isinstance(desc, str) and desc.startswith("{"):
        try:
            meta = json.loads(desc)
        except ValueError:
            return None
        if isinstance(meta, dict):
            return meta.get("type")
    return None


class ArgoParameter(ArgoObjectDict):
    """A parameter of a step; ``.value`` is decoded from its text when its type is not str."""

    def __init__(self, d: Mapping[str, Any]) -> None:
        super().__init__(d)
        if "value" in self and isinstance(self["value"], str):
            dict.__setitem__(self, "value", load_value(self["value"], _declared_type(self)))

    def recover(self) -> dict[str, Any]:
        d = super().recover()
        d.pop("modified", None)
        if "value" in d:
            declared = _declared_type(self)
            value = d["value"]
            if declared is None and not isinstance(value, str):
                # a value changed to a non-str: record its type so it decodes back
                declared = d["type"] = type_name(type(value))
            d["value"] = dump_value(value, declared)
        return d


class ArgoBigParameter(ArgoParameter):
    """A big parameter: stored as the artifact ``dflow_bigpar_<name>``, read on first use."""

    def __init__(self, name: str, artifact: ArgoObjectDict, loader: Callable[[Any], str]) -> None:
        super().__init__({"name": name})
        self._artifact = artifact
        self._loader = loader

    @property
    def value(self) -> Any:
        if "value" not in self:
            text = self._loader(self._artifact)
            dict.__setitem__(self, "value", load_value(text, _declared_type(self._artifact)))
        return dict.__getitem__(self, "value")

    @value.setter
    def value(self, v: Any) -> None:
        dict.__setitem__(self, "value", v)

    def __getitem__(self, key: str) -> Any:
        return self.value if key == "value" else super().__getitem__(key)

    def recover(self) -> dict[str, Any]:
        self.value  # noqa: B018 - make sure the value is loaded before it is dumped
        return super().recover()


def read_local_artifact(artifact: Mapping[str, Any]) -> str:
    """The text of a one-file artifact that the local engine recorded by ``local_path``."""
    path = artifact.get("local_path")
    if not path:
        raise ValueError(
            f"cannot read artifact '{artifact.get('name')}': it has no local_path; "
            "an engine must set a loader for remote artifacts (ArgoStep.set_artifact_loader)"
        )
    if os.path.isdir(path):
        files = [
            os.path.join(root, f)
            for root, dirs, names in os.walk(path)
            for f in names
            if ".dflow" not in root.split(os.sep) and f != ".empty_dir"
        ]
        if len(files) != 1:
            raise ValueError(
                f"big parameter artifact at {path} holds {len(files)} files, expected 1"
            )
        path = files[0]
    with open(path, encoding="utf-8") as f:
        return f.read()


def _as_list(v: str | Iterable[str] | None) -> list[str] | None:
    if v is None:
        return None
    return [v] if isinstance(v, str) else list(v)


def _io_section(section: Any, loader: Callable[[Any], str]) -> ArgoObjectDict:
    """Inputs/outputs with parameters and artifacts as dicts keyed by name."""
    section = dict(section or {})
    params = section.pop("parameters", None) or []
    arts = section.pop("artifacts", None) or []
    out = ArgoObjectDict(section)
    if isinstance(params, Mapping):  # already converted (a copy of a step)
        params = [dict(p, name=n) if isinstance(p, Mapping) else p for n, p in params.items()]
    if isinstance(arts, Mapping):
        arts = [dict(a, name=n) for n, a in arts.items()]
    pdict: dict[str, ArgoParameter] = {}
    for p in params:
        if isinstance(p, ArgoParameter):
            pdict[p["name"]] = p
        else:
            pdict[p["name"]] = ArgoParameter(p)
    adict = ArgoObjectDict({a["name"]: a for a in arts})
    for name, art in adict.items():
        if name.startswith(BIGPAR_PREFIX):
            pname = name[len(BIGPAR_PREFIX) :]
            pdict.setdefault(pname, ArgoBigParameter(pname, art, loader))
    dict.__setitem__(out, "parameters", ArgoObjectDict())
    for n, p in pdict.items():
        dict.__setitem__(out["parameters"], n, p)
    dict.__setitem__(out, "artifacts", adict)
    return out


def _location_key(art: Mapping[str, Any]) -> str | None:
    for kind in ("s3", "oss", "gcs", "azure", "hdfs", "http"):
        loc = art.get(kind)
        if isinstance(loc, Mapping) and loc.get("key"):
            return loc["key"]
    return art.get("local_path")


class ArgoStep(ArgoObjectDict):
    """One node of a workflow (a step, a DAG task, a group...) with pydflow's conveniences.

    ``inputs.parameters`` / ``outputs.parameters`` map names to :class:`ArgoParameter`,
    ``.artifacts`` map names to artifact dicts; ``.key`` is the ``dflow_key`` input (or None).
    """

    def __init__(self, step: Mapping[str, Any], workflow_id: str | None = None) -> None:
        super().__init__({k: v for k, v in step.items() if k not in ("inputs", "outputs")})
        object.__setattr__(self, "_workflow_id", workflow_id)
        object.__setattr__(self, "_engine", None)
        object.__setattr__(self, "_loader", read_local_artifact)
        loader = self._load_artifact
        dict.__setitem__(self, "inputs", _io_section(step.get("inputs"), loader))
        dict.__setitem__(self, "outputs", _io_section(step.get("outputs"), loader))
        key_param = self["inputs"]["parameters"].get("dflow_key")
        key = key_param.get("value") if key_param is not None else None
        dict.__setitem__(self, "key", key if key not in ("", None) else None)

    @property
    def workflow_id(self) -> str | None:
        """The id of the workflow this step belongs to."""
        return self._workflow_id

    workflow = workflow_id  # pydflow's name

    def _load_artifact(self, artifact: Any) -> str:
        return self._loader(artifact)

    def set_artifact_loader(self, loader: Callable[[Mapping[str, Any]], str]) -> None:
        """Engines: how to read an artifact's text (big parameters read lazily through it)."""
        object.__setattr__(self, "_loader", loader)

    def set_engine(self, engine: Any) -> None:
        """Engines: the engine that ``retry()`` and friends delegate to."""
        object.__setattr__(self, "_engine", engine)

    def modify_output_parameter(self, name: str, value: Any) -> None:
        """Change an output parameter's value (for reuse in a new submission)."""
        params = self["outputs"]["parameters"]
        if name not in params:
            raise KeyError(
                f"step '{self.get('displayName', self.get('id'))}' has no output parameter "
                f"'{name}' (has: {', '.join(params) or 'none'})"
            )
        param = params[name]
        if isinstance(param, ArgoBigParameter):
            param.value = value
        else:
            dict.__setitem__(param, "value", value)
        # reuse re-uploads or re-renders only what changed
        param["modified"] = True

    def modify_output_artifact(self, name: str, artifact: Any) -> None:
        """Point an output artifact at another stored object (for reuse).

        ``artifact`` is an artifact location dict (``{"s3": {"key": ...}}``), an object with
        a ``key`` attribute (an ``S3Artifact``), or a local path. The old key is kept in
        ``modified.old_key`` so that reuse can copy the new content back to it.
        """
        arts = self["outputs"]["artifacts"]
        if name not in arts:
            raise KeyError(
                f"step '{self.get('displayName', self.get('id'))}' has no output artifact "
                f"'{name}' (has: {', '.join(arts) or 'none'})"
            )
        old = arts[name]
        old_key = _location_key(old)
        new = {k: v for k, v in old.items() if k in ("name", "path", "archive", "globalName")}
        if isinstance(artifact, Mapping):
            new.update({k: v for k, v in artifact.items() if k != "name"})
        elif isinstance(artifact, (str, os.PathLike)):
            new["local_path"] = os.fspath(artifact)
        elif getattr(artifact, "key", None) is not None:
            # only the location travels, never storage credentials
            kind = "oss" if "oss" in old else "s3"
            new[kind] = {"key": artifact.key}
        else:
            raise TypeError(
                f"modify_output_artifact('{name}', ...) expects a location dict, a path or an "
                f"object with a 'key' attribute, got {type(artifact).__name__}"
            )
        new["modified"] = {"old_key": old_key}
        arts[name] = new

    def get_duration(self) -> _dt.timedelta:
        """Run time so far (up to now while the step runs)."""
        return duration(self.get("startedAt"), self.get("finishedAt"))

    def retry(self) -> None:
        """Retry this step (the engine decides how)."""
        if self._engine is None:
            raise RuntimeError(
                f"step '{self.get('id')}' was not obtained from an engine: query it with "
                "Workflow(id=...).query_step(...) first"
            )
        self._engine.retry(self.workflow_id, step_ids=[self["id"]])

    def recover(self) -> dict[str, Any]:
        """The node back in Argo format (parameter and artifact lists, values as text)."""
        d = {k: _plain(v) for k, v in self.items() if k not in ("inputs", "outputs", "key")}
        for io in ("inputs", "outputs"):
            section = self[io]
            out = {k: _plain(v) for k, v in section.items() if k not in ("parameters", "artifacts")}
            params = [
                p.recover()
                for n, p in section["parameters"].items()
                if not (isinstance(p, ArgoBigParameter) and "modified" not in p)
            ]
            arts = [dict(_plain(a), name=n) for n, a in section["artifacts"].items()]
            if params:
                out["parameters"] = params
            if arts:
                out["artifacts"] = arts
            if out:
                d[io] = out
        return d


class ArgoWorkflow(ArgoObjectDict):
    """A workflow with its status and nodes, as returned by ``Workflow.query()``."""

    def __init__(self, d: Mapping[str, Any]) -> None:
        status = d.get("status")
        if isinstance(status, Mapping) and not isinstance(status, ArgoObjectDict):
            nodes = status.get("nodes")
            if isinstance(nodes, Mapping) and not isinstance(nodes, ArgoObjectDict):
                d = {**d, "status": {**status, "nodes": _LazyNodes(nodes)}}
        super().__init__(d)
        meta = self.get("metadata") or {}
        # pydflow read the id from metadata.name only, losing the local engine's top-level id
        object.__setattr__(self, "_id", meta.get("name") or self.get("id"))
        object.__setattr__(self, "_uid", meta.get("uid") or self.get("uid"))
        object.__setattr__(self, "_engine", None)
        object.__setattr__(self, "_loader", None)
        object.__setattr__(self, "_steps", None)
        if "status" not in self:
            dict.__setitem__(self, "status", ArgoObjectDict())

    @property
    def id(self) -> str | None:
        """The workflow id (Argo's ``metadata.name``)."""
        return self._id

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython and Jupyter show a summary: ``wf.submit()`` ending a notebook cell would
        otherwise send the whole record, 1.7 MB of text for a 2,000-slice fan-out, to the
        page (and into the saved notebook). ``print()``, ``repr()`` and the keys still give
        everything."""
        status = self.get("status") or {}
        nodes = status.get("nodes") or {}
        parts = [f"id={self.id!r}", f"phase={status.get('phase')!r}"]
        for key, label in (("startedAt", "started"), ("finishedAt", "finished")):
            if status.get(key):
                parts.append(f"{label}={status[key]!r}")
        parts.append(f"nodes={len(nodes)}")
        printer.text(f"{type(self).__name__}({', '.join(parts)})")

    @property
    def uid(self) -> str | None:
        return self._uid

    def set_engine(
        self, engine: Any, loader: Callable[[Mapping[str, Any]], str] | None = None
    ) -> None:
        """Engines: attach the engine (and an artifact loader) passed on to every step."""
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_loader", loader)
        object.__setattr__(self, "_steps", None)

    def _nodes(self) -> dict[str, Any]:
        nodes = self["status"].get("nodes") or {}
        return nodes.raw() if isinstance(nodes, _LazyNodes) else nodes

    def _step(self, node_id: str, node: Mapping[str, Any]) -> ArgoStep:
        """The node as an :class:`ArgoStep`, made on first need (a query for one step of a
        100,000-slice fan-out makes one, not 100,000 at ~100 µs each)."""
        if self._steps is None:
            object.__setattr__(self, "_steps", {})
        step = self._steps.get(node_id)
        if step is None:
            step = self._steps[node_id] = ArgoStep(dict(node, id=node.get("id", node_id)), self.id)
            if self._engine is not None:
                step.set_engine(self._engine)
            if self._loader is not None:
                step.set_artifact_loader(self._loader)
        return step

    def _all_steps(self) -> dict[str, ArgoStep]:
        return {i: self._step(i, node) for i, node in self._nodes().items()}

    def _root_ids(self) -> list[str]:
        nodes = self._nodes()
        if self.id in nodes:
            return [self.id]
        children = {c for n in nodes.values() for c in (n.get("children") or [])}
        return [i for i, n in nodes.items() if i not in children and not n.get("boundaryID")]

    @staticmethod
    def _inside(nodes: Mapping[str, Any], node_id: str, boundary: str | None) -> bool:
        """Whether ``node_id`` lies within the template node ``boundary`` (when known)."""
        current = nodes.get(node_id, {}).get("boundaryID")
        if boundary is None or current is None:
            return True  # no boundary information: trust the children maps
        seen = set()
        while current and current not in seen:
            if current == boundary:
                return True
            seen.add(current)
            current = nodes.get(current, {}).get("boundaryID")
        return False

    def get_sub_nodes(self, node_id: str) -> list[ArgoStep]:
        """The nodes below ``node_id``, generation by generation (breadth first)."""
        nodes = self._nodes()
        if node_id not in nodes:
            raise KeyError(f"workflow '{self.id}' has no node '{node_id}'")
        # Argo links a template's last nodes to what follows it outside: stop there
        stop = set(nodes[node_id].get("outboundNodes") or [])
        is_boundary = any(n.get("boundaryID") == node_id for n in nodes.values())
        boundary = node_id if is_boundary else nodes[node_id].get("boundaryID")
        order: list[str] = []
        seen = {node_id}
        queue = deque([node_id])
        while queue:
            current = queue.popleft()
            if current in stop:
                continue
            for child in nodes.get(current, {}).get("children") or []:
                if child in seen or child not in nodes or not self._inside(nodes, child, boundary):
                    continue
                seen.add(child)
                order.append(child)
                queue.append(child)
        return [self._step(i, nodes[i]) for i in order]

    def _generation_order(self) -> list[ArgoStep]:
        steps = self._all_steps()
        out: list[ArgoStep] = []
        seen: set[str] = set()
        for root in self._root_ids():
            for s in [steps[root], *self.get_sub_nodes(root)]:
                if s["id"] not in seen:
                    seen.add(s["id"])
                    out.append(s)
        out += [s for i, s in steps.items() if i not in seen]
        return out

    @gc_paused()  # it may make 100,000s of steps: see dflow.gc_pause
    def get_step(
        self,
        name: str | list[str] | None = None,
        key: str | list[str] | None = None,
        phase: str | list[str] | None = None,
        id: str | list[str] | None = None,
        type: str | list[str] | None = None,
        parent_id: str | None = None,
        sort_by_generation: bool = False,
    ) -> list[ArgoStep]:
        """Steps matching every given filter; each filter takes one value or a list.

        ``name`` is a step name or a regular expression matching the whole display name (see
        :func:`name_matches`; a loop item ``hello(0:1)`` matches ``hello``); ``parent_id``
        keeps the nodes below that node. Steps come in start
        order, or generation by generation with ``sort_by_generation``.
        """
        names, keys, phases = _as_list(name), _as_list(key), _as_list(phase)
        ids, types = _as_list(id), _as_list(type)

        def plain_fields_match(s: Mapping[str, Any], sid: Any) -> bool:
            """The filters on fields a node and its step hold alike (not ``key``, which the
            step decodes from the node's inputs)."""
            if names is not None:
                if not name_matches(s.get("displayName") or s.get("name") or "", names):
                    return False
            if phases is not None and s.get("phase") not in phases:
                return False
            if ids is not None and sid not in ids:
                return False
            return types is None or s.get("type") in types

        if parent_id is not None:
            candidates = self.get_sub_nodes(parent_id)
        elif sort_by_generation:
            candidates = self._generation_order()
        else:  # the nodes filtered first: only the matches become steps
            candidates = [
                self._step(i, n)
                for i, n in self._nodes().items()
                if plain_fields_match(n, n.get("id", i))
            ]
        if not sort_by_generation:
            far = _dt.datetime.max.replace(tzinfo=_dt.UTC)
            candidates.sort(key=lambda s: parse_time(s.get("startedAt")) or far)
        return [
            s
            for s in candidates
            if plain_fields_match(s, s.get("id")) and (keys is None or s.get("key") in keys)
        ]

    def get_duration(self) -> _dt.timedelta:
        """Run time so far (up to now while the workflow runs)."""
        return duration(self["status"].get("startedAt"), self["status"].get("finishedAt"))
