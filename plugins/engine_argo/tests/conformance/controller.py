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
``volumeClaimTemplates`` become claims of the :class:`Cluster`, each a directory here.

``Operator.run()`` drives the passes until the workflow is fulfilled; the stand-in Argo
Server runs it on a thread and serves :meth:`Operator.snapshot`.

Modules: ``execute`` (executeTemplate, ProcessArgs), ``steps``, ``dag``, ``hooks`` (exit
handlers, lifecycle hooks), ``retries`` (retryStrategy), ``limits`` (parallelism, failFast),
``memo`` (memoization), ``pods`` (pod creation and reconciliation), ``scope`` and
``templating`` (variables and ``{{...}}`` substitution), ``items`` (loops), ``nodes`` (names,
ids, phases), ``retry`` (the API's retry and resubmit), ``server`` (the stand-in server's
emulated cluster).
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .nodes import Nodes, duration_seconds, failed_or_error, fulfilled, now, parse_time
from .pod import ArtifactRepository, PodRequest, PodResult, run_pod

if TYPE_CHECKING:
    from .pods import PodRun


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
class Claim:
    """A PersistentVolumeClaim of the emulated cluster: a directory here, bound at once and
    shared by every pod that mounts it (the cluster is one node)."""

    owner: str  # uid of the workflow that created it (its ownerReference)
    path: Path


@dataclass
class Cluster:
    """What the emulated controller runs against: pods, artifacts, ConfigMaps, PVCs."""

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
    # PersistentVolumeClaims by (namespace, name): the workflows' volumeClaimTemplates
    claims: dict[tuple[str, str], Claim] = field(default_factory=dict)
    # red-box's working directory on the emulated Slurm cluster (conformance.wlm), where
    # every SlurmJob runs: made by slurm_home() on first use
    slurm_dir: Path | None = None

    def create_claim(self, namespace: str, name: str, owner: str) -> str | None:
        """Create the claim, or reuse it when ``owner`` already owns it (a retried
        workflow's); Argo's error when another workflow owns it (createPVCs, operator.go,
        v3.7.18)."""
        with self.lock:
            claim = self.claims.get((namespace, name))
            if claim is None:
                path = Path(tempfile.mkdtemp(prefix=f"conformance-pvc-{name}-"))
                self.claims[(namespace, name)] = Claim(owner, path)
            elif claim.owner != owner:
                return f"{name} pvc already exists with different ownerreference"
        return None

    def claim_dirs(self, namespace: str) -> dict[str, Path]:
        """The namespace's claims (name -> directory), as a pod may mount any of them."""
        with self.lock:
            return {n: c.path for (ns, n), c in self.claims.items() if ns == namespace}

    def delete_claims(
        self, namespace: str | None = None, names: list[str] | None = None, owner: str = ""
    ) -> None:
        """Delete claims and their directories: the ``names`` of ``namespace``, those
        ``owner`` owns (garbage collection of a deleted workflow's), or all of them (the
        cluster torn down, so tests leave nothing behind)."""
        with self.lock:
            doomed = [
                key
                for key, c in self.claims.items()
                if (namespace is None or key[0] == namespace)
                and (names is None or key[1] in names)
                and (not owner or c.owner == owner)
            ]
            paths = [self.claims.pop(key).path for key in doomed]
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)

    def slurm_home(self) -> Path:
        """red-box's working directory (made now if need be), shared by the cluster's
        SlurmJobs as a login node's directory is."""
        with self.lock:
            if self.slurm_dir is None:
                self.slurm_dir = Path(tempfile.mkdtemp(prefix="conformance-slurm-"))
            return self.slurm_dir


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
                    RUNS.append(
                        (len(self.templates), len(self.status["nodes"]), self.status["phase"])
                    )
                    return
                wait = (
                    0.5
                    if self.requeue_at is None
                    else max(0.0, min(0.5, self.requeue_at - time.monotonic()))
                )
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
            from . import pods

            self.set_globals()
            pods.reconcile_pods(self)
            pods.fail_nodes_without_pods(self)
        if self.spec.get("suspend"):
            return
        err = self.create_pvcs()
        if err is not None:
            self.mark_workflow("Error", f"pvc create error: {err}")
            return
        self.active_pods = self.count_active_pods("")
        holder = {"template": self.spec["entrypoint"]}
        args = self.spec.get("arguments") or {}
        node, err = execute.execute_template(self, self.name, holder, args, execute.Opts())
        if err is not None:
            if err not in (ERR_PARALLELISM, ERR_DEADLINE):
                self.mark_workflow("Error", f"error in entry template execution: {err}")
                self.delete_pvcs()
            return
        phase = {
            "Pending": "Pending",
            "Running": "Running",
            "Succeeded": "Succeeded",
            "Skipped": "Succeeded",
            "Failed": "Failed",
            "Error": "Error",
            "Omitted": "Succeeded",
        }[node["phase"]]
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
                    "template": self.spec.get("onExit")
                }
                exit_node, err = execute.execute_template(
                    self,
                    exit_name,
                    {"template": hook.get("template")},
                    hook.get("arguments") or {},
                    execute.Opts(on_exit=True, flag={"hooked": True}),
                )
                if err is not None:
                    if err not in (ERR_PARALLELISM, ERR_DEADLINE):
                        self.mark_workflow("Error", f"error in exit template execution : {err}")
                        self.delete_pvcs()
                    return
                if exit_node is None or not fulfilled(exit_node):
                    return
        message = node.get("message") or ""
        if failed_or_error(node) and self.shutdown:
            message = f"Stopped with strategy '{self.shutdown}'"
        if phase == "Succeeded":
            if exit_node is not None and failed_or_error(exit_node):
                self.mark_workflow(
                    "Failed" if exit_node["phase"] == "Failed" else "Error",
                    exit_node.get("message") or "",
                )
            else:
                self.mark_workflow("Succeeded")
        else:
            self.mark_workflow(phase, message)
        self.delete_pvcs()

    # -- volumeClaimTemplates ----------------------------------------------------------------
    @property
    def namespace(self) -> str:
        return self.wf["metadata"].get("namespace") or self.cluster.namespace

    def create_pvcs(self) -> str | None:
        """createPVCs (operator.go, v3.7.18): a claim ``<workflow>-<template name>`` per
        volumeClaimTemplate (reused when this workflow already owns it: a retry), listed in
        ``status.persistentVolumeClaims`` as a volume of the template's name, which every
        template may mount. Returns Argo's error, if any."""
        templates = self.spec.get("volumeClaimTemplates") or []
        claimed = self.status.get("persistentVolumeClaims") or []
        if len(templates) == len(claimed):
            return None  # created already, or no templates
        for i, tmpl in enumerate(templates):
            ref = (tmpl.get("metadata") or {}).get("name")
            if not ref:
                return f"volumeClaimTemplates[{i}].metadata.name is required"
            name = f"{self.name}-{ref}"
            err = self.cluster.create_claim(
                self.namespace, name, self.wf["metadata"].get("uid") or ""
            )
            if err is not None:
                return err
            claimed.append({"name": ref, "persistentVolumeClaim": {"claimName": name}})
            self.status["persistentVolumeClaims"] = claimed
        return None

    def delete_pvcs(self) -> None:
        """deletePVCs (operator.go, v3.7.18) for a completed workflow: with volumeClaimGC
        ``OnWorkflowSuccess`` (the default, workflow_types.go) the claims of a workflow that
        did not succeed are kept for a retry; ``OnWorkflowCompletion`` deletes them at any
        end. Argo also removes the pvc-protection finalizer: the claim goes even while a
        killed pod still mounts it."""
        strategy = (self.spec.get("volumeClaimGC") or {}).get("strategy") or "OnWorkflowSuccess"
        if strategy == "OnWorkflowSuccess" and self.status.get("phase") != "Succeeded":
            return
        if strategy not in ("OnWorkflowSuccess", "OnWorkflowCompletion"):
            return  # Argo logs "unknown volume gc strategy" and deletes nothing
        claimed = self.status.pop("persistentVolumeClaims", None) or []
        names = [v["persistentVolumeClaim"]["claimName"] for v in claimed]
        if names:
            self.cluster.delete_claims(self.namespace, names)

    def failures(self) -> str:
        """workflow.failures: a JSON list of failed nodes, Go-quoted (operator.go, v3.7.18)."""
        items = []
        for n in self.status["nodes"].values():
            if n["phase"] in ("Failed", "Error"):
                from .nodes import pod_name

                tmpl = n.get("templateName") or ""
                items.append(
                    {
                        "displayName": n.get("displayName") or "",
                        "message": n.get("message") or "",
                        "templateName": tmpl,
                        "phase": n["phase"],
                        "podName": pod_name(self.name, n["name"], tmpl),
                        "finishedAt": n.get("finishedAt") or None,
                    }
                )
        return json.dumps(
            json.dumps(items, separators=(",", ":"), ensure_ascii=False), ensure_ascii=False
        )

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

    # -- pods (pods.py) ---------------------------------------------------------------------
    def create_pod(
        self,
        node_name: str,
        tmpl: dict[str, Any],
        on_exit: bool,
        execution_deadline: float | None,
        boundary_id: str = "",
    ) -> None:
        from . import pods

        pods.create_pod(self, node_name, tmpl, on_exit, execution_deadline, boundary_id)

    def workflow_deadline(self) -> float | None:
        """getWorkflowDeadline (operator.go, v3.7.18): startedAt + activeDeadlineSeconds."""
        ads = self.spec.get("activeDeadlineSeconds")
        started = parse_time(self.status.get("startedAt"))
        if ads is None or started is None:
            return None
        return started.timestamp() + float(ads)

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
                params.append(
                    {"name": p["globalName"], **({"value": value} if value is not None else {})}
                )
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

    def count_active_pods(self, boundary_id: str) -> int:
        """getActivePods (operator.go, v3.7.18): Pending/Running pods under a boundary."""
        count = 0
        for n in self.status["nodes"].values():
            if (
                n["type"] == "Pod"
                and n["phase"] in ("Pending", "Running")
                and (not boundary_id or n.get("boundaryID") == boundary_id)
                and n["id"] in self.pods
            ):  # only pods that were created
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
