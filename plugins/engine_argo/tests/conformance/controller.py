"""An emulation of Argo's workflow controller, for conformance tests (never a dflow engine).

:class:`Operator` walks a submitted Workflow manifest the way Argo's controller does
(workflow/controller/operator.go, steps.go, dag.go, exit_handler.go, hooks.go at v3.7.18; the
rules cited are unchanged in v4.1.2 unless a comment says otherwise): it reconciles in
passes, each pass re-walking the tree from the entrypoint, creating nodes in Argo's shape
and names (``status.nodes``), starting a pod per Pod node through the pod emulation
(:mod:`conformance.pod`, run on a thread pool so pods of a step group run concurrently), and
reading finished pods back into their nodes. Retries, ``when``, loops, ``depends``,
``continueOn``, outputs and ``globalName``, ``onExit`` and hooks, ``parallelism``,
``timeout`` and memoization follow the cited functions; see the module of each.

``Operator.run()`` drives the passes until the workflow is fulfilled; the stand-in Argo
Server runs it on a thread and serves :meth:`Operator.snapshot`.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from .nodes import Nodes, duration_seconds, failed_or_error, fulfilled, now, parse_time
from .pod import ArtifactRepository, PodRequest, PodResult, run_pod
from .templating import TemplateError


class ControllerError(Exception):
    """An error of a pass that Argo's controller returns as ``err`` (operator.go sentinels)."""


ERR_PARALLELISM = ControllerError("Max parallelism reached")
ERR_TIMEOUT = ControllerError("timeout")
ERR_DEADLINE = ControllerError("Deadline exceeded")
ERR_REQUEUE = ControllerError("requeue")
#: every workflow the emulated controller finished in this process: (templates, nodes, phase),
#: for the session's figures
RUNS: list[tuple[int, int, str]] = []


@dataclass
class Cluster:
    """What the emulated controller runs against: pods, artifacts, ConfigMaps."""

    repository: ArtifactRepository
    pool: Executor
    run_pod: Callable[[PodRequest], PodResult] = run_pod
    namespace: str = "argo"
    # Kubernetes objects by (namespace, plural, name): the stand-in kube-apiserver's store,
    # where memoization caches (ConfigMaps) live
    kube_objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    pods_started: list[str] = field(default_factory=list)  # pod names, for figures in tests
    pod_seconds: list[tuple[str, float]] = field(default_factory=list)  # (template, s)
    # the executor's progress ticks (patch, file read), ARGO_PROGRESS_PATCH_TICK_DURATION and
    # ARGO_PROGRESS_FILE_TICK_DURATION of the controller (controller.go v3.7.18: 1m, 3s)
    progress_ticks: tuple[float, float] = (60.0, 3.0)
    running: int = 0  # pods running now, and the most at once (for parallelism tests)
    max_running: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class PodRun:
    name: str
    future: Future
    started: threading.Event
    cancel: threading.Event
    on_exit: bool = False


class Operator:
    """The controller's view of one workflow; ``run()`` reconciles it to completion."""

    def __init__(self, workflow: dict[str, Any], cluster: Cluster) -> None:
        self.wf = workflow
        self.cluster = cluster
        self.name: str = workflow["metadata"]["name"]
        status = workflow.setdefault("status", {})
        status.setdefault("nodes", {})
        self.nodes = Nodes(self.name, status["nodes"])
        self.templates = {t["name"]: t for t in workflow["spec"].get("templates") or []}
        self.globals: dict[str, str] = {}
        self.pods: dict[str, PodRun] = {}
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.requeue_at: float | None = None
        self.active_pods = 0
        self._published = copy.deepcopy(workflow)
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.logs: dict[str, str] = {}  # node id -> the main container's log

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Operator:
        self._thread = threading.Thread(target=self.run, name=f"argo-{self.name}", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Reconcile until the workflow is fulfilled (or ``close()``)."""
        try:
            while not self.stopped.is_set():
                with self.lock:
                    self.requeue_at = None
                    self.operate()
                    self.publish()
                    done = self.wf["status"].get("phase") in ("Succeeded", "Failed", "Error")
                if done and not self._running_pods():
                    RUNS.append((len(self.templates), len(self.status["nodes"]),
                                 self.status["phase"]))
                    return
                wait = 0.5 if self.requeue_at is None else max(
                    0.0, min(0.5, self.requeue_at - time.monotonic()))
                self.wake.wait(wait)
                self.wake.clear()
        except Exception:  # a bug here must show, not leave a workflow Running forever
            self.error = traceback.format_exc()
            with self.lock:
                self.mark_workflow("Error", f"conformance controller crashed: {self.error}")
                self.publish()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.stopped.set()
        for run in self.pods.values():
            run.cancel.set()
        self.wake.set()

    def kick(self) -> None:
        """Run a pass soon (a pod finished, the workflow was changed)."""
        self.wake.set()

    def requeue_after(self, seconds: float) -> None:
        at = time.monotonic() + max(0.0, seconds)
        self.requeue_at = at if self.requeue_at is None else min(self.requeue_at, at)

    def restart(self) -> None:
        """Reconcile again after the workflow was retried (its status reset)."""
        if self._thread is None or not self._thread.is_alive():
            self.start()
        else:
            self.kick()

    def publish(self) -> None:
        """persistUpdates: the state the API serves, a copy taken between passes."""
        self._published = copy.deepcopy(self.wf)

    def snapshot(self) -> dict[str, Any]:
        return self._published

    def _running_pods(self) -> bool:
        return any(not r.future.done() for r in self.pods.values())

    # -- the pass ----------------------------------------------------------------------------
    @property
    def spec(self) -> dict[str, Any]:
        return self.wf["spec"]

    @property
    def status(self) -> dict[str, Any]:
        return self.wf["status"]

    @property
    def scope_name(self) -> str:
        """templateScope of every node: the workflow's own templates (``local/<name>``)."""
        return f"local/{self.name}"

    @property
    def shutdown(self) -> str:
        return self.spec.get("shutdown") or ""

    def should_execute(self, on_exit: bool) -> bool:
        """ShutdownStrategy.ShouldExecute (workflow_types.go, v3.7.18)."""
        if self.shutdown == "Terminate":
            return False
        if self.shutdown == "Stop":
            return on_exit
        return True

    def operate(self) -> None:
        """operate (operator.go, v3.7.18), the parts a dflow workflow exercises."""
        from . import execute, hooks

        if self.status.get("phase") in ("Succeeded", "Failed", "Error"):
            return
        if not self.status.get("phase") or self.status["phase"] == "Pending":
            self.mark_workflow("Running")
            self.set_globals()
        else:
            self.set_globals()
            self.reconcile_pods()
            self.fail_nodes_without_pods()
        if self.spec.get("suspend"):
            return
        self.active_pods = self.count_active_pods("")
        holder = {"template": self.spec["entrypoint"]}
        args = self.spec.get("arguments") or {}
        node, err = execute.execute_template(self, self.name, holder, args, execute.Opts())
        if err is not None:
            if err not in (ERR_PARALLELISM, ERR_DEADLINE):
                self.mark_workflow("Error", f"error in entry template execution: {err}")
            return
        phase = {"Pending": "Pending", "Running": "Running", "Succeeded": "Succeeded",
                 "Skipped": "Succeeded", "Failed": "Failed", "Error": "Error",
                 "Omitted": "Succeeded"}[node["phase"]]
        self.globals["workflow.status"] = phase
        self.globals["workflow.failures"] = self.failures()
        done, herr = hooks.workflow_hooks(self)
        if herr is not None:
            self.nodes.mark_error(node["name"], str(herr))
        if not done or not fulfilled(node):
            return
        exit_node = None
        if self.spec.get("onExit") or "exit" in (self.spec.get("hooks") or {}):
            exit_name = f"{self.name}.onExit"
            exit_node = self.nodes.by_name(exit_name)
            if exit_node is not None or self.should_execute(True):
                hook = (self.spec.get("hooks") or {}).get("exit") or {
                    "template": self.spec.get("onExit")}
                exit_node, err = execute.execute_template(
                    self, exit_name, {"template": hook.get("template")},
                    hook.get("arguments") or {},
                    execute.Opts(on_exit=True, flag={"hooked": True}))
                if err is not None:
                    if err not in (ERR_PARALLELISM, ERR_DEADLINE):
                        self.mark_workflow("Error", f"error in exit template execution : {err}")
                    return
                if exit_node is None or not fulfilled(exit_node):
                    return
        message = node.get("message") or ""
        if failed_or_error(node) and self.shutdown:
            message = f"Stopped with strategy '{self.shutdown}'"
        if phase == "Succeeded":
            if exit_node is not None and failed_or_error(exit_node):
                self.mark_workflow("Failed" if exit_node["phase"] == "Failed" else "Error",
                                   exit_node.get("message") or "")
            else:
                self.mark_workflow("Succeeded")
        else:
            self.mark_workflow(phase, message)

    def failures(self) -> str:
        """workflow.failures: a JSON list of failed nodes, Go-quoted (operator.go, v3.7.18)."""
        items = []
        for n in self.status["nodes"].values():
            if n["phase"] in ("Failed", "Error"):
                from .nodes import pod_name

                tmpl = n.get("templateName") or ""
                items.append({"displayName": n.get("displayName") or "",
                              "message": n.get("message") or "", "templateName": tmpl,
                              "phase": n["phase"], "podName": pod_name(self.name, n["name"], tmpl),
                              "finishedAt": n.get("finishedAt") or None})
        return json.dumps(json.dumps(items, separators=(",", ":"), ensure_ascii=False),
                          ensure_ascii=False)

    def set_globals(self) -> None:
        """setGlobalParameters + setGlobalRuntimeParameters (operator.go, v3.7.18)."""
        meta = self.wf["metadata"]
        g = self.globals
        g["workflow.name"] = self.name
        g["workflow.namespace"] = meta.get("namespace") or self.cluster.namespace
        g["workflow.mainEntrypoint"] = self.spec["entrypoint"]
        g["workflow.serviceAccountName"] = self.spec.get("serviceAccountName") or ""
        g["workflow.uid"] = meta.get("uid") or ""
        g["workflow.creationTimestamp"] = meta.get("creationTimestamp") or now()
        params = (self.spec.get("arguments") or {}).get("parameters") or []
        g["workflow.parameters"] = json.dumps(params, separators=(",", ":"))
        g["workflow.parameters.json"] = g["workflow.parameters"]
        for p in params:
            if p.get("value") is not None:
                g["workflow.parameters." + p["name"]] = _text(p["value"])
        for p in (self.status.get("outputs") or {}).get("parameters") or []:
            if p.get("value") is not None:
                g["workflow.outputs.parameters." + p["name"]] = _text(p["value"])
        for kind in ("labels", "annotations"):
            values = meta.get(kind) or {}
            g[f"workflow.{kind}"] = json.dumps(values, separators=(",", ":"))
            g[f"workflow.{kind}.json"] = g[f"workflow.{kind}"]
            for k, v in values.items():
                g[f"workflow.{kind}.{k}"] = v
        started = parse_time(self.status.get("startedAt"))
        if started is not None:
            from datetime import UTC, datetime

            g["workflow.duration"] = f"{(datetime.now(UTC) - started).total_seconds():f}"

    def mark_workflow(self, phase: str, message: str = "") -> None:
        """markWorkflowPhase (operator.go, v3.7.18): phase, message, times, progress."""
        st = self.status
        if st.get("phase") != phase:
            st["phase"] = phase
        if phase == "Running" and not st.get("startedAt"):
            st["startedAt"] = now()
        if message:
            st["message"] = message
        elif phase in ("Running", "Succeeded"):
            st.pop("message", None)
        if phase in ("Succeeded", "Failed", "Error"):
            st.setdefault("finishedAt", now())
            if not st.get("finishedAt"):
                st["finishedAt"] = now()
        self.update_progress()

    def update_progress(self) -> None:
        """UpdateProgress (workflow/progress/updater.go, v3.7.18)."""
        nodes = self.status["nodes"]
        executable = ("Pod", "HTTP", "Plugin", "Container", "Suspend")
        total = [0, 0]
        for n in nodes.values():
            if n["type"] not in executable:
                continue
            n.setdefault("progress", "0/1")
            if n["phase"] in ("Succeeded", "Skipped", "Omitted"):
                done, of = _progress(n["progress"])
                n["progress"] = f"{of}/{of}"
            done, of = _progress(n["progress"])
            total[0] += done
            total[1] += of

        def summed(node: dict[str, Any], seen: set[str]) -> list[int]:
            acc = [0, 0]
            for c in node.get("children") or []:
                child = nodes.get(c)
                if c in seen or child is None:
                    continue
                seen.add(c)
                sub = summed(child, seen)
                acc = [acc[0] + sub[0], acc[1] + sub[1]]
                if child["type"] in executable:
                    d, o = _progress(child.get("progress") or "0/1")
                    acc = [acc[0] + d, acc[1] + o]
            return acc

        for n in nodes.values():
            if n["type"] not in executable:
                d, o = summed(n, set())
                if o > 0:
                    n["progress"] = f"{d}/{o}"
        self.status["progress"] = f"{total[0]}/{total[1]}"

    # -- pods --------------------------------------------------------------------------------
    def create_pod(self, node_name: str, tmpl: dict[str, Any], on_exit: bool,
                   execution_deadline: float | None, boundary_id: str = "") -> None:
        """createWorkflowPod (workflowpod.go, v3.7.18): no pod while shutting down, else the
        pod runs on the pool (the pod emulation adds the archive location and substitutes the
        pod parameters, as createWorkflowPod goes on to do)."""
        from .nodes import pod_name
        from .pod import PodRequest

        nid = self.nodes.id(node_name)
        if nid in self.pods:
            return  # "Skipped pod creation: already exists"
        if not self.should_execute(on_exit):
            self.nodes.mark(node_name, "Failed", f"workflow shutdown with strategy: {self.shutdown}")
            return
        name = pod_name(self.name, node_name, tmpl.get("name") or "")
        deadline = self.pod_deadline(node_name, tmpl, on_exit, execution_deadline)
        cancel = threading.Event()
        request = PodRequest(
            template=copy.deepcopy(tmpl), workflow_name=self.name, pod_name=name, node_id=nid,
            repository=self.cluster.repository,
            deadline=None if deadline is None else max(1.0, deadline - time.time()),
            global_params=dict(self.globals), cancel=cancel,
            volumes=copy.deepcopy(self.spec.get("volumes") or []),
            progress_ticks=self.cluster.progress_ticks,
            include_script_output=self.include_script_output(node_name, boundary_id))
        run = PodRun(name, None, threading.Event(), cancel, on_exit)  # type: ignore[arg-type]
        self.pods[nid] = run
        self.active_pods += 1
        self.cluster.pods_started.append(name)

        def work() -> Any:
            cluster = self.cluster
            with cluster.lock:
                cluster.running += 1
                cluster.max_running = max(cluster.max_running, cluster.running)
            run.started.set()
            self.kick()
            start = time.monotonic()
            try:
                return cluster.run_pod(request)
            finally:
                with cluster.lock:
                    cluster.running -= 1
                    cluster.pod_seconds.append((tmpl.get("name") or "",
                                                time.monotonic() - start))
                self.kick()

        run.future = self.cluster.pool.submit(work)

    def include_script_output(self, node_name: str, boundary_id: str) -> bool:
        """includeScriptOutput with hasOutputResultRef (operator.go, v3.7.18): the stdout
        is kept as ``outputs.result`` when the boundary's template references it."""
        import re

        from .execute import step_name

        boundary = self.nodes.get(boundary_id) if boundary_id else None
        parent = self.template((boundary or {}).get("templateName"))
        if parent is None:
            return False
        name = re.escape(step_name(node_name))
        kind = "tasks" if parent.get("dag") is not None else "steps"
        text = json.dumps(parent)
        return bool(re.search(rf"{kind}\.{name}\.outputs\.result", text) or re.search(
            rf"{kind}\[['\"]{name}['\"]\]\.outputs.result", text))

    def pod_deadline(self, node_name: str, tmpl: dict[str, Any], on_exit: bool,
                     execution_deadline: float | None) -> float | None:
        """activeDeadlineSeconds of the pod (workflowpod.go, v3.7.18): the template's, capped
        by the workflow's deadline and by the template ``timeout`` from the node's start."""
        deadlines = []
        ads = tmpl.get("activeDeadlineSeconds")
        if ads is not None:
            deadlines.append(time.time() + float(ads))
        wfd = self.workflow_deadline()
        if wfd is not None and not on_exit:
            deadlines.append(wfd)
        if execution_deadline:
            deadlines.append(execution_deadline)
        node = self.nodes.by_name(node_name)
        if tmpl.get("timeout") and node is not None:
            start = parse_time(node.get("startedAt"))
            if start is not None:
                deadlines.append(start.timestamp() + parse_duration(tmpl["timeout"]))
        return min(deadlines) if deadlines else None

    def workflow_deadline(self) -> float | None:
        """getWorkflowDeadline (operator.go, v3.7.18): startedAt + activeDeadlineSeconds."""
        ads = self.spec.get("activeDeadlineSeconds")
        started = parse_time(self.status.get("startedAt"))
        if ads is None or started is None:
            return None
        return started.timestamp() + float(ads)

    def reconcile_pods(self) -> None:
        """podReconciliation + assessNodeStatus (operator.go, v3.7.18): a started pod's node
        is Running, a finished pod's node takes its phase, message, outputs and exit code."""
        for nid, run in list(self.pods.items()):
            node = self.nodes.get(nid)
            if node is None or fulfilled(node):
                continue
            self.apply_execution_control(node, run)
            if run.future.done():
                self.finish_pod(node, run)
            elif run.started.is_set() and node["phase"] == "Pending":
                node["phase"] = "Running"
                node.pop("message", None)

    def finish_pod(self, node: dict[str, Any], run: PodRun) -> None:
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
        self.logs[node["id"]] = result.log
        self.add_outputs_to_global(node.get("outputs"))
        if node["phase"] == "Succeeded":
            from .execute import save_memoized

            save_memoized(self, node)

    def add_outputs_to_global(self, outputs: dict[str, Any] | None) -> None:
        """addOutputsToGlobalScope (operator.go) with AddParamToGlobalScope (workflow/util/
        util.go), v3.7.18: outputs with a ``globalName`` become ``status.outputs``."""
        for p in (outputs or {}).get("parameters") or []:
            if not p.get("globalName"):
                continue
            value = _text(p.get("value"))
            if value is not None:
                self.globals["workflow.outputs.parameters." + p["globalName"]] = value
            params = self.status.setdefault("outputs", {}).setdefault("parameters", [])
            found = next((g for g in params if g["name"] == p["globalName"]), None)
            if found is None:
                params.append({"name": p["globalName"], **({"value": value} if value is not None
                                                           else {})})
            elif value is not None:
                found["value"] = value
        for a in (outputs or {}).get("artifacts") or []:
            if not a.get("globalName"):
                continue
            art = {k: v for k, v in copy.deepcopy(a).items() if k not in ("globalName", "path")}
            art["name"] = a["globalName"]
            arts = self.status.setdefault("outputs", {}).setdefault("artifacts", [])
            for i, g in enumerate(arts):
                if g["name"] == art["name"]:
                    arts[i] = art
                    break
            else:
                arts.append(art)

    def apply_execution_control(self, node: dict[str, Any], run: PodRun) -> None:
        """applyExecutionControl (exec_control.go, v3.7.18): a shutdown or a passed workflow
        deadline stops the pod; its node fails with Argo's message."""
        if run.future.done():
            return
        if self.shutdown and not self.should_execute(run.on_exit):
            run.cancel.set()
            self.nodes.mark(node["name"], "Failed",
                            f"workflow shutdown with strategy:  {self.shutdown}")
            return
        wfd = self.workflow_deadline()
        if wfd is not None and time.time() > wfd and not run.on_exit:
            run.cancel.set()
            self.nodes.mark(node["name"], "Failed", "Step exceeded its deadline")

    def fail_nodes_without_pods(self) -> None:
        """failNodesWithoutCreatedPodsAfterDeadlineOrShutdown (operator.go, v3.7.18)."""
        wfd = self.workflow_deadline()
        for node in list(self.status["nodes"].values()):
            if fulfilled(node):
                continue
            if wfd is not None and time.time() > wfd and node["phase"] == "Pending" \
                    and node["id"] not in self.pods and not self.in_exit_handler(node):
                self.nodes.mark(node["name"], "Failed", "Step exceeded its deadline")

    def in_exit_handler(self, node: dict[str, Any]) -> bool:
        """NodeStatus.IsPartOfExitHandler: the node or a boundary above it is an onExit node."""
        seen = 0
        while node is not None and seen < 1000:
            if node["name"].endswith(".onExit"):
                return True
            node = self.nodes.get(node.get("boundaryID") or "")
            seen += 1
        return False

    def count_active_pods(self, boundary_id: str) -> int:
        """getActivePods (operator.go, v3.7.18): Pending/Running pods under a boundary."""
        count = 0
        for n in self.status["nodes"].values():
            if n["type"] == "Pod" and n["phase"] in ("Pending", "Running") and (
                    not boundary_id or n.get("boundaryID") == boundary_id) \
                    and n["id"] in self.pods:  # only pods that were created
                count += 1
        return count

    def count_active_children(self, boundary_id: str) -> int:
        """getActiveChildren (operator.go, v3.7.18): Pending/Running nodes of a boundary that
        are not themselves groups."""
        count = 0
        for n in self.status["nodes"].values():
            if n.get("boundaryID") != boundary_id:
                continue
            if n["type"] in ("Pod", "Steps", "DAG") and n["phase"] in ("Pending", "Running"):
                count += 1
        return count

    def template(self, name: str | None) -> dict[str, Any] | None:
        t = self.templates.get(name or "")
        return copy.deepcopy(t) if t is not None else None


def parse_duration(text: Any) -> float:
    """ParseStringToDuration (workflow_types.go, v3.7.18): ``30``, ``30s``, ``1m30s``, ``2h``."""
    s = str(text).strip()
    if s.lstrip("-").isdigit():
        return float(s)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num = 0.0, ""
    i = 0
    while i < len(s):
        if s[i].isdigit() or s[i] == ".":
            num += s[i]
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if s.startswith(u, i)),
                    None)
        if unit is None or not num:
            raise TemplateError(f"invalid duration {text!r}")
        total += float(num) * units[unit]
        num, i = "", i + len(unit)
    if num:
        raise TemplateError(f"invalid duration {text!r}: missing unit")
    return total


def _progress(text: str) -> tuple[int, int]:
    try:
        done, of = text.split("/")
        return int(done), int(of)
    except ValueError:
        return 0, 0


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


__all__ = ["Cluster", "ControllerError", "Operator", "duration_seconds"]
