"""Pods of the emulated controller: created on the cluster's pool, read back when done.

Follows createWorkflowPod (workflow/controller/workflowpod.go), podReconciliation and
assessNodeStatus (operator.go) and applyExecutionControl (exec_control.go), v3.7.18. The pod
itself runs in :func:`conformance.pod.run_pod`, which also adds the archive location and
substitutes the pod's parameters as createWorkflowPod goes on to do.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import traceback
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .nodes import fulfilled, now, parse_duration, parse_time

if TYPE_CHECKING:
    from .controller import Operator


@dataclass
class PodRun:
    """A pod the controller created: its name, its run on the pool, and its signals."""

    name: str
    future: Future
    started: threading.Event
    cancel: threading.Event
    on_exit: bool = False


def create_pod(
    op: Operator,
    node_name: str,
    tmpl: dict[str, Any],
    on_exit: bool,
    execution_deadline: float | None,
    boundary_id: str = "",
) -> None:
    """createWorkflowPod (workflowpod.go, v3.7.18): no pod while shutting down, else the
    pod runs on the pool (the pod emulation adds the archive location and substitutes the
    pod parameters, as createWorkflowPod goes on to do)."""
    from .nodes import pod_name
    from .pod import PodRequest

    nid = op.nodes.id(node_name)
    if nid in op.pods:
        return  # "Skipped pod creation: already exists"
    if not op.should_execute(on_exit):
        op.nodes.mark(node_name, "Failed", f"workflow shutdown with strategy: {op.shutdown}")
        return
    name = pod_name(op.name, node_name, tmpl.get("name") or "")
    deadline = pod_deadline(op, node_name, tmpl, on_exit, execution_deadline)
    cancel = threading.Event()
    request = PodRequest(
        template=copy.deepcopy(tmpl),
        workflow_name=op.name,
        pod_name=name,
        node_id=nid,
        repository=op.cluster.repository,
        deadline=None if deadline is None else max(1.0, deadline - time.time()),
        global_params=dict(op.globals),
        cancel=cancel,
        # addVolumeReferences (workflowpod.go, v3.7.18) looks a name up in the template's
        # volumes, the workflow's, then its claims: the later of a name wins in volume_mounts
        volumes=copy.deepcopy(
            [*(op.status.get("persistentVolumeClaims") or []), *(op.spec.get("volumes") or [])]
        ),
        claims=op.cluster.claim_dirs(op.namespace),
        secrets=namespace_objects(op, "secrets"),
        config_maps=namespace_objects(op, "configmaps"),
        progress_ticks=op.cluster.progress_ticks,
        include_script_output=include_script_output(op, node_name, boundary_id),
        namespace=op.namespace,
        kube_objects=op.cluster.kube_objects,
        slurm_dir=op.cluster.slurm_home() if "resource" in tmpl else None,
    )
    run = PodRun(name, None, threading.Event(), cancel, on_exit)
    op.pods[nid] = run
    op.active_pods += 1
    op.cluster.pods_started.append(name)

    def work() -> Any:
        cluster = op.cluster
        with cluster.lock:
            cluster.running += 1
            cluster.max_running = max(cluster.max_running, cluster.running)
        run.started.set()
        op.kick()
        start = time.monotonic()
        try:
            return cluster.run_pod(request)
        finally:
            with cluster.lock:
                cluster.running -= 1
                cluster.pod_seconds.append((tmpl.get("name") or "", time.monotonic() - start))
            op.kick()

    run.future = op.cluster.pool.submit(work)


def namespace_objects(op: Operator, plural: str) -> dict[str, dict[str, str]]:
    """The workflow namespace's Secrets or ConfigMaps as the kubelet reads them (name ->
    key -> text; Secret data is base64 in the API)."""
    import base64

    out = {}
    for (namespace, kind, name), obj in list(op.cluster.kube_objects.items()):
        if namespace != op.cluster.namespace or kind != plural:
            continue
        data = dict(obj.get("data") or {})
        if plural == "secrets":
            data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
        out[name] = data
    return out


def include_script_output(op: Operator, node_name: str, boundary_id: str) -> bool:
    """includeScriptOutput with hasOutputResultRef (operator.go, v3.7.18): the stdout
    is kept as ``outputs.result`` when the boundary's template references it."""

    from .execute import step_name

    boundary = op.nodes.get(boundary_id) if boundary_id else None
    parent = op.template((boundary or {}).get("templateName"))
    if parent is None:
        return False
    name = re.escape(step_name(node_name))
    kind = "tasks" if parent.get("dag") is not None else "steps"
    text = json.dumps(parent)
    return bool(
        re.search(rf"{kind}\.{name}\.outputs\.result", text)
        or re.search(rf"{kind}\[['\"]{name}['\"]\]\.outputs.result", text)
    )


def pod_deadline(
    op: Operator,
    node_name: str,
    tmpl: dict[str, Any],
    on_exit: bool,
    execution_deadline: float | None,
) -> float | None:
    """activeDeadlineSeconds of the pod (workflowpod.go, v3.7.18): the template's, capped
    by the workflow's deadline and by the template ``timeout`` from the node's start."""
    deadlines = []
    ads = tmpl.get("activeDeadlineSeconds")
    if ads is not None:
        deadlines.append(time.time() + float(ads))
    wfd = op.workflow_deadline()
    if wfd is not None and not on_exit:
        deadlines.append(wfd)
    if execution_deadline:
        deadlines.append(execution_deadline)
    node = op.nodes.by_name(node_name)
    if tmpl.get("timeout") and node is not None:
        start = parse_time(node.get("startedAt"))
        if start is not None:
            deadlines.append(start.timestamp() + parse_duration(tmpl["timeout"]))
    return min(deadlines) if deadlines else None


def reconcile_pods(op: Operator) -> None:
    """podReconciliation + assessNodeStatus (operator.go, v3.7.18): a started pod's node
    is Running, a finished pod's node takes its phase, message, outputs and exit code."""
    for nid, run in list(op.pods.items()):
        node = op.nodes.get(nid)
        if node is None or fulfilled(node):
            continue
        apply_execution_control(op, node, run)
        if run.future.done():
            finish_pod(op, node, run)
        elif run.started.is_set() and node["phase"] == "Pending":
            node["phase"] = "Running"
            node.pop("message", None)


def finish_pod(op: Operator, node: dict[str, Any], run: PodRun) -> None:
    """assessNodeStatus (operator.go, v3.7.18) for a finished pod: phase, message,
    outputs with the exit code, progress and finish time; then globals and memoization."""
    try:
        result = run.future.result()
    except Exception:  # a bug of the emulation shows as the node's error
        node["phase"] = "Error"
        node["message"] = "pod emulation failed: " + traceback.format_exc(limit=4)
        node.setdefault("finishedAt", now())
        return
    node["phase"] = result.phase
    if result.message:
        node["message"] = result.message
    else:
        node.pop("message", None)
    if result.outputs:
        node["outputs"] = copy.deepcopy(result.outputs)
    if result.progress:
        node["progress"] = result.progress
    node["hostNodeName"] = "conformance"
    node["finishedAt"] = result.finished_at or now()
    op.logs[node["id"]] = result.log
    op.add_outputs_to_global(node.get("outputs"))
    if node["phase"] == "Succeeded":
        from .memo import save_memoized

        save_memoized(op, node)


def apply_execution_control(op: Operator, node: dict[str, Any], run: PodRun) -> None:
    """applyExecutionControl (exec_control.go, v3.7.18): a shutdown or a passed workflow
    deadline stops the pod; its node fails with Argo's message."""
    if run.future.done():
        return
    if op.shutdown and not op.should_execute(run.on_exit):
        run.cancel.set()
        op.nodes.mark(node["name"], "Failed", f"workflow shutdown with strategy:  {op.shutdown}")
        return
    wfd = op.workflow_deadline()
    if wfd is not None and time.time() > wfd and not run.on_exit:
        run.cancel.set()
        op.nodes.mark(node["name"], "Failed", "Step exceeded its deadline")


def fail_nodes_without_pods(op: Operator) -> None:
    """failNodesWithoutCreatedPodsAfterDeadlineOrShutdown (operator.go, v3.7.18)."""
    wfd = op.workflow_deadline()
    for node in list(op.status["nodes"].values()):
        if fulfilled(node):
            continue
        if (
            wfd is not None
            and time.time() > wfd
            and node["phase"] == "Pending"
            and node["id"] not in op.pods
            and not in_exit_handler(op, node)
        ):
            op.nodes.mark(node["name"], "Failed", "Step exceeded its deadline")


def in_exit_handler(op: Operator, node: dict[str, Any]) -> bool:
    """NodeStatus.IsPartOfExitHandler: the node or a boundary above it is an onExit node."""
    seen = 0
    while node is not None and seen < 1000:
        if node["name"].endswith(".onExit"):
            return True
        node = op.nodes.get(node.get("boundaryID") or "")
        seen += 1
    return False
