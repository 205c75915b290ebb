"""The main container of an emulated pod, seen from the machine: its command, mounts and
environment as the kubelet and workflowpod.go (v3.7.18) make them, then the process supervised
(deadline, cancel, progress). :mod:`conformance.emissary` is the part inside the container."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance import collect, images
from conformance.common import (
    MAIN,
    MAX_ENV_VAR_LEN,
    PROGRESS_PATH,
    SCRIPT_PATH,
    STAGING_DIR,
    VAR_RUN_ARGO,
    HarnessError,
    rfc3339,
)

if TYPE_CHECKING:
    from conformance.pod import PodRequest
    from conformance.podrun import Pod

EMISSARY = str(Path(__file__).with_name("emissary.py"))


def container_of(tmpl: dict[str, Any]) -> dict[str, Any]:
    """The template's main container (``script`` or ``container``)."""
    return tmpl.get("script") or tmpl.get("container") or {}


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
    ctr = container_of(tmpl)
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
    mounts = [
        (str(images.prefix(image)), "/usr/local"),
        (str(sandbox), "/tmp"),
        (str(pod.var_run_argo), VAR_RUN_ARGO),
    ]
    # an image's extra site dirs are part of the image: visible at their paths even where the
    # checkout (and so .work/) lies under /tmp, which the pod replaces with its sandbox
    mounts += [(site, site) for site in image.site]
    if "script" in tmpl:
        mounts.append((str(pod.path("staging")), STAGING_DIR))
    mounts += [(str(src), path) for path, src in pod.mounted_inputs()]
    pod.volumes = volume_mounts(req, pod, ctr)
    mounts += [(str(src), path) for path, src in pod.volumes]
    outputs = tmpl.get("outputs") or {}
    spec = {
        "root": {k: str(pod.path("root", k)) for k in ("upper", "work", "merged")},
        "mounts": mounts,
        "command": argv,
        "cwd": ctr.get("workingDir") or image.workdir,
        "parameters": [
            p["valueFrom"]["path"]
            for p in outputs.get("parameters") or []
            if (p.get("valueFrom") or {}).get("path")
        ],
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


def volume_mounts(req: PodRequest, pod: Pod, ctr: dict[str, Any]) -> list[tuple[str, Path]]:
    """(mount path, directory here) of the container's volumeMounts: emptyDir, hostPath,
    secret, configMap and persistentVolumeClaim volumes of the template or the workflow."""
    volumes = {v["name"]: v for v in [*req.volumes, *(pod.template.get("volumes") or [])]}
    out = []
    for m in ctr.get("volumeMounts") or []:
        vol = volumes.get(m["name"])
        if vol is None:
            raise HarnessError(
                f"volumeMount {m['name']!r}: no such volume in the template or PodRequest.volumes"
            )
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
        elif "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"].get("claimName")
            src = req.claims.get(claim)
            if src is None:
                # the scheduler cannot place a pod whose claim does not exist: it stays Pending
                raise HarnessError(
                    f'volume {m["name"]!r}: persistentvolumeclaim "{claim}" not found: the pod '
                    "would stay Pending (unschedulable); give it in PodRequest.claims"
                )
        else:
            raise HarnessError(
                f"volume {m['name']!r}: emptyDir, hostPath, secret, configMap and "
                f"persistentVolumeClaim volumes are emulated, not {sorted(set(vol) - {'name'})}"
            )
        if m.get("subPath"):
            src = src / m["subPath"]
            src.mkdir(parents=True, exist_ok=True)
        out.append((m["mountPath"], src))
    return out


def _lookup(req: PodRequest, ref: dict[str, Any], secret: bool) -> dict[str, str] | None:
    """The data of the Secret/ConfigMap ``ref`` names; a missing one keeps a real pod Pending
    (CreateContainerConfigError), which this emulation cannot return: a harness error."""
    kind = "secret" if secret else "configmap"
    data = (req.secrets if secret else req.config_maps).get(
        ref.get("name") or ref.get("secretName")
    )
    if data is None and not ref.get("optional"):
        raise HarnessError(
            f'{kind} "{ref.get("name") or ref.get("secretName")}" not found: the '
            "pod would stay Pending (CreateContainerConfigError); give it in "
            f"PodRequest.{'secrets' if secret else 'config_maps'}"
        )
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


def environment(
    req: PodRequest, tmpl: dict[str, Any], ctr: dict[str, Any], image: images.Image, started: float
) -> dict[str, str]:
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


def _supervise(
    req: PodRequest, pod: Pod, cmd: list[str], env: dict[str, str], started: float
) -> Main:
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
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                cwd="/",
                start_new_session=True,
            )
        except OSError as exc:
            if exc.errno != errno.E2BIG:
                raise
            # the container's first exec fails on the node as it fails here; containerd
            # reports it as StartError, exit code 128
            main.start_error = (
                "failed to create containerd task: failed to create shim task: "
                "OCI runtime create failed: runc create failed: unable to start "
                'container process: exec: "/var/run/argo/argoexec": argument '
                "list too long: unknown"
            )
            main.exit_code = 128
            return main
    sampler = collect.ProgressSampler(pod.var_run_argo / "progress", req.progress_ticks)
    escalate: list[float] = []  # when to SIGKILL the container
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
                escalate = [now + req.grace]
        elif escalate and now >= escalate[0]:
            escalate.clear()
            # the grace period is over: the container is killed, PID 1 and all with it
            pod.log.append("main: SIGKILL after the grace period")
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
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
