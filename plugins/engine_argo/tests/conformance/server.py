"""The stand-in Argo Server's emulated cluster: submitted workflows really run.

``FakeArgoServer(emulator=EmulatedArgo(...))`` hands each created workflow to an emulated
controller (:class:`conformance.controller.Operator`, on a thread) instead of inventing
statuses; Get/List serve what the controller last persisted, WorkflowLogs the pods' logs,
and retry/resubmit/stop/terminate/suspend/resume act on the controller as the Argo Server
does (server/workflow/workflow_server.go and workflow/util/util.go, v3.7.18). Every
workflow served is checked against the swagger's Workflow definition (strict), so the node
trees the client reads are valid Argo responses. Test code only.
"""

from __future__ import annotations

import copy
import shutil
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .controller import Cluster, Operator
from .pod import ArtifactRepository
from .retry import formulate_resubmit, formulate_retry
from .templating import TemplateError

FINISHED = ("Succeeded", "Failed", "Error")


class EmulatedArgo:
    """A cluster with an emulated workflow controller, for :class:`FakeArgoServer`."""

    def __init__(
        self,
        repository: ArtifactRepository,
        *,
        max_pods: int = 4,
        kube_objects: dict[tuple[str, str, str], dict[str, Any]] | None = None,
        **cluster: Any,
    ) -> None:
        self.pool = ThreadPoolExecutor(max_pods, thread_name_prefix="argo-pod")
        self.cluster = Cluster(
            repository=repository,
            pool=self.pool,
            kube_objects=kube_objects if kube_objects is not None else {},
            **cluster,
        )
        self.operators: dict[tuple[str, str], Operator] = {}
        self.violations: list[str] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        for op in self.operators.values():
            op.close()
        for op in self.operators.values():
            op.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.cluster.delete_claims()  # those kept by volumeClaimGC: the tests leave no dirs
        if self.cluster.slurm_dir is not None:
            shutil.rmtree(self.cluster.slurm_dir, ignore_errors=True)

    def __enter__(self) -> EmulatedArgo:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def operator(self, namespace: str, name: str) -> Operator:
        return self.operators[(namespace, name)]

    def run(
        self, manifest: dict[str, Any], timeout: float = 120, namespace: str = "argo"
    ) -> dict[str, Any]:
        """Submit ``manifest`` directly to the controller, wait for it, return the workflow
        as persisted (for tests of the controller without the API in front)."""
        wf = copy.deepcopy(manifest)
        meta = wf.setdefault("metadata", {})
        if not meta.get("name"):
            meta["name"] = (meta.get("generateName") or "wf-") + uuid.uuid4().hex[:5]
        meta.update(namespace=namespace, uid=str(uuid.uuid4()))
        self.submit(wf)
        op = self.operator(namespace, meta["name"])
        op.join(timeout)
        if op.error:
            raise AssertionError(f"the emulated controller crashed:\n{op.error}")
        snap = op.snapshot()
        if snap["status"].get("phase") not in FINISHED:
            raise AssertionError(
                f"workflow {meta['name']} did not finish in {timeout} s: "
                f"{snap['status'].get('phase')}"
            )
        return snap

    # -- hooks the server calls --------------------------------------------------------------
    def submit(self, wf: dict[str, Any]) -> None:
        """CreateWorkflow: the controller picks the workflow up."""
        key = (wf["metadata"]["namespace"], wf["metadata"]["name"])
        op = Operator(wf, self.cluster)
        with self._lock:
            old = self.operators.pop(key, None)
            self.operators[key] = op
        if old is not None:
            old.close()
            self._collect(old)
        op.start()

    def refresh(self, wf: dict[str, Any]) -> None:
        """What a GET sees: the status the controller last persisted, labels kept in step."""
        op = self.operators.get((wf["metadata"]["namespace"], wf["metadata"]["name"]))
        if op is None:
            return
        snap = op.snapshot()
        wf["status"] = snap["status"]
        wf["spec"] = snap["spec"]
        labels = wf["metadata"].setdefault("labels", {})
        phase = snap["status"].get("phase")
        if phase:
            labels["workflows.argoproj.io/phase"] = phase
        if phase in FINISHED:
            labels["workflows.argoproj.io/completed"] = "true"
        else:
            labels.pop("workflows.argoproj.io/completed", None)
        self._check(wf)

    def _check(self, wf: dict[str, Any]) -> None:
        from argo_server import WORKFLOW_REF, _body_validator

        errors = sorted(_body_validator(WORKFLOW_REF).iter_errors(wf), key=str)
        for e in errors[:3]:
            where = ".".join(str(p) for p in e.absolute_path) or "workflow"
            self.violations.append(f"response {wf['metadata']['name']}: {where}: {e.message}")

    def delete(self, namespace: str, name: str) -> None:
        op = self.operators.pop((namespace, name), None)
        if op is not None:
            op.close()
            self._collect(op)

    def _collect(self, op: Operator) -> None:
        """Kubernetes' garbage collection of a deleted workflow: the PVCs it owns go too."""
        names = [
            f"{op.name}-{(t.get('metadata') or {}).get('name')}"
            for t in op.spec.get("volumeClaimTemplates") or []
        ]
        self.cluster.delete_claims(op.namespace, names, owner=op.wf["metadata"].get("uid") or "")

    def shutdown(self, wf: dict[str, Any], strategy: str) -> str | None:
        """TerminateWorkflow / StopWorkflow (patchShutdownStrategy, util.go v3.7.18)."""
        op = self.operator(wf["metadata"]["namespace"], wf["metadata"]["name"])
        with op.lock:
            if op.status.get("phase") in FINISHED:
                return (
                    f"cannot shutdown a completed workflow: workflow: "
                    f'"{op.name}", namespace: "{wf["metadata"]["namespace"]}"'
                )
            op.spec["shutdown"] = strategy
        op.kick()
        return None

    def suspend(self, wf: dict[str, Any], value: bool) -> str | None:
        op = self.operator(wf["metadata"]["namespace"], wf["metadata"]["name"])
        with op.lock:
            if value and op.status.get("phase") in FINISHED:
                return "cannot suspend completed workflows"
            if value:
                op.spec["suspend"] = True
            else:
                op.spec.pop("suspend", None)
            op.publish()
        op.kick()
        return None

    def retry(self, wf: dict[str, Any], restart_successful: bool, selector: str) -> str | None:
        """RetryWorkflow: FormulateRetryWorkflow, then the controller reconciles again."""
        op = self.operator(wf["metadata"]["namespace"], wf["metadata"]["name"])
        op.join(120)  # the pass that finished the workflow has ended (bounds a hang)
        with op.lock:
            try:
                new, pods = formulate_retry(op.wf, restart_successful, selector)
            except TemplateError as exc:
                return str(exc)
            op.wf["metadata"] = new["metadata"]
            op.wf["spec"] = new["spec"]
            op.wf["status"] = new["status"]
            op.nodes.nodes = new["status"]["nodes"]
            for nid in [n for n, r in op.pods.items() if r.name in pods]:
                del op.pods[nid]  # the server deletes the pods of the nodes it removed
            op.publish()
        op.restart()
        return None

    def resubmit(self, wf: dict[str, Any], memoized: bool) -> dict[str, Any] | str:
        """ResubmitWorkflow: FormulateResubmitWorkflow; the caller creates the result."""
        op = self.operator(wf["metadata"]["namespace"], wf["metadata"]["name"])
        with op.lock:
            try:
                return formulate_resubmit(op.wf, memoized)
            except TemplateError as exc:
                return str(exc)

    def logs(self, wf: dict[str, Any], pod: str | None) -> list[tuple[str, str]]:
        """WorkflowLogs: (pod name, line) for every line of every pod (or of ``pod``)."""
        op = self.operators.get((wf["metadata"]["namespace"], wf["metadata"]["name"]))
        if op is None:
            return []
        out = []
        with op.lock:
            for nid, run in op.pods.items():
                if pod not in (None, "", run.name):
                    continue
                for line in (op.logs.get(nid) or "").splitlines():
                    out.append((run.name, line))
        return out
