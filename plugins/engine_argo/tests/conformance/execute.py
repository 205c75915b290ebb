"""executeTemplate: one node of the tree, as Argo's controller evaluates it each pass.

Follows workflow/controller/operator.go (executeTemplate, processNodeRetries,
checkParallelism, checkTemplateTimeout, executeContainer/executeScript), the memoization of
workflow/controller/cache/configmap_cache.go and workflow/common/util.go (ProcessArgs,
SubstituteParams), all at v3.7.18.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .nodes import duration_seconds, failed_or_error, fulfilled, now, parse_time
from .scope import ABSENT_OPTIONAL
from .templating import TemplateError, evaluate, replace_object

if TYPE_CHECKING:
    from .controller import Operator

CACHE_LABEL = "workflows.argoproj.io/configmap-type"
TEMPLATE_KINDS = ("container", "script", "steps", "dag", "resource", "suspend", "data",
                  "http", "plugin", "containerSet")


@dataclass
class Opts:
    """executeTemplateOpts (operator.go, v3.7.18)."""

    boundary_id: str = ""
    on_exit: bool = False
    execution_deadline: float | None = None
    flag: dict[str, bool] | None = None


def template_type(tmpl: dict[str, Any]) -> str:
    return next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), "")


def node_type(tmpl: dict[str, Any]) -> str:
    """GetNodeType (workflow/util/util.go, v3.7.18)."""
    kind = template_type(tmpl)
    return {"steps": "Steps", "dag": "DAG", "suspend": "Suspend", "http": "HTTP",
            "plugin": "Plugin"}.get(kind, "Pod")


def is_pod_type(tmpl: dict[str, Any]) -> bool:
    return template_type(tmpl) in ("container", "script", "resource", "data", "containerSet")


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def process_args(op: Operator, tmpl: dict[str, Any], args: dict[str, Any],
                 local: dict[str, str], validate_only: bool = False) -> dict[str, Any]:
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
                raise TemplateError(f"inputs.parameters.{p['name']}: argument references an "
                                    "absent optional (skipped/omitted node output with no default)")
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
                    raise TemplateError(f"unable to retrieve inputs.parameters.{p['name']} from "
                                        f"ConfigMap {ref['name']}")
                value = p["valueFrom"]["default"]
            p["value"] = _text(value)
    locations = ("s3", "oss", "gcs", "http", "git", "raw", "hdfs", "azure", "artifactory")
    for i, a in enumerate(inputs.get("artifacts") or []):
        arg = arg_arts.get(a["name"])
        has_location = any(k in a for k in locations)
        if not a.get("optional") and not has_location:
            if arg is None:
                raise TemplateError(f"inputs.artifacts.{a['name']} was not supplied")
            if not any(k in arg for k in locations) and not validate_only and not (
                    arg.get("from") and arg.get("fromExpression")):
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


def substitute_params(tmpl: dict[str, Any], globals_: dict[str, str],
                      local: dict[str, str]) -> dict[str, Any]:
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
    values["inputs.parameters"] = json.dumps(inputs.get("parameters") or [],
                                             separators=(",", ":"))
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


def init_or_error(op: Operator, node: dict[str, Any] | None, name: str, holder: dict[str, Any],
                  opts: Opts, err: Exception) -> dict[str, Any]:
    """initializeNodeOrMarkError (operator.go, v3.7.18)."""
    if node is not None:
        return op.nodes.mark_error(name, str(err))
    return op.nodes.initialize(name, "Skipped", op.scope_name, holder.get("template"),
                               opts.boundary_id, "Error", opts.flag, str(err))


def initialize_executable(op: Operator, name: str, type_: str, tmpl: dict[str, Any],
                          holder: dict[str, Any], opts: Opts, phase: str,
                          message: str | None = None) -> dict[str, Any]:
    """initializeExecutableNode (operator.go, v3.7.18): the node keeps the template's
    resolved inputs."""
    node = op.nodes.initialize(name, type_, op.scope_name, holder.get("template"),
                               opts.boundary_id, phase, opts.flag, message)
    inputs = tmpl.get("inputs") or {}
    if inputs.get("parameters") or inputs.get("artifacts"):
        node["inputs"] = copy.deepcopy(inputs)
    memo = tmpl.get("memoize")
    if memo and "memoizationStatus" not in node:
        node["memoizationStatus"] = {"hit": False, "key": memo["key"],
                                     "cacheName": memo["cache"]["configMap"]["name"]}
    return node


def execute_template(op: Operator, name: str, holder: dict[str, Any], args: dict[str, Any],
                     opts: Opts) -> tuple[dict[str, Any] | None, Exception | None]:
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
        from .controller import parse_duration

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
        parent = node or initialize_executable(op, name, "Retry", processed, holder, opts,
                                               "Running")
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
        if kind in ("container", "script"):
            node = execute_pod(op, name, processed, holder, opts)
        elif kind == "steps":
            node, err = steps.execute_steps(op, name, processed, holder, opts)
        elif kind == "dag":
            node, err = dag.execute_dag(op, name, processed, holder, opts)
        elif kind == "suspend":
            node = execute_suspend(op, name, processed, holder, opts)
        else:
            err = TemplateError(f"Template '{processed.get('name')}' missing specification"
                                if not kind else f"{kind} templates are not emulated")
            return op.nodes.initialize(name, "Skipped", op.scope_name, holder.get("template"),
                                       opts.boundary_id, "Error", opts.flag,
                                       str(err)), err
    except TemplateError as exc:
        err = exc
    if err is not None:
        node = op.nodes.mark_error(name, str(err))
        policy = (processed.get("retryStrategy") or {}).get("retryPolicy") or "OnFailure"
        if not processed.get("retryStrategy") or policy not in (
                "Always", "OnError", "OnTransientError"):
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


def last_retry_params(last: dict[str, Any] | None) -> dict[str, str]:
    """The ``lastRetry.*`` variables of the next attempt (operator.go, v3.7.18)."""
    out = {"lastRetry.exitCode": "0", "lastRetry.duration": "0", "lastRetry.status": "",
           "lastRetry.message": ""}
    if last is not None:
        code = (last.get("outputs") or {}).get("exitCode")
        if code is not None:
            out["lastRetry.exitCode"] = str(code)
        out["lastRetry.status"] = last["phase"]
        out["lastRetry.duration"] = _go_float(duration_seconds(last))
        out["lastRetry.message"] = last.get("message") or ""
    return out


def _go_float(value: float) -> str:
    """fmt.Sprint of a float64 (shortest form, ``%v``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def process_retries(op: Operator, node: dict[str, Any], strategy: dict[str, Any], opts: Opts
                    ) -> tuple[dict[str, Any], bool, Exception | None]:
    """processNodeRetries (operator.go, v3.7.18): decide whether another attempt starts."""
    from .controller import parse_duration

    if fulfilled(node):
        return node, True, None
    ids, last = op.nodes.retry_children(node)
    if not ids or last is None or not fulfilled(last):
        return node, True, None
    name = node["name"]
    if not failed_or_error(last):
        node["outputs"] = copy.deepcopy(last.get("outputs"))
        if node["outputs"] is None:
            node.pop("outputs")
        return op.nodes.mark(name, "Succeeded"), True, None
    wfd = op.workflow_deadline()
    if op.shutdown or (wfd is not None and time.time() > wfd):
        msg = (f"Stopped with strategy '{op.shutdown}'" if op.shutdown else
               f"retry exceeded workflow deadline {datetime.fromtimestamp(wfd, UTC)}")
        return op.nodes.mark(name, last["phase"], msg), True, None
    backoff = strategy.get("backoff")
    limit = strategy.get("limit")
    limit_n = int(limit) if limit is not None else None
    if backoff:
        max_deadline = None
        if backoff.get("maxDuration"):
            first = op.nodes.get(ids[0])
            start = parse_time(first.get("startedAt")).timestamp()
            max_deadline = start + parse_duration(backoff["maxDuration"])
            if time.time() > max_deadline:
                return op.nodes.mark(name, last["phase"], "Max duration limit exceeded"), True, None
        if not backoff.get("duration"):
            return node, False, TemplateError("no base duration specified for retryStrategy")
        wait = parse_duration(backoff["duration"])
        factor = backoff.get("factor")
        if factor is not None and int(factor) > 0:
            wait = wait * int(factor) ** (len(ids) - 1)
        if backoff.get("cap"):
            wait = min(wait, parse_duration(backoff["cap"]))
        finished = parse_time(last.get("finishedAt")).timestamp()
        waiting = finished + wait
        if max_deadline is not None and waiting > max_deadline:
            return op.nodes.mark(name, last["phase"], "Backoff would exceed max duration limit"
                                 ), True, None
        if time.time() < waiting and limit_n is not None and len(ids) <= limit_n:
            op.requeue_after(waiting - time.time())
            return op.nodes.mark(name, node["phase"], f"Backoff for {_humanize(wait)}"), False, None
        if max_deadline is not None:
            opts.execution_deadline = max_deadline
        op.nodes.mark(name, node["phase"], "")
    policy = strategy.get("retryPolicy") or "OnFailure"
    on_failed = policy in ("Always", "OnFailure")
    on_error = policy in ("Always", "OnError")
    if policy == "OnTransientError":
        on_failed = on_error = False  # our pods never fail with a transient error message
    elif policy not in ("Always", "OnError", "OnFailure"):
        return node, False, TemplateError(f"{policy} is not a valid RetryPolicy")
    if (last["phase"] == "Failed" and not on_failed) or (last["phase"] == "Error"
                                                          and not on_error):
        return op.nodes.mark(name, last["phase"], last.get("message") or ""), True, None
    if limit_n is not None and len(ids) > limit_n:
        return op.nodes.mark(name, last["phase"], "No more retries left"), True, None
    if strategy.get("expression"):
        scope = {"retries": str(len(ids) - 1)}
        scope.update({k: v for k, v in last_retry_params(last).items()})
        code = (last.get("outputs") or {}).get("exitCode")
        scope["lastRetry.exitCode"] = str(code) if code is not None else "-1"
        try:
            go_on = evaluate(strategy["expression"], scope)
        except TemplateError as exc:
            return node, False, exc
        if go_on is not True:
            return op.nodes.mark(name, last["phase"],
                                 "retryStrategy.expression evaluated to false"), True, None
    return node, True, None


def _humanize(seconds: float) -> str:
    """humanize.Duration, as in the ``Backoff for ...`` message."""
    s = int(seconds)
    if s < 60:
        return f"{s} seconds" if s != 1 else "1 second"
    m = s // 60
    return f"{m} minutes" if m != 1 else "1 minute"


def check_parallelism(op: Operator, tmpl: dict[str, Any], node: dict[str, Any] | None,
                      boundary_id: str) -> Exception | None:
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
        if tmpl.get("parallelism") is not None and \
                op.count_active_pods(node["id"]) >= int(tmpl["parallelism"]):
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
            if btmpl.get("parallelism") is not None and \
                    op.count_active_children(boundary_id) >= int(btmpl["parallelism"]):
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
    return sum(1 for n in op.status["nodes"].values() if n.get("boundaryID") == boundary_id
               and n["type"] in ("Pod", "Steps", "DAG") and n["phase"] in ("Failed", "Error"))


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


def memoize(op: Operator, name: str, holder: dict[str, Any], tmpl: dict[str, Any],
            opts: Opts) -> dict[str, Any]:
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
            if label is None else
            f"memoization configmap doesn't have label {CACHE_LABEL} = Cache, refusing to use it")
    if cm is not None:
        raw = (cm.get("data") or {}).get(memo["key"])
        if raw:
            entry = json.loads(raw)
            entry["lastHitTimestamp"] = now()
            cm["data"][memo["key"]] = json.dumps(entry)
    hit = bool(entry and entry.get("nodeID"))
    outputs = (entry or {}).get("outputs")
    if hit and memo.get("maxAge"):
        from .controller import parse_duration

        created = parse_time(entry.get("creationTimestamp"))
        if created is None or time.time() - created.timestamp() > parse_duration(memo["maxAge"]):
            hit = False
    status = {"hit": hit, "key": memo["key"], "cacheName": cm_name}
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
    cm = op.cluster.kube_objects.setdefault(key, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": status["cacheName"], "namespace": op.cluster.namespace,
                     "labels": {CACHE_LABEL: "Cache"}}})
    stamp = now()
    cm.setdefault("data", {})[status["key"]] = json.dumps({
        "nodeID": node["id"], "outputs": node.get("outputs"),
        "creationTimestamp": stamp, "lastHitTimestamp": stamp})


def execute_pod(op: Operator, name: str, tmpl: dict[str, Any], holder: dict[str, Any],
                opts: Opts) -> dict[str, Any]:
    """executeContainer / executeScript (operator.go, v3.7.18): a Pod node, then its pod."""
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


def execute_suspend(op: Operator, name: str, tmpl: dict[str, Any], holder: dict[str, Any],
                    opts: Opts) -> dict[str, Any]:
    """executeSuspend (operator.go, v3.7.18): a ``duration`` resumes by itself."""
    from .controller import parse_duration

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
