"""How one emulated pod runs: createWorkflowPod's last steps, init, main, wait, the verdict.

The public API and the rules are described in :mod:`conformance.pod`; this module holds the
controller-side preparation, the init container and the host side of the main container
(:mod:`conformance.emissary` is the part inside the container, :mod:`conformance.collect`
the wait container).
"""

from __future__ import annotations

import copy
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import artifacts, collect, images
from conformance.common import (
    MAIN,
    MAX_CONFIGMAP_BYTES,
    MAX_ENV_VAR_LEN,
    PROGRESS_PATH,
    SCRIPT_PATH,
    STAGING_DIR,
    VAR_RUN_ARGO,
    HarnessError,
    cache_dir,
    rfc3339,
)
from conformance.pod import ARGO_VERSIONS, PodRequest, PodResult

EMISSARY = str(Path(__file__).with_name("emissary.py"))
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
        return [(a["path"], self.inputs / a["name"])
                for a in (self.template.get("inputs") or {}).get("artifacts") or []
                if a.get("path") and (self.inputs / a["name"]).exists()]


def run(req: PodRequest) -> PodResult:
    started = time.time()
    tmpl = prepare(req)
    template_json = json.dumps(_simplified(tmpl), separators=(",", ":"))
    if len("ARGO_TEMPLATE") + len(template_json) > MAX_CONFIGMAP_BYTES:
        # workflowpod.go (v3.7.18): a template over MaxEnvVarLen goes to a ConfigMap, which the
        # API server refuses above 1 MiB: the pod is never created
        msg = (f'ConfigMap "{req.pod_name}" is invalid: []: Too long: must have at most '
               f"{MAX_CONFIGMAP_BYTES} bytes")
        return PodResult("Error", msg, None, {}, "", started_at=rfc3339(started),
                         finished_at=rfc3339(), template=tmpl)
    image = images.resolve_image(_container(tmpl).get("image") or "")
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
        RUNS.append((image.version or "none", "script" if "script" in tmpl else "container",
                     result.phase))
    return result


def _run(req: PodRequest, pod: Pod, image: images.Image, started: float) -> PodResult:
    init_error = load_inputs(req, pod)
    if init_error is not None:
        pod.log.append(f"init: {init_error}")
        return PodResult("Error", f"init: Error (exit code 64): {init_error}", None, {}, "",
                         started_at=rfc3339(started), finished_at=rfc3339(),
                         template=pod.template, executor_log=pod.log, pod_dir=pod.dir)
    main = run_main(req, pod, image, started)
    outputs, wait_error = collect.collect(req, pod, main)
    if main.exit_code is not None:
        outputs["exitCode"] = str(main.exit_code)  # assessNodeStatus: the controller adds it
    phase, message = verdict(main, wait_error)
    return PodResult(phase, message, main.exit_code, outputs, main.log, progress=main.progress,
                     killed=main.killed, started_at=rfc3339(started), finished_at=rfc3339(),
                     template=pod.template, executor_log=pod.log, pod_dir=pod.dir)


# -- createWorkflowPod (controller/workflowpod.go, v3.7.18) -----------------------------------

def prepare(req: PodRequest) -> dict[str, Any]:
    """addArchiveLocation then substitutePodParams, on a copy of the template."""
    if req.argo_version not in ARGO_VERSIONS:
        raise HarnessError(f"argo_version {req.argo_version!r}: one of {ARGO_VERSIONS}")
    tmpl = copy.deepcopy(req.template)
    if "script" not in tmpl and "container" not in tmpl:
        kinds = sorted(set(tmpl) & {"steps", "dag", "resource", "suspend", "http", "plugin",
                                    "data", "containerSet"})
        raise HarnessError(f"template {tmpl.get('name')!r} ({kinds}): only container and "
                           "script templates run as pods in this emulation")
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
    arts = ((tmpl.get("inputs") or {}).get("artifacts") or []) + \
        ((tmpl.get("outputs") or {}).get("artifacts") or [])
    if archive_logs or any(not artifacts.has_location(a) for a in arts):
        tmpl["archiveLocation"] = {**repo.location(), "archiveLogs": archive_logs}


def _simplified(tmpl: dict[str, Any]) -> dict[str, Any]:
    out = dict(tmpl)
    out["inputs"] = {k: v for k, v in (tmpl.get("inputs") or {}).items() if k == "artifacts"}
    return out


def _container(tmpl: dict[str, Any]) -> dict[str, Any]:
    return tmpl.get("script") or tmpl.get("container") or {}


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


# -- main: the container started by the kubelet, argoexec emissary inside ---------------------

@dataclass
class Main:
    exit_code: int | None = None
    log: str = ""
    stdout: bytes = b""
    termination: str = ""  # the container's termination message
    start_error: str | None = None  # StartError: the container never ran
    killed: str | None = None
    ran_for: float = 0.0
    progress: str | None = None  # the last progress reported at a patch tick


def run_main(req: PodRequest, pod: Pod, image: images.Image, started: float) -> Main:
    tmpl = pod.template
    ctr = _container(tmpl)
    command = list(ctr.get("command") or [])
    args = ctr.get("args")
    args = list(args) if args is not None else None
    if "script" in tmpl and tmpl["script"].get("source"):
        args = [*(args or []), SCRIPT_PATH]  # operator.go executeScript (v3.7.18)
    if not command:  # workflowpod.go: the image's entrypoint, and its cmd when args is nil
        command = list(image.entrypoint)
        if args is None:
            args = list(image.cmd)
    argv = command + (args or [])
    if not argv:
        raise HarnessError(f"template {tmpl.get('name')!r}: no command, args or image CMD to run")
    sandbox = pod.path("tmp")
    sandbox.mkdir()
    argv = _offload_args(argv, len(command), sandbox)
    for sub in ("upper", "work", "merged"):
        pod.path("root", sub).mkdir(parents=True)
    (pod.var_run_argo / "ctr").mkdir(parents=True)
    mounts = [(str(images.prefix(image)), "/usr/local"), (str(sandbox), "/tmp"),
              (str(pod.var_run_argo), VAR_RUN_ARGO)]
    if "script" in tmpl:
        mounts.append((str(pod.path("staging")), STAGING_DIR))
    mounts += [(str(src), path) for path, src in pod.mounted_inputs()]
    mounts += volume_mounts(req, pod, ctr)
    outputs = tmpl.get("outputs") or {}
    spec = {
        "root": {k: str(pod.path("root", k)) for k in ("upper", "work", "merged")},
        "mounts": mounts, "command": argv, "cwd": ctr.get("workingDir") or image.workdir,
        "parameters": [p["valueFrom"]["path"] for p in outputs.get("parameters") or []
                       if (p.get("valueFrom") or {}).get("path")],
        "artifacts": [a["path"] for a in outputs.get("artifacts") or [] if a.get("path")],
    }
    spec_file = pod.path("emissary.json")
    spec_file.write_text(json.dumps(spec))
    env = environment(req, tmpl, ctr, image, started)
    return _supervise(req, pod, [sys.executable, "-I", EMISSARY, str(spec_file)], env, started)


def _offload_args(argv: list[str], n_command: int, sandbox: Path) -> list[str]:
    """workflowpod.go + emissary.go (v3.7.18): args whose JSON exceeds MaxEnvVarLen travel in a
    file, and each single argument over it becomes ``@/tmp/argo_arg_<i>.txt``."""
    args = argv[n_command:]
    if len(json.dumps(args)) <= MAX_ENV_VAR_LEN:
        return argv
    for i, arg in enumerate(args):
        if len(arg) > MAX_ENV_VAR_LEN:
            (sandbox / f"argo_arg_{i}.txt").write_text(arg)
            args[i] = f"@/tmp/argo_arg_{i}.txt"
    return argv[:n_command] + args


def volume_mounts(req: PodRequest, pod: Pod, ctr: dict[str, Any]) -> list[tuple[str, str]]:
    """The container's volumeMounts of emptyDir and hostPath volumes (template's or workflow's)."""
    volumes = {v["name"]: v for v in [*req.volumes, *(pod.template.get("volumes") or [])]}
    out = []
    for m in ctr.get("volumeMounts") or []:
        vol = volumes.get(m["name"])
        if vol is None:
            raise HarnessError(f"volumeMount {m['name']!r}: no such volume in the template or "
                               "PodRequest.volumes")
        if "emptyDir" in vol:
            src = pod.path("volumes", m["name"])
            src.mkdir(parents=True, exist_ok=True)
        elif "secret" in vol or "configMap" in vol:
            src = _projected(req, pod, m["name"], vol)
        elif "hostPath" in vol:
            src = Path(vol["hostPath"]["path"])
            if vol["hostPath"].get("type") == "DirectoryOrCreate":
                src.mkdir(parents=True, exist_ok=True)
            elif not src.exists():
                raise HarnessError(f"hostPath volume {m['name']!r}: {src} does not exist here")
        else:
            raise HarnessError(f"volume {m['name']!r}: emptyDir, hostPath, secret and configMap "
                               f"volumes are emulated, not {sorted(set(vol) - {'name'})}")
        if m.get("subPath"):
            src = src / m["subPath"]
            src.mkdir(parents=True, exist_ok=True)
        out.append((str(src), m["mountPath"]))
    return out


def _lookup(req: PodRequest, ref: dict[str, Any], secret: bool) -> dict[str, str] | None:
    """The data of the Secret/ConfigMap ``ref`` names; a missing one keeps a real pod Pending
    (CreateContainerConfigError), which this emulation cannot return: a harness error."""
    kind = "secret" if secret else "configmap"
    data = (req.secrets if secret else req.config_maps).get(ref.get("name") or ref.get("secretName"))
    if data is None and not ref.get("optional"):
        raise HarnessError(f'{kind} "{ref.get("name") or ref.get("secretName")}" not found: the '
                           "pod would stay Pending (CreateContainerConfigError); give it in "
                           f"PodRequest.{'secrets' if secret else 'config_maps'}")
    return data


def _projected(req: PodRequest, pod: Pod, name: str, vol: dict[str, Any]) -> Path:
    """A secret or configMap volume: one file per key (or per ``items`` entry) with its mode."""
    secret = "secret" in vol
    ref = vol["secret"] if secret else vol["configMap"]
    data = _lookup(req, ref, secret) or {}
    src = pod.path("volumes", name)
    src.mkdir(parents=True, exist_ok=True)
    mode = ref.get("defaultMode", 0o644)
    items = ref.get("items") or [{"key": k, "path": k} for k in data]
    for item in items:
        if item["key"] not in data:
            raise HarnessError(f"volume {name!r}: key {item['key']!r} is not in {sorted(data)}")
        target = src / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[item["key"]])
        target.chmod(item.get("mode", mode))
    return src


def _go_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def environment(req: PodRequest, tmpl: dict[str, Any], ctr: dict[str, Any], image: images.Image,
                started: float) -> dict[str, str]:
    """The image's ENV, what the kubelet sets, the container's env, then Argo's variables
    (workflowpod.go createWorkflowPod, v3.7.18; v4.1.2 adds ARGO_WORKFLOW_NAME)."""
    env = {**image.env, "HOSTNAME": req.pod_name[:63], "HOME": "/root"}
    for e in ctr.get("env") or []:
        if "value" in e or not e.get("valueFrom"):
            env[e["name"]] = str(e.get("value", ""))
        elif (e["valueFrom"].get("fieldRef") or {}).get("fieldPath") == "metadata.name":
            env[e["name"]] = req.pod_name
        elif "secretKeyRef" in e["valueFrom"] or "configMapKeyRef" in e["valueFrom"]:
            secret = "secretKeyRef" in e["valueFrom"]
            ref = e["valueFrom"]["secretKeyRef" if secret else "configMapKeyRef"]
            data = _lookup(req, ref, secret)
            if data is not None and ref["key"] in data:
                env[e["name"]] = data[ref["key"]]
            elif not ref.get("optional"):
                raise HarnessError(f"env {e['name']!r}: key {ref['key']!r} not in {ref['name']!r}")
        else:
            raise HarnessError(f"env {e['name']!r}: valueFrom {e['valueFrom']} is not emulated")
    deadline = _deadline(req, tmpl)
    env["ARGO_CONTAINER_NAME"] = MAIN
    env["ARGO_NODE_ID"] = req.node_id
    env["ARGO_INCLUDE_SCRIPT_OUTPUT"] = "true" if req.include_script_output else "false"
    env["ARGO_DEADLINE"] = rfc3339(started + deadline) if deadline else "0001-01-01T00:00:00Z"
    if req.argo_version.startswith("v4"):
        env["ARGO_WORKFLOW_NAME"] = req.workflow_name
    patch, read = req.progress_ticks
    if patch and read:
        env["ARGO_PROGRESS_FILE"] = PROGRESS_PATH
        env["ARGO_PROGRESS_PATCH_TICK_DURATION"] = _go_duration(patch)
        env["ARGO_PROGRESS_FILE_TICK_DURATION"] = _go_duration(read)
    return env


def _deadline(req: PodRequest, tmpl: dict[str, Any]) -> float | None:
    if req.deadline is not None:
        return req.deadline
    value = tmpl.get("activeDeadlineSeconds")
    return float(value) if value not in (None, "") else None


def _supervise(req: PodRequest, pod: Pod, cmd: list[str], env: dict[str, str],
               started: float) -> Main:
    """Start the container, kill it at the deadline or on cancel, sample progress."""
    main = Main()
    ctr_dir = pod.var_run_argo / "ctr" / MAIN
    errors = pod.path("emissary.err")
    deadline = _deadline(req, pod.template)
    if req.cancel is not None and req.cancel.is_set():
        main.killed = "cancel"  # stopped while init ran: main never starts
        return main
    with open(errors, "wb") as err:
        try:
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=err,
                                    stderr=err, cwd="/", start_new_session=True)
        except OSError as exc:
            if exc.errno != errno.E2BIG:
                raise
            # the container's first exec fails on the node as it fails here; containerd
            # reports it as StartError, exit code 128
            main.start_error = ('failed to create containerd task: failed to create shim task: '
                                'OCI runtime create failed: runc create failed: unable to start '
                                'container process: exec: "/var/run/argo/argoexec": argument '
                                'list too long: unknown')
            main.exit_code = 128
            return main
    sampler = collect.ProgressSampler(pod.var_run_argo / "progress", req.progress_ticks)
    escalate: list[float] = []  # when to SIGKILL the process group, then the emissary
    while True:
        try:
            code = proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.time()
        sampler.tick(now - started)
        if main.killed is None:
            if deadline is not None and now - started >= deadline:
                main.killed = "deadline"
            elif req.cancel is not None and req.cancel.is_set():
                main.killed = "cancel"
            if main.killed:
                # the kubelet stops the container: SIGTERM (the emissary forwards it to the
                # command's process group), SIGKILL after the grace period
                pod.log.append(f"main: killed ({main.killed}): SIGTERM")
                _signal(proc.pid, signal.SIGTERM)
                escalate = [now + req.grace, now + 2 * req.grace]
        elif escalate and now >= escalate[0]:
            escalate.pop(0)
            child = ctr_dir / "pid"
            if escalate and child.exists():
                pod.log.append("main: SIGKILL to the command after the grace period")
                _signal(-int(child.read_text()), signal.SIGKILL)
            elif not escalate:
                pod.log.append("main: SIGKILL to the container")
                _signal(proc.pid, signal.SIGKILL)
    main.ran_for = time.time() - started
    main.progress = sampler.reported
    if code == 125 and not ctr_dir.exists():
        raise HarnessError(f"the emulated container did not start:\n{errors.read_text()[-3000:]}")
    main.exit_code = code if code >= 0 else 137
    if (ctr_dir / "exitcode").exists() and code != 64:
        main.exit_code = int((ctr_dir / "exitcode").read_text())
    if (ctr_dir / "termination-log").exists():
        main.termination = (ctr_dir / "termination-log").read_text()
    if (ctr_dir / "combined").exists():
        main.log = (ctr_dir / "combined").read_bytes().decode("utf-8", "replace")
    if (ctr_dir / "stdout").exists():
        main.stdout = (ctr_dir / "stdout").read_bytes()
    return main


def _signal(pid: int, sig: int) -> None:
    try:
        if pid < 0:
            os.killpg(-pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


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
