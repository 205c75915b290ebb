"""executeTemplate: one node of the tree, as Argo's controller evaluates it each pass.

Follows workflow/controller/operator.go (executeTemplate, processNodeRetries,
checkParallelism, checkTemplateTimeout, executeContainer/executeScript/executeResource), the
memoization of workflow/controller/cache/configmap_cache.go and workflow/common/util.go
(ProcessArgs, SubstituteParams), all at v3.7.18.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .kinds import is_pod_type, template_type
from .limits import check_parallelism
from .memo import memoize
from .nodes import fulfilled, parse_duration, parse_time
from .retries import last_retry_params, process_retries
from .scope import ABSENT_OPTIONAL
from .templating import TemplateError, replace_object

if TYPE_CHECKING:
    from .controller import Operator


@dataclass
class Opts:
    """executeTemplateOpts (operator.go, v3.7.18)."""

    boundary_id: str = ""
    on_exit: bool = False
    execution_deadline: float | None = None
    flag: dict[str, bool] | None = None


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def process_args(
    op: Operator,
    tmpl: dict[str, Any],
    args: dict[str, Any],
    local: dict[str, str],
    validate_only: bool = False,
) -> dict[str, Any]:
    """ProcessArgs (workflow/common/util.go, v3.7.18): inputs from arguments or defaults,
    input artifacts from arguments, then SubstituteParams."""
    tmpl = copy.deepcopy(tmpl)
    arg_params = {p["name"]: p for p in args.get("parameters") or []}
    arg_arts = {a["name"]: a for a in args.get("artifacts") or []}
    inputs = tmpl.get("inputs") or {}
    for p in inputs.get("parameters") or []:
        if p.get("default") is not None:
            p["value"] = _text(p["default"])
        arg = arg_params.get(p["name"])
        if arg is not None and arg.get("value") == ABSENT_OPTIONAL:
            if p.get("value") is None and p.get("valueFrom") is None:
                raise TemplateError(
                    f"inputs.parameters.{p['name']}: argument references an "
                    "absent optional (skipped/omitted node output with no default)"
                )
        elif arg is not None:
            if arg.get("value") is not None:
                p["value"] = _text(arg["value"])
            elif arg.get("valueFrom") is not None:
                p["valueFrom"] = arg["valueFrom"]
        if p.get("value") is None and (p.get("valueFrom") or {}).get("configMapKeyRef"):
            ref = p["valueFrom"]["configMapKeyRef"]
            cm = op.cluster.kube_objects.get((op.cluster.namespace, "configmaps", ref["name"]))
            value = ((cm or {}).get("data") or {}).get(ref["key"])
            if value is None:
                if p["valueFrom"].get("default") is None:
                    raise TemplateError(
                        f"unable to retrieve inputs.parameters.{p['name']} from "
                        f"ConfigMap {ref['name']}"
                    )
                value = p["valueFrom"]["default"]
            p["value"] = _text(value)
    locations = ("s3", "oss", "gcs", "http", "git", "raw", "hdfs", "azure", "artifactory")
    for i, a in enumerate(inputs.get("artifacts") or []):
        arg = arg_arts.get(a["name"])
        has_location = any(k in a for k in locations)
        if not a.get("optional") and not has_location:
            if arg is None:
                raise TemplateError(f"inputs.artifacts.{a['name']} was not supplied")
            if (
                not any(k in arg for k in locations)
                and not validate_only
                and not (arg.get("from") and arg.get("fromExpression"))
            ):
                raise TemplateError(f"inputs.artifacts.{a['name']} missing location information")
        if arg is not None:
            new = copy.deepcopy(arg)
            for key in ("path", "mode", "recurseMode"):
                if key in a:
                    new[key] = a[key]
                else:
                    new.pop(key, None)
            inputs["artifacts"][i] = new
    return substitute_params(tmpl, op.globals, local)


def substitute_params(
    tmpl: dict[str, Any], globals_: dict[str, str], local: dict[str, str]
) -> dict[str, Any]:
    """SubstituteParams (workflow/common/util.go, v3.7.18): globals and locals first, then
    inputs and the ``.path`` of declared inputs and outputs."""
    values: dict[str, Any] = {**globals_, **local}
    tmpl = replace_object(tmpl, values)
    inputs = tmpl.get("inputs") or {}
    for p in inputs.get("parameters") or []:
        if p.get("value") is None and p.get("valueFrom") is None:
            raise TemplateError(f"inputs.parameters.{p['name']} had no value")
        if p.get("value") is not None:
            values["inputs.parameters." + p["name"]] = _text(p["value"])
    values["inputs.parameters"] = json.dumps(inputs.get("parameters") or [], separators=(",", ":"))
    for a in inputs.get("artifacts") or []:
        if a.get("path"):
            values[f"inputs.artifacts.{a['name']}.path"] = a["path"]
    outputs = tmpl.get("outputs") or {}
    for a in outputs.get("artifacts") or []:
        if a.get("path"):
            values[f"outputs.artifacts.{a['name']}.path"] = a["path"]
    for p in outputs.get("parameters") or []:
        if (p.get("valueFrom") or {}).get("path"):
            values[f"outputs.parameters.{p['name']}.path"] = p["valueFrom"]["path"]
    return replace_object(tmpl, values)


def init_or_error(
    op: Operator,
    node: dict[str, Any] | None,
    name: str,
    holder: dict[str, Any],
    opts: Opts,
    err: Exception,
) -> dict[str, Any]:
    """initializeNodeOrMarkError (operator.go, v3.7.18)."""
    if node is not None:
        return op.nodes.mark_error(name, str(err))
    return op.nodes.initialize(
        name,
        "Skipped",
        op.scope_name,
        holder.get("template"),
        opts.boundary_id,
        "Error",
        opts.flag,
        str(err),
    )


def initialize_executable(
    op: Operator,
    name: str,
    type_: str,
    tmpl: dict[str, Any],
    holder: dict[str, Any],
    opts: Opts,
    phase: str,
    message: str | None = None,
) -> dict[str, Any]:
    """initializeExecutableNode (operator.go, v3.7.18): the node keeps the template's
    resolved inputs."""
    node = op.nodes.initialize(
        name,
        type_,
        op.scope_name,
        holder.get("template"),
        opts.boundary_id,
        phase,
        opts.flag,
        message,
    )
    inputs = tmpl.get("inputs") or {}
    if inputs.get("parameters") or inputs.get("artifacts"):
        node["inputs"] = copy.deepcopy(inputs)
    memo = tmpl.get("memoize")
    if memo and "memoizationStatus" not in node:
        node["memoizationStatus"] = {
            "hit": False,
            "key": memo["key"],
            "cacheName": memo["cache"]["configMap"]["name"],
        }
    return node


def execute_template(
    op: Operator, name: str, holder: dict[str, Any], args: dict[str, Any], opts: Opts
) -> tuple[dict[str, Any] | None, Exception | None]:
    """executeTemplate (operator.go, v3.7.18). Returns (node, err) as the Go code does."""
    from . import dag, steps
    from .controller import ERR_TIMEOUT
    from .nodes import pod_name

    node = op.nodes.by_name(name)
    tmpl = op.template(holder.get("template"))
    if tmpl is None and holder.get("inline"):
        tmpl = copy.deepcopy(holder["inline"])
    if tmpl is None:
        err = TemplateError(f"template {holder.get('template')} not found")
        return init_or_error(op, node, name, holder, opts, err), err
    local: dict[str, str] = {}
    if is_pod_type(tmpl) and not tmpl.get("retryStrategy"):
        local["pod.name"] = pod_name(op.name, name, tmpl["name"])
    if holder.get("_kind") == "task":
        local["tasks.name"] = holder["name"]
    elif holder.get("_kind") == "step":
        local["steps.name"] = holder["name"]
    local["node.name"] = name
    try:
        processed = process_args(op, tmpl, args, local)
    except TemplateError as err:
        return init_or_error(op, node, name, holder, opts, err), err
    if node is not None and fulfilled(node):
        return node, None
    # checkTemplateTimeout: a node still Pending past its template's timeout fails
    if node is not None and processed.get("timeout") and node["phase"] == "Pending":
        start = parse_time(node.get("startedAt"))
        if start and time.time() > start.timestamp() + parse_duration(processed["timeout"]):
            return op.nodes.mark(name, "Failed", str(ERR_TIMEOUT)), ERR_TIMEOUT
    err = check_parallelism(op, processed, node, opts.boundary_id)
    if err is not None:
        return node, err
    if processed.get("memoize") and node is None:
        try:
            node = memoize(op, name, holder, processed, opts)
        except TemplateError as err:
            return init_or_error(op, node, name, holder, opts, err), err
        if fulfilled(node):
            return node, None
    retry_name = ""
    if processed.get("retryStrategy"):
        retry_name = name
        parent = node or initialize_executable(
            op, name, "Retry", processed, holder, opts, "Running"
        )
        if opts.flag is None:
            opts.flag = {}
        opts.flag["retried"] = True
        parent, go_on, err = process_retries(op, parent, processed["retryStrategy"], opts)
        if err is not None:
            return op.nodes.mark_error(retry_name, str(err)), err
        if not go_on:
            return parent, None
        ids, last = op.nodes.retry_children(parent)
        if fulfilled(parent) and op.nodes.children_fulfilled(parent):
            if last is not None and last.get("outputs") is not None:
                parent["outputs"] = copy.deepcopy(last["outputs"])
            return parent, None
        if last is not None and not fulfilled(last):
            name, node, attempt = last["name"], last, len(ids) - 1
        else:
            attempt = len(ids)
            name = f"{retry_name}({attempt})"
            op.nodes.add_child(retry_name, name)
            node = None
        local = {"retries": str(attempt)}
        if is_pod_type(processed):
            local["pod.name"] = pod_name(op.name, name, processed["name"])
        local.update(last_retry_params(last))
        try:
            processed = substitute_params(processed, op.globals, local)
        except TemplateError as err:
            return init_or_error(op, node, name, holder, opts, err), err
    kind = template_type(processed)
    err = None
    try:
        if kind in ("container", "script", "resource"):
            node = execute_pod(op, name, processed, holder, opts)
        elif kind == "steps":
            node, err = steps.execute_steps(op, name, processed, holder, opts)
        elif kind == "dag":
            node, err = dag.execute_dag(op, name, processed, holder, opts)
        elif kind == "suspend":
            node = execute_suspend(op, name, processed, holder, opts)
        else:
            err = TemplateError(
                f"Template '{processed.get('name')}' missing specification"
                if not kind
                else f"{kind} templates are not emulated"
            )
            return op.nodes.initialize(
                name,
                "Skipped",
                op.scope_name,
                holder.get("template"),
                opts.boundary_id,
                "Error",
                opts.flag,
                str(err),
            ), err
    except TemplateError as exc:
        err = exc
    if err is not None:
        node = op.nodes.mark_error(name, str(err))
        policy = (processed.get("retryStrategy") or {}).get("retryPolicy") or "OnFailure"
        if not processed.get("retryStrategy") or policy not in (
            "Always",
            "OnError",
            "OnTransientError",
        ):
            return node, err
    node = op.nodes.by_name(node["name"]) if node is not None else op.nodes.by_name(name)
    if retry_name:
        parent = op.nodes.by_name(retry_name)
        if not fulfilled(parent) and fulfilled(node):
            parent, err = execute_template(op, retry_name, holder, args, opts)
            if err is not None:
                return op.nodes.mark_error(node["name"], str(err)), err
        node = parent
    return node, None


def execute_pod(
    op: Operator, name: str, tmpl: dict[str, Any], holder: dict[str, Any], opts: Opts
) -> dict[str, Any]:
    """executeContainer / executeScript / executeResource (operator.go, v3.7.18): a Pod
    node, then its pod (a resource template's runs ``argoexec resource``)."""
    node = op.nodes.by_name(name)
    if node is None:
        node = initialize_executable(op, name, "Pod", tmpl, holder, opts, "Pending")
    elif node["phase"] != "Pending":
        return node
    op.create_pod(name, tmpl, opts.on_exit, opts.execution_deadline, opts.boundary_id)
    return op.nodes.by_name(name)


def step_name(node_name: str) -> str:
    """getStepOrDAGTaskName (operator.go, v3.7.18): ``a.b[0].fan(0:x)(1)`` -> ``fan``."""
    closer = {")": "(", "]": "["}
    opener = ""
    end = len(node_name)
    for i in range(len(node_name) - 1, -1, -1):
        ch = node_name[i]
        if opener:
            if ch == opener:
                opener = ""
            continue
        if ch in closer:
            opener = closer[ch]
            continue
        end = i + 1
        break
    return node_name[:end].rsplit(".", 1)[-1]


def execute_suspend(
    op: Operator, name: str, tmpl: dict[str, Any], holder: dict[str, Any], opts: Opts
) -> dict[str, Any]:
    """executeSuspend (operator.go, v3.7.18): a ``duration`` resumes by itself."""
    node = op.nodes.by_name(name)
    if node is None:
        node = initialize_executable(op, name, "Suspend", tmpl, holder, opts, "Pending")
    duration = (tmpl.get("suspend") or {}).get("duration")
    if duration:
        start = parse_time(node["startedAt"]).timestamp()
        end = start + parse_duration(duration)
        if time.time() > end:
            return op.nodes.mark(name, "Succeeded")
        op.requeue_after(end - time.time())
    return op.nodes.mark(name, "Running")
