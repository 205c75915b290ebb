"""How one emulated pod runs: createWorkflowPod's last steps, init, main, wait, the verdict.

The public API and the rules are described in :mod:`conformance.pod`; this module holds the
controller-side preparation, the init container and the verdict. The main container is
:mod:`conformance.container` (outside) and :mod:`conformance.emissary` (inside), the wait
container :mod:`conformance.collect`.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import artifacts, collect, images
from conformance.common import (
    MAX_CONFIGMAP_BYTES,
    MAX_ENV_VAR_LEN,
    HarnessError,
    cache_dir,
    rfc3339,
)
from conformance.container import Main, container_of, run_main
from conformance.pod import ARGO_VERSIONS, PodRequest, PodResult

#: every pod run in this process: (image's Python version or "none", template kind, phase),
#: for the figures the test session prints
RUNS: list[tuple[str, str, str]] = []
_runs_lock = threading.Lock()
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


@dataclass
class Pod:
    """The pod's directories on this machine and what its containers reported."""

    dir: Path
    template: dict[str, Any]
    log: list[str] = field(default_factory=list)
    #: (mount path, directory here) of the container's volumeMounts, once main is set up
    volumes: list[tuple[str, Path]] = field(default_factory=list)

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    @property
    def var_run_argo(self) -> Path:
        return self.dir / "var-run-argo"

    @property
    def inputs(self) -> Path:  # the input-artifacts volume (/argo/inputs/artifacts)
        return self.dir / "input-artifacts"

    def mounted_inputs(self) -> list[tuple[str, Path]]:
        """(path in the container, directory here) of each loaded input artifact."""
        return [
            (a["path"], self.inputs / a["name"])
            for a in (self.template.get("inputs") or {}).get("artifacts") or []
            if a.get("path") and (self.inputs / a["name"]).exists()
        ]


def run(req: PodRequest) -> PodResult:
    started = time.time()
    tmpl = prepare(req)
    if "resource" in tmpl:
        from conformance import resources

        result = resources.run(req, tmpl, started)
        with _runs_lock:
            RUNS.append(("none", "resource", result.phase))
        return result
    template_json = json.dumps(_simplified(tmpl), separators=(",", ":"))
    if len("ARGO_TEMPLATE") + len(template_json) > MAX_CONFIGMAP_BYTES:
        # workflowpod.go (v3.7.18): a template over MaxEnvVarLen goes to a ConfigMap, which the
        # API server refuses above 1 MiB: the pod is never created
        msg = (
            f'ConfigMap "{req.pod_name}" is invalid: []: Too long: must have at most '
            f"{MAX_CONFIGMAP_BYTES} bytes"
        )
        return PodResult(
            "Error",
            msg,
            None,
            {},
            "",
            started_at=rfc3339(started),
            finished_at=rfc3339(),
            template=tmpl,
        )
    image = images.resolve_image(container_of(tmpl).get("image") or "")
    root = Path(req.workdir) if req.workdir else cache_dir() / "pods"
    root.mkdir(parents=True, exist_ok=True)
    pod = Pod(Path(tempfile.mkdtemp(prefix=req.pod_name[:60] + "-", dir=root)), tmpl)
    if len(template_json) > MAX_ENV_VAR_LEN:
        pod.log.append(f"init: ARGO_TEMPLATE offloaded ({len(template_json)} bytes)")
    try:
        result = _run(req, pod, image, started)
    finally:
        if not req.keep:
            remove(pod.dir)
    with _runs_lock:
        RUNS.append(
            (image.version or "none", "script" if "script" in tmpl else "container", result.phase)
        )
    return result


def _run(req: PodRequest, pod: Pod, image: images.Image, started: float) -> PodResult:
    init_error = load_inputs(req, pod)
    if init_error is not None:
        pod.log.append(f"init: {init_error}")
        return PodResult(
            "Error",
            f"init: Error (exit code 64): {init_error}",
            None,
            {},
            "",
            started_at=rfc3339(started),
            finished_at=rfc3339(),
            template=pod.template,
            executor_log=pod.log,
            pod_dir=pod.dir,
        )
    main = run_main(req, pod, image, started)
    outputs, wait_error = collect.collect(req, pod, main)
    if main.exit_code is not None:
        outputs["exitCode"] = str(main.exit_code)  # assessNodeStatus: the controller adds it
    phase, message = verdict(main, wait_error)
    return PodResult(
        phase,
        message,
        main.exit_code,
        outputs,
        main.log,
        progress=main.progress,
        killed=main.killed,
        started_at=rfc3339(started),
        finished_at=rfc3339(),
        template=pod.template,
        executor_log=pod.log,
        pod_dir=pod.dir,
    )


# -- createWorkflowPod (controller/workflowpod.go, v3.7.18) -----------------------------------


def prepare(req: PodRequest) -> dict[str, Any]:
    """addArchiveLocation then substitutePodParams, on a copy of the template."""
    if req.argo_version not in ARGO_VERSIONS:
        raise HarnessError(f"argo_version {req.argo_version!r}: one of {ARGO_VERSIONS}")
    tmpl = copy.deepcopy(req.template)
    if not {"script", "container", "resource"} & set(tmpl):
        kinds = sorted(
            set(tmpl) & {"steps", "dag", "suspend", "http", "plugin", "data", "containerSet"}
        )
        raise HarnessError(
            f"template {tmpl.get('name')!r} ({kinds}): only container, script and "
            "resource templates run as pods in this emulation"
        )
    unsupported = [k for k in ("sidecars", "initContainers", "daemon") if tmpl.get(k)]
    if unsupported:
        raise HarnessError(f"template {tmpl.get('name')!r}: {unsupported} are not emulated")
    add_archive_location(tmpl, req.repository)
    from conformance.templating import replace_object

    params = {**req.global_params, "workflow.name": req.workflow_name, "pod.name": req.pod_name}
    for p in (tmpl.get("inputs") or {}).get("parameters") or []:
        if "value" in p:
            params[f"inputs.parameters.{p['name']}"] = str(p["value"])
    # the pod spec holds everything but the input parameters (ARGO_TEMPLATE drops them)
    inputs = tmpl.get("inputs") or {}
    parameters = inputs.pop("parameters", None)
    tmpl = replace_object(tmpl, params)
    if parameters is not None:
        tmpl.setdefault("inputs", {})["parameters"] = parameters
    return tmpl


def add_archive_location(tmpl: dict[str, Any], repo: Any) -> None:
    """addArchiveLocation: the repository's location when an artifact lacks one (or logs are
    archived); IsArchiveLogs: the controller's setting, else the template's."""
    current = tmpl.get("archiveLocation") or {}
    if artifacts.has_location(current):
        return
    archive_logs = bool(repo.archive_logs or current.get("archiveLogs"))
    arts = ((tmpl.get("inputs") or {}).get("artifacts") or []) + (
        (tmpl.get("outputs") or {}).get("artifacts") or []
    )
    if archive_logs or any(not artifacts.has_location(a) for a in arts):
        tmpl["archiveLocation"] = {**repo.location(), "archiveLogs": archive_logs}


def _simplified(tmpl: dict[str, Any]) -> dict[str, Any]:
    out = dict(tmpl)
    out["inputs"] = {k: v for k, v in (tmpl.get("inputs") or {}).items() if k == "artifacts"}
    return out


# -- init: StageFiles, LoadArtifacts (workflow/executor/executor.go, v3.7.18) -----------------


def load_inputs(req: PodRequest, pod: Pod) -> str | None:
    """Stage the script and load the input artifacts; the init container's error, if any."""
    tmpl = pod.template
    staging = pod.path("staging")
    staging.mkdir()
    if "script" in tmpl:
        script = staging / "script"
        script.write_text(tmpl["script"].get("source", ""))
        script.chmod(0o755)
    pod.inputs.mkdir()
    for art in (tmpl.get("inputs") or {}).get("artifacts") or []:
        name = art["name"]
        if not (artifacts.has_location(art) or artifacts.has_key(art)):
            if art.get("optional"):
                pod.log.append(f"init: ignoring optional artifact '{name}' which was not supplied")
                continue
            return f"required artifact '{name}' not supplied"
        try:
            art = {**art, "path": artifacts.clean_path(art)}
        except artifacts.ArtifactError as exc:
            return str(exc)
        dest = pod.inputs / name
        tmp = Path(str(dest) + ".tmp")
        try:
            located = artifacts.relocate(art, tmpl.get("archiveLocation"))
        except artifacts.ArtifactError as exc:
            return f"failed to load artifact '{name}': {exc}"
        try:
            artifacts.load(located, tmp, req.repository)
        except artifacts.NotFound as exc:
            if art.get("optional"):
                pod.log.append(f"init: skipping optional input artifact that was not found: {name}")
                continue
            return f"artifact {name} failed to load: {exc}"
        except artifacts.ArtifactError as exc:
            return f"artifact {name} failed to load: {exc}"
        archive = art.get("archive") or {}
        try:
            if "none" in archive:
                os.rename(tmp, dest)
            elif "zip" in archive:
                artifacts.unzip(tmp, dest)
            elif "tar" in archive or artifacts.is_tarball(tmp):
                artifacts.untar(tmp, dest)
            else:
                os.rename(tmp, dest)
        except (OSError, artifacts.ArtifactError) as exc:
            return str(exc)
        tmp.unlink(missing_ok=True)
        if art.get("mode") is not None:
            artifacts.chmod(dest, int(art["mode"]), bool(art.get("recurseMode")))
        pod.log.append(f"init: loaded {name} -> {art['path']}")
    return None


# -- the verdict (controller/operator.go inferFailedReason, v3.7.18) ---------------------------


def verdict(main: Main, wait_error: str | None) -> tuple[str, str]:
    """Phase and message: the pod's own message first (the deadline), then init, main (its
    exit code), wait, in that order of preference."""
    if main.killed == "deadline":
        return "Failed", DEADLINE_MESSAGE
    if main.killed == "cancel" and main.exit_code is None:
        return "Failed", "pod deleted"
    if main.start_error is not None:
        return "Failed", f"main: StartError (exit code {main.exit_code}): {main.start_error}"
    if main.exit_code:
        msg = f"main: Error (exit code {main.exit_code})"
        return "Failed", f"{msg}: {main.termination}" if main.termination else msg
    if wait_error is not None:
        return "Error", f"wait: Error (exit code 64): {wait_error}"
    return "Succeeded", ""


def remove(directory: Path) -> None:
    """Delete a pod's directory, refusing if anything is still mounted under it (the mounts
    live in the pod's namespace; seeing one here would mean they leaked)."""
    prefix = str(directory.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        leaked = [line.split()[4] for line in f if (line.split()[4] + "/").startswith(prefix)]
    if leaked:
        raise HarnessError(f"not removing {directory}: still mounted: {leaked}")
    shutil.rmtree(directory, ignore_errors=True)
