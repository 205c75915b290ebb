"""The Argo engine: submit manifests to an Argo Server and answer queries about workflows."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dflow.argo_objects import ArgoStep, ArgoWorkflow, read_local_artifact
from dflow.engine import Engine, EngineError
from dflow.model.op_template import randstr

from .client import ArgoClient, ArgoNotFoundError
from .config import ArgoConfig
from .k8s import KubeClient, docker_secret, opaque_secret
from .lint import check

if TYPE_CHECKING:
    from dflow.model.workflow import Workflow

    from .render import ArgoRenderer

log = logging.getLogger(__name__)
RUNNING_PHASES = ("Pending", "Running", None, "")


class ArgoEngine(Engine):
    """Runs workflows on Argo Workflows through the Argo Server REST API."""

    name = "argo"

    def __init__(
        self,
        config: ArgoConfig | None = None,
        client: ArgoClient | None = None,
        kube: KubeClient | None = None,
    ) -> None:
        self.config = config or ArgoConfig()
        self.client = client or ArgoClient.from_config(self.config)
        self._kube = kube  # made on first need: most workflows never call Kubernetes

    def __repr__(self) -> str:
        return f"ArgoEngine(host={self.config.host!r}, namespace={self.config.namespace!r})"

    # -- submission --------------------------------------------------------------------------
    def renderer(self) -> ArgoRenderer:
        from .render import ArgoRenderer

        return ArgoRenderer(self.config)

    def render(
        self, workflow: Workflow, reuse_step: Sequence[ArgoStep] | None = None
    ) -> dict[str, Any]:
        """The Argo manifest of ``workflow`` (no network call).

        With ``reuse_step`` the keyed templates get ``memoize`` against the workflow's cache
        ConfigMap; the workflow's id is fixed first when it has none (as submit does).
        """
        if reuse_step:
            fix_id(workflow)
            return self.renderer().manifest(
                workflow, memoize_prefix=workflow.id, reuse_step=reuse_step
            )
        return self.renderer().manifest(workflow)

    def submit(
        self,
        workflow: Workflow,
        *,
        reuse_step: Sequence[ArgoStep] | None = None,
        wait: bool | None = None,
    ) -> ArgoWorkflow:
        """Render, create the Kubernetes objects the manifest needs, upload, then submit.

        With ``reuse_step`` the workflow's id is fixed up front (``<name>-<random>``): the
        memoize keys and cache ConfigMaps (one per key) embed it; stored outputs the reuse
        needs are copied first (see ``ArgoRenderer.reuse_plan``). The cache ConfigMaps and the
        Secrets that carry values are created (replaced when they exist) through the Kubernetes
        API; the manifest only names them. BigParameter literals, packages and LocalArtifacts
        are uploaded under content-hashed keys.
        """
        reuse = list(reuse_step or [])
        renderer = self.renderer()
        configmaps: list[dict[str, Any]] = []
        copies: list[tuple[str, str]] = []
        if reuse:
            # a fresh id per submission (pydflow's): resubmitting with reuse must not collide
            workflow.id = f"{workflow.name}-{randstr(5)}"
            plan = renderer.reuse_plan(workflow, reuse, memoize_prefix=workflow.id)
            configmaps, copies = plan.configmaps, plan.copies
            rendering = renderer.render(workflow, memoize_prefix=workflow.id, reuse_step=reuse)
        else:
            rendering = renderer.render(workflow)
        # one render: what it needs (secrets, packages, local artifacts) comes from the same pass
        manifest = rendering.manifest
        secrets = [m for m in map(_secret_manifest, rendering.secrets) if m is not None]
        if self.config.lint:  # before anything is created: a refused manifest leaves nothing
            for note in check(dict(manifest)):
                log.info("lint: %s", note)
        if copies:  # stored outputs the reused steps hand over, before any cache entry
            self.copy_stored(copies)
        if configmaps or secrets:
            kube = self.kube()
            for obj in configmaps + secrets:
                kube.apply(obj)
        self.upload_packages(rendering.packages)
        self.upload_local_artifacts(rendering.local_artifacts)
        self.upload_data(rendering.data)
        result = self._create(manifest, wait=bool(wait))
        workflow.id = result.id
        if hasattr(workflow, "uid"):
            workflow.uid = result.uid
        return result

    def kube(self) -> KubeClient:
        """The Kubernetes API client: ``k8s_api_server`` with the token, else a kubeconfig
        (``k8s_config_file``, ``$KUBECONFIG``, ``~/.kube/config``), else the pod's service
        account (see :meth:`KubeClient.from_config`)."""
        if self._kube is None:
            self._kube = KubeClient.from_config(self.config)
        return self._kube

    def upload_local_artifacts(self, artifacts: Mapping[str, str]) -> None:
        """Upload ``LocalArtifact`` inputs (content-hashed keys: a key already stored is kept)."""
        if not artifacts:
            return
        from dflow.backends import get_storage_client
        from dflow.storage.objects import upload_tree

        client = get_storage_client()
        for key, path in artifacts.items():
            if os.path.isdir(path):
                if not client.list(key.rstrip("/") + "/", recursive=False):
                    upload_tree(client, path, key)
            elif not client.list(key, recursive=False):
                client.upload(key, path)

    def copy_stored(self, copies: Sequence[tuple[str, str]]) -> None:
        """Server-side copies of stored objects or trees, keys taken as they are (no prefix
        added: they come from manifests and node outputs)."""
        from dflow.backends import get_storage_client
        from dflow.storage.objects import objects_under

        client = get_storage_client()
        for src, dst in copies:
            src, dst = src.rstrip("/"), dst.rstrip("/")
            log.info("reuse: copying %s -> %s", src, dst)
            objs, is_tree = objects_under(client, src)
            if not is_tree:
                client.copy(src, dst)
                continue
            for obj in objs:
                client.copy(obj, dst + obj[len(src) :])

    def upload_data(self, data: Mapping[str, str]) -> None:
        """Upload texts (BigParameter literals) as plain objects; keys are content hashes, so
        a key already stored is kept."""
        if not data:
            return
        import tempfile

        from dflow.backends import get_storage_client

        client = get_storage_client()
        with tempfile.TemporaryDirectory() as tmp:
            for i, (key, text) in enumerate(data.items()):
                if client.list(key, recursive=False):
                    continue
                path = os.path.join(tmp, str(i))
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                client.upload(key, path)

    def upload_packages(self, packages: Mapping[str, Sequence[str]]) -> None:
        """Upload the Python packages Python OPs import in their containers.

        Each key's paths go up as one gzipped tar (:func:`.render.packages.write_packages`):
        a pod's init container makes one request for them, where a tree of objects made one
        per file (Argo's S3 driver fetches a directory's objects one by one). Keys are content
        hashes, so a key already in the store is skipped.
        """
        if not packages:
            return
        from dflow.backends import get_storage_client

        from .render.packages import write_packages
        from .render.pyscript import PACKAGES_ARTIFACT

        client = get_storage_client()
        for key, paths in packages.items():
            if key in client.list(key, recursive=False):
                continue
            with client.open_write(key) as f:
                write_packages(paths, f, PACKAGES_ARTIFACT)

    def submit_manifest(self, manifest: Mapping[str, Any], wait: bool = False) -> ArgoWorkflow:
        """Lint (unless ``lint = false``) and submit an Argo Workflow manifest."""
        if self.config.lint:
            for note in check(dict(manifest)):
                log.info("lint: %s", note)
        return self._create(manifest, wait)

    def _create(self, manifest: Mapping[str, Any], wait: bool) -> ArgoWorkflow:
        created = self._wrap(self.client.create(manifest))
        log.info("submitted workflow %s (uid %s) to %s", created.id, created.uid, self.config.host)
        if wait:
            if not created.id:
                raise EngineError(f"{self.config.host} created a workflow without a name")
            self.wait(created.id)
            return self.query(created.id)
        return created

    # -- queries -----------------------------------------------------------------------------
    def _wrap(self, d: Mapping[str, Any]) -> ArgoWorkflow:
        wf = ArgoWorkflow(d)
        wf.set_engine(self, loader=big_parameter_text)
        return wf

    def query(self, workflow_id: str, fields: str | None = None) -> ArgoWorkflow:
        """The workflow; an archived one when the cluster no longer holds it."""
        try:
            return self._wrap(self.client.get(workflow_id, fields=fields))
        except ArgoNotFoundError:
            archived = self.client.list_archived(name=workflow_id)
            if not archived:
                raise
            latest: dict[str, Any] = max(
                archived, key=lambda w: w["metadata"].get("creationTimestamp") or ""
            )
            return self._wrap(self.client.get_archived(latest["metadata"]["uid"]))

    def query_status(self, workflow_id: str) -> str:
        return self.query(workflow_id, fields="status.phase")["status"].get("phase") or "Pending"

    def query_global_outputs(self, workflow_id: str) -> Any:
        """The workflow's global outputs as a step's outputs (``parameters``/``artifacts``
        keyed by name, values decoded), as pydflow and the local engine return them."""
        outputs = self.query(workflow_id, fields="status.outputs")["status"].get("outputs")
        if not outputs:
            return None
        return ArgoStep({"outputs": outputs}, workflow_id).outputs

    def wait(self, workflow_id: str, interval: float | None = None) -> str:
        """Poll until the workflow finishes; returns its phase.

        Each poll's node phases become ``dflow_step_event`` events (one per change, in the
        order the nodes changed), the stream the local engine emits as it runs.
        """
        from dflow.events import PhaseTracker, emit

        interval = self.config.poll_interval if interval is None else interval
        tracker = PhaseTracker(workflow_id)
        while True:
            wf = self.query(workflow_id)
            status = wf.get("status") or {}
            emit(tracker.changes((status.get("nodes") or {}).values()))
            phase = status.get("phase") or "Pending"
            if phase not in RUNNING_PHASES:
                return phase
            time.sleep(interval)

    def location(self, workflow_id: str) -> str:
        """The workflow's page in the Argo UI (served by the Argo Server)."""
        host = self.config.host.rstrip("/")
        return f"{host}/workflows/{self.config.namespace}/{workflow_id}"

    def query_workflows(self, labels: dict[str, str] | None = None) -> list[ArgoWorkflow]:
        return [self._wrap(w) for w in self.client.list(labels)]

    def query_archived_workflows(
        self, labels: dict[str, str] | None = None, id: str | None = None
    ) -> list[ArgoWorkflow]:
        return [self._wrap(w) for w in self.client.list_archived(labels, name=id)]

    # -- actions -----------------------------------------------------------------------------
    def terminate(self, workflow_id: str) -> None:
        self.client.terminate(workflow_id)

    def stop(self, workflow_id: str) -> None:
        self.client.stop(workflow_id)

    def suspend(self, workflow_id: str) -> None:
        self.client.suspend(workflow_id)

    def resume(self, workflow_id: str) -> None:
        self.client.resume(workflow_id)

    def retry(self, workflow_id: str, step_ids: Sequence[str] | None = None) -> None:
        """Retry the failed nodes of a workflow, or re-run the given steps.

        Argo retries every failed node; one step, even a succeeded one, is re-run with a node
        field selector. Several steps can be given only when all of them failed (a field
        selector cannot name several nodes).
        """
        ids = list(step_ids or [])
        if len(ids) == 1:
            self.client.retry(
                workflow_id, restart_successful=True, node_field_selector=f"id={ids[0]}"
            )
            return
        if ids:
            phases = {s["id"]: s.get("phase") for s in self.query(workflow_id).get_step(id=ids)}
            unfailed = [i for i in ids if phases.get(i) not in ("Failed", "Error")]
            if unfailed:
                raise EngineError(
                    f"cannot retry steps {', '.join(unfailed)} of workflow '{workflow_id}' together "
                    "with others: Argo re-runs several steps only when they failed; retry them "
                    "one at a time"
                )
        self.client.retry(workflow_id)

    def resubmit(self, workflow_id: str) -> None:
        self.client.resubmit(workflow_id)

    def delete(self, workflow_id: str) -> None:
        self.client.delete(workflow_id)

    def logs(self, workflow_id: str, step_id: str | None = None) -> str:
        """The logs of a workflow (every pod) or of one step (by its node id), as text."""
        pod = None
        if step_id is not None:
            wf = self.query(workflow_id)
            node = (wf["status"].get("nodes") or {}).get(step_id)
            if node is None:
                raise EngineError(f"workflow '{workflow_id}' has no step with id '{step_id}'")
            pod = pod_name(wf, node)
        return "".join(
            e.get("content", "") + "\n" for e in self.client.logs(workflow_id, pod_name=pod)
        )


def pod_name(workflow: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """The pod of a Pod node: its id when the workflow asks for pod names v1 (annotation
    ``workflows.argoproj.io/pod-name-format``), else Argo's v2 name (``get_pod_name``;
    workflow/util/pod_name.go, v3.7.18 and v4.1.2)."""
    from dflow.argo_objects import get_pod_name

    annotations = workflow["metadata"].get("annotations") or {}
    if annotations.get("workflows.argoproj.io/pod-name-format") == "v1":
        return node["id"]
    template = (node.get("templateRef") or {}).get("template") or node.get("templateName") or ""
    return get_pod_name(workflow["metadata"]["name"], node["name"], template, node["id"])


def fix_id(workflow: Workflow) -> str:
    """Give ``workflow`` its id now (``<name>-<random>``) unless it has one."""
    if not workflow.id:
        workflow.id = f"{workflow.name}-{randstr(5)}"
    return workflow.id


def _secret_manifest(secret: Any) -> dict[str, Any] | None:
    """The Secret to create for a ``Secret(value=...)`` or ``DockerSecret``; None for a
    reference to an existing secret (no value)."""
    if hasattr(secret, "password"):
        from .render.graph import sanitize

        # the name the manifest's imagePullSecrets uses
        return docker_secret(
            sanitize(secret.name).lower(), secret.registry, secret.username, secret.password
        )
    if getattr(secret, "value", None) is not None:
        return opaque_secret(secret.name, {secret.key: secret.value})
    return None


def big_parameter_text(artifact: Mapping[str, Any]) -> str:
    """The value of a big parameter a queried step holds: the one file of its
    ``dflow_bigpar_<name>`` artifact in the workflow's storage, read when first asked for."""
    from dflow.storage import download_artifact

    with tempfile.TemporaryDirectory(prefix="dflow-bigpar-") as tmp:
        download_artifact(artifact, path=tmp)
        return read_local_artifact({"name": artifact.get("name"), "local_path": tmp})
