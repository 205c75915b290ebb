"""Run ONE pod of a template as Argo's executor would (emulation for conformance; test code).

API (what the controller emulation codes against)::

    from conformance.pod import ArtifactRepository, PodRequest, run_pod

    repo = ArtifactRepository.for_seaweedfs(server, bucket="argo")   # or ArtifactRepository(...)
    result = run_pod(PodRequest(
        template=tmpl,              # the template AFTER the controller's substitution
        workflow_name="wf-abc12",   # inputs.parameters resolved, input artifacts located
        pod_name="wf-abc12-square-1234567890",
        node_id="wf-abc12-1234567890",
        repository=repo,
    ))
    result.phase      # "Succeeded" | "Failed" | "Error"
    result.message    # as Argo writes it: "main: Error (exit code 1)", "init: Error ..."
    result.exit_code  # the main container's exit code (None when it never ran)
    result.outputs    # node outputs in Argo's shape: {"parameters": [...], "artifacts": [...],
                      #   "result": ..., "exitCode": "0"} (keys only when present)
    result.log        # the main container's stdout+stderr

    resolve_image("python:3.8-slim")  # -> Image(python=<pyenv 3.8 interpreter>, ...)
    register_image("team/pydflow:1.8.134",  # pip-installed into a cached venv
                   python_image("team/pydflow:1.8.134", "3.11", requirements=("pydflow==1.8.134",)))

What happens, in the order of a real pod (each rule cites Argo's source beside its code):

1. *createWorkflowPod* (controller/workflowpod.go): the template gets the repository's archive
   location when one of its artifacts lacks a location (``addArchiveLocation``), then
   ``{{pod.name}}``, the global parameters and ``inputs.parameters`` are substituted in it
   (``substitutePodParams``). A template whose JSON is too big for the ConfigMap it would be
   offloaded to fails here, as the API server refuses it.
2. *init* (executor.go ``StageFiles``/``LoadArtifacts``): the script source is staged at
   ``/argo/staging/script``; input artifacts are fetched (S3 key, S3 key prefix as a
   directory, ``raw``, ``http``), gzip'd tarballs detected by content and untarred with the
   single-root rule, ``mode`` applied, absent ``optional`` ones skipped.
3. *main* under the emissary (cmd/argoexec/commands/emissary.go): ``command + args``
   (+ ``/argo/staging/script`` for a script), in private mount and PID namespaces (what the
   command leaves running dies with the pod) whose root is an overlay of the machine's root
   (writes stay in the pod), ``/tmp`` an empty per-pod sandbox, input artifacts and volumes
   (emptyDir, hostPath, secret, configMap, persistentVolumeClaim) mounted at their paths,
   ``/usr/local`` the image (see :mod:`conformance.images`: ``python``/``python3`` are a
   pyenv interpreter of the image's version with nothing of the client's site-packages).
   The environment is the image's, the template's (``valueFrom`` secrets and ConfigMaps too)
   and Argo's (``ARGO_CONTAINER_NAME``, ``ARGO_NODE_ID``, ``ARGO_DEADLINE``,
   ``ARGO_PROGRESS_FILE``...); the kernel enforces the exec limits a real node has (one
   variable of 128 KiB or more cannot be passed: StartError). The deadline or ``cancel``
   stops the container (SIGTERM, SIGKILL after ``grace``). Output files are copied to
   ``/var/run/argo/outputs`` as the emissary does, even on failure.
4. *wait* (executor.go ``SaveParameters``/``SaveArtifacts``/``CaptureScriptResult``): output
   parameters read (``valueFrom.path``; a missing file takes ``valueFrom.default`` or errors),
   output artifacts saved to S3 (tgz by default, ``archive: {none: {}}`` as plain objects,
   explicit keys kept, absent ``optional`` ones skipped), the main log saved when
   ``archiveLogs``; progress read from ``ARGO_PROGRESS_FILE``; outputs too big for a
   WorkflowTaskResult (etcd's 1.5 MiB) lost with an error.
5. Phase and message as the controller infers them from the containers
   (operator.go ``inferFailedReason``).

A ``resource`` template (``action: create``) runs as ``argoexec resource`` does, without a
container: :mod:`conformance.resources` creates the object and waits for its conditions, the
operator of its kind (:mod:`conformance.wlm` for wlm-operator's SlurmJob) runs it.

Needs root (mount and PID namespaces, overlayfs) and pyenv interpreters 3.7-3.13. A problem
of the test setup (unknown image, a missing Secret, an artifact kind or template feature this
emulation does not cover: sidecars, daemons, zip outputs, oss/gcs/git artifacts) raises
:class:`HarnessError` rather than producing a phase a real cluster would not. Deliberate
differences: the main container gets no ARGO_TEMPLATE/ARGO_POD_NAME (v3.7.18 gives them to
init and wait only); objects listed under a key prefix are cached by ETag across pods (the
listing always hits the server); SeaweedFS's directory entries read as absent keys, as S3's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.common import HarnessError
from conformance.images import Image, python_image, register_image, resolve_image

__all__ = [
    "ARGO_VERSIONS",
    "ArtifactRepository",
    "HarnessError",
    "Image",
    "PodRequest",
    "PodResult",
    "python_image",
    "register_image",
    "resolve_image",
    "run_pod",
]

#: the Argo versions whose behaviour is emulated (pod-side differences are small: v4 adds
#: ARGO_WORKFLOW_NAME to the main container's environment)
ARGO_VERSIONS = ("v3.7.18", "v4.1.2")


@dataclass(frozen=True)
class ArtifactRepository:
    """The S3 artifact repository of the emulated controller (its ``artifactRepository``)."""

    endpoint: str  # host:port, e.g. "127.0.0.1:8333"
    bucket: str
    access_key: str
    secret_key: str
    key_format: str = "{{workflow.name}}/{{pod.name}}"  # artifact_repository_types.go default
    insecure: bool = True
    region: str = "us-east-1"
    archive_logs: bool = False

    @classmethod
    def for_seaweedfs(cls, server: Any, bucket: str, **kwargs: Any) -> ArtifactRepository:
        """The repository of a :class:`dflow.testing.seaweedfs.SeaweedServer`."""
        return cls(server.endpoint, bucket, server.access_key, server.secret_key, **kwargs)

    def location(self) -> dict[str, Any]:
        """``ToArtifactLocation`` (artifact_repository_types.go, v3.7.18): the archive
        location a template gets, its key still the unsubstituted key format."""
        return {
            "archiveLogs": self.archive_logs,
            "s3": {
                "endpoint": self.endpoint,
                "bucket": self.bucket,
                "insecure": self.insecure,
                "region": self.region,
                "key": self.key_format,
            },
        }


@dataclass
class PodRequest:
    """One pod to run. ``template`` is not modified."""

    template: dict[str, Any]
    workflow_name: str
    pod_name: str
    node_id: str
    repository: ArtifactRepository
    #: seconds the pod may run (the pod's activeDeadlineSeconds, from the template's
    #: ``timeout``/``activeDeadlineSeconds`` and the workflow's deadline); None: the
    #: template's own ``activeDeadlineSeconds`` if any, else no limit
    deadline: float | None = None
    #: global parameters for ``substitutePodParams`` (``workflow.name`` is always added)
    global_params: dict[str, str] = field(default_factory=dict)
    #: whether ``outputs.result`` is referenced (ARGO_INCLUDE_SCRIPT_OUTPUT)
    include_script_output: bool = False
    argo_version: str = "v3.7.18"
    #: set it to kill the pod (``argo stop``/``terminate``, a failFast sibling...)
    cancel: threading.Event | None = None
    #: where the pod's files go (a fresh temporary directory when None); removed after the
    #: run unless ``keep``
    workdir: Path | None = None
    keep: bool = False
    #: seconds between SIGTERM and SIGKILL when the pod is killed (terminationGracePeriod)
    grace: float = 2.0
    #: the workflow's ``spec.volumes`` and ``status.persistentVolumeClaims`` (a template's
    #: volumeMounts may name them; the later of two of one name wins); emptyDir, hostPath,
    #: secret, configMap and persistentVolumeClaim volumes are emulated
    volumes: list[dict[str, Any]] = field(default_factory=list)
    #: the namespace's PersistentVolumeClaims (claim name -> directory here, shared by every
    #: pod that mounts the claim), for ``persistentVolumeClaim`` volumes
    claims: dict[str, Path] = field(default_factory=dict)
    #: the namespace's Secrets and ConfigMaps (name -> data as text), for env ``valueFrom``
    #: and ``secret``/``configMap`` volumes
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the controller's progress ticks in seconds (patch, file read): defaults 1m and 3s
    #: (controller.go v3.7.18); progress read from the file reaches the node only at a patch
    progress_ticks: tuple[float, float] = (60.0, 3.0)
    #: for resource templates (:mod:`conformance.resources`): the pod's namespace, the
    #: stand-in kube-apiserver's store the object is created in (``Cluster.kube_objects``;
    #: None: one of the pod's own) and red-box's working directory, where SlurmJobs run
    #: (:mod:`conformance.wlm`; None: a fresh one per job)
    namespace: str = "argo"
    kube_objects: dict[tuple[str, str, str], dict[str, Any]] | None = None
    slurm_dir: Path | None = None


@dataclass
class PodResult:
    """What the controller learns from the pod."""

    phase: str  # Succeeded / Failed / Error
    message: str
    exit_code: int | None
    outputs: dict[str, Any]
    log: str
    progress: str | None = None  # last "N/M" of ARGO_PROGRESS_FILE reported at a patch tick
    killed: str | None = None  # "deadline" or "cancel" when the pod was killed
    started_at: str = ""  # RFC 3339, whole seconds, UTC
    finished_at: str = ""
    #: the template as the executor saw it (archive location set, pod params substituted)
    template: dict[str, Any] = field(default_factory=dict)
    #: what init and wait did, one line each (for debugging a failing test)
    executor_log: list[str] = field(default_factory=list)
    pod_dir: Path | None = None


def run_pod(req: PodRequest) -> PodResult:
    """Run the pod to completion and return its phase, message and outputs. Thread-safe."""
    from conformance.podrun import run

    return run(req)
