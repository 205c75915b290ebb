"""The controller's variable scopes: what ``steps.x.outputs...`` and ``tasks.x...`` resolve to.

Follows workflow/controller/scope.go and the scope helpers of operator.go (buildLocalScope,
addOutputsToLocalScope, processAggregateNodeOutputs), v3.7.18.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .nodes import Nodes, loop_index
from .templating import TemplateError, evaluate, replace, resolve_var

ABSENT_OPTIONAL = "__argo__internal__absent-optional__"  # common.AbsentOptionalArgumentValue


class Scope:
    """wfScope: a flat map of dotted keys plus the template whose inputs it starts from."""

    def __init__(self, tmpl: dict[str, Any] | None = None) -> None:
        self.tmpl = tmpl
        self.values: dict[str, Any] = {}
        if tmpl is not None:  # createScope (scope.go, v3.7.18)
            inputs = tmpl.get("inputs") or {}
            for p in inputs.get("parameters") or []:
                self.values[f"inputs.parameters.{p['name']}"] = _text(p.get("value"))
            for a in inputs.get("artifacts") or []:
                self.values[f"inputs.artifacts.{a['name']}"] = a

    def add(self, key: str, value: Any) -> None:
        self.values[key] = value

    def parameters(self, globals_: dict[str, str] | None = None) -> dict[str, Any]:
        """getParametersAny: strings and absent optionals (None) over the globals."""
        out: dict[str, Any] = dict(globals_ or {})
        out.update({k: v for k, v in self.values.items() if v is None or isinstance(v, str)})
        return out

    def add_skipped_outputs(
        self,
        prefix: str,
        node: dict[str, Any],
        tmpl: dict[str, Any] | None,
        include_artifacts: bool,
    ) -> None:
        """addSkippedNodeOutputsToScope (scope.go, v3.7.18): declared outputs of a skipped or
        omitted node become their default, or an absent optional."""
        if node.get("outputs") or node.get("phase") not in ("Skipped", "Omitted") or not tmpl:
            return
        outputs = tmpl.get("outputs") or {}
        for p in outputs.get("parameters") or []:
            default = (p.get("valueFrom") or {}).get("default")
            self.add(
                f"{prefix}.outputs.parameters.{p['name']}",
                None if default is None else _text(default),
            )
        if include_artifacts:
            for a in outputs.get("artifacts") or []:
                self.add(f"{prefix}.outputs.artifacts.{a['name']}", {})

    def mark_absent_optional_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """markAbsentOptionalArgs (scope.go, v3.7.18): a pure reference to an absent optional
        becomes a sentinel that ProcessArgs reads as "not supplied"."""
        params = args.get("parameters") or []
        if not params:
            return args
        out = copy.deepcopy(args)
        for p in out["parameters"]:
            v = p.get("value")
            if isinstance(v, str) and v.startswith("{{") and v.endswith("}}"):
                key = v[2:-2].strip()
                if (
                    "{{" not in key
                    and "}}" not in key
                    and key in self.values
                    and self.values[key] is None
                ):
                    p["value"] = ABSENT_OPTIONAL
        return out

    def resolve_parameter(self, value_from: dict[str, Any]) -> tuple[Any, bool]:
        """resolveParameter (scope.go, v3.7.18): (value, skipped) or TemplateError."""
        if value_from.get("expression"):
            val = evaluate(value_from["expression"], self.values)
            if val is None:
                raise TemplateError(f"failed to evaluate expression {value_from['expression']!r}")
            return (val if isinstance(val, str) else json.dumps(val, separators=(",", ":"))), False
        if not value_from.get("parameter"):
            return "", False
        val = self._resolve_var(value_from["parameter"])
        return val, val is None

    def _resolve_var(self, tag: str) -> Any:
        values = dict(self.values)
        if self.tmpl is not None:
            for a in (self.tmpl.get("inputs") or {}).get("artifacts") or []:
                values["inputs.artifacts." + a["name"]] = a
        return resolve_var(tag, values)

    def resolve_artifact(self, art: dict[str, Any]) -> dict[str, Any] | None:
        """resolveArtifact (scope.go, v3.7.18): ``from``/``fromExpression`` to the artifact it
        names, ``subPath`` appended to its key."""
        if not art.get("from") and not art.get("fromExpression"):
            return None
        if art.get("fromExpression"):
            val = evaluate(art["fromExpression"], self.values)
        else:
            val = self._resolve_var(art["from"])
        if not isinstance(val, dict):
            raise TemplateError(f"Variable {{{{{art}}}}} is not an artifact")
        out = copy.deepcopy(val)
        if art.get("subPath"):
            sub = json.loads(
                replace(
                    json.dumps(art["subPath"]),
                    self.parameters(),
                )
            )
            try:
                append_to_key(out, sub)
            except TemplateError:
                if not out.get("optional"):
                    raise
        return out


def append_to_key(art: dict[str, Any], sub: str) -> None:
    """Artifact.AppendToKey (workflow_types.go, v3.7.18): the key gets ``/<sub>``."""
    for kind in ("s3", "oss", "gcs", "hdfs", "artifactory", "azure", "http", "git", "raw"):
        if kind in art:
            loc = art[kind]
            if kind in ("s3", "oss", "gcs", "azure"):
                field = "blob" if kind == "azure" else "key"
                loc[field] = (
                    f"{loc.get(field, '').rstrip('/')}/{sub.lstrip('/')}" if loc.get(field) else sub
                )
                return
            raise TemplateError(f"{kind} artifacts do not support subPath")
    raise TemplateError("artifact has no location to append a subPath to")


def _text(value: Any) -> Any:
    """Parameter values are AnyString: numbers and bools as JSON text, strings as they are."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def add_outputs(scope: Scope, prefix: str, outputs: dict[str, Any] | None) -> None:
    """addOutputsToLocalScope (operator.go, v3.7.18)."""
    if not outputs:
        return
    if prefix != "workflow" and outputs.get("result") is not None:
        scope.add(f"{prefix}.outputs.result", outputs["result"])
    if prefix != "workflow" and outputs.get("exitCode") is not None:
        scope.add(f"{prefix}.exitCode", outputs["exitCode"])
    for p in outputs.get("parameters") or []:
        if p.get("value") is not None:
            scope.add(f"{prefix}.outputs.parameters.{p['name']}", _text(p["value"]))
    for a in outputs.get("artifacts") or []:
        scope.add(f"{prefix}.outputs.artifacts.{a['name']}", a)


def build_local(nodes: Nodes, scope: Scope, prefix: str, node: dict[str, Any]) -> None:
    """buildLocalScope (operator.go, v3.7.18): id, times, status and outputs of a node (the
    last attempt's for a Retry node)."""
    last = nodes.last_attempt(node)
    if last is not None:
        node = last
    if node.get("id"):
        scope.add(f"{prefix}.id", node["id"])
    if node.get("startedAt"):
        scope.add(f"{prefix}.startedAt", node["startedAt"])
    if node.get("finishedAt"):
        scope.add(f"{prefix}.finishedAt", node["finishedAt"])
    if node.get("podIP"):
        scope.add(f"{prefix}.ip", node["podIP"])
    if node.get("phase"):
        scope.add(f"{prefix}.status", node["phase"])
    if node.get("hostNodeName"):
        scope.add(f"{prefix}.hostNodeName", node["hostNodeName"])
    add_outputs(scope, prefix, node.get("outputs"))


def add_aggregate(scope: Scope, prefix: str, children: list[dict[str, Any]]) -> None:
    """processAggregateNodeOutputs (operator.go, v3.7.18): outputs of expanded (loop) nodes
    as JSON lists in loop order; hooks and retry attempts left out."""
    if not children:
        return
    kept = [
        c
        for c in children
        if not ((c.get("nodeFlag") or {}).get("hooked") or (c.get("nodeFlag") or {}).get("retried"))
    ]
    kept.sort(key=lambda c: loop_index(c["name"]))
    params: list[dict[str, str]] = []
    lists: dict[str, list[str]] = {}
    results: list[Any] = []
    for c in kept:
        outputs = c.get("outputs")
        if not outputs or c.get("phase") != "Succeeded":
            continue
        if outputs.get("parameters"):
            entry = {}
            for p in outputs["parameters"]:
                entry[p["name"]] = _text(p.get("value")) or ""
                lists.setdefault(p["name"], []).append(entry[p["name"]])
            params.append(entry)
        if outputs.get("result") is not None:
            results.append(
                json.loads(outputs["result"]) if _is_json(outputs["result"]) else outputs["result"]
            )
    scope.add(f"{prefix}.outputs.result", _compact(results))
    scope.add(f"{prefix}.outputs.parameters", _compact(params))
    for name, values in lists.items():
        scope.add(f"{prefix}.outputs.parameters.{name}", aggregated_json(values))


def aggregated_json(values: list[str]) -> str:
    """aggregatedJSONValueList (operator.go, v3.7.18): a list of the values, each decoded
    when every one of them is a JSON object or list, else the strings."""
    decoded = []
    for v in values:
        try:
            d = json.loads(v)
        except ValueError:
            return _compact(values)
        if not isinstance(d, dict | list):
            return _compact(values)
        decoded.append(d)
    return _compact(decoded)


def _compact(value: Any) -> str:
    """json.Marshal: compact; map keys sorted; <, > and & kept (decoded the same)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def template_outputs(tmpl: dict[str, Any], scope: Scope) -> dict[str, Any] | None:
    """getTemplateOutputsFromScope (operator.go, v3.7.18): a Steps/DAG template's outputs."""
    declared = tmpl.get("outputs") or {}
    if not (declared.get("parameters") or declared.get("artifacts") or declared.get("result")):
        return None
    outputs: dict[str, Any] = {}
    if declared.get("parameters"):
        outputs["parameters"] = []
        for p in declared["parameters"]:
            vf = p.get("valueFrom")
            if vf is None:
                raise TemplateError("output parameters must have a valueFrom specified")
            try:
                val, skipped = scope.resolve_parameter(vf)
                if skipped and vf.get("default") is not None:
                    val = _text(vf["default"])
            except TemplateError:
                if vf.get("default") is None:
                    raise
                val = _text(vf["default"])
            if val is None:
                raise TemplateError(
                    f"output parameter {p['name']!r}: {vf.get('parameter')!r} is an absent "
                    "optional (skipped/omitted node output with no default)"
                )
            out = {k: v for k, v in p.items() if k != "valueFrom"}
            out["value"] = _text(val)
            outputs["parameters"].append(out)
    if declared.get("artifacts"):
        outputs["artifacts"] = []
        for a in declared["artifacts"]:
            try:
                resolved = scope.resolve_artifact(a)
            except TemplateError as exc:
                if "Unable to resolve" in str(exc) and a.get("optional"):
                    continue
                raise TemplateError(f"unable to resolve outputs from scope: {exc}")
            if resolved is None:
                continue
            resolved = dict(resolved)
            resolved["name"] = a["name"]  # only the name: the rest is the producer's artifact
            outputs["artifacts"].append(resolved)
    return outputs
