"""The wait container of an emulated pod: results, output parameters and artifacts, logs,
progress (cmd/argoexec/commands/wait.go and workflow/executor/executor.go, v3.7.18)."""

from __future__ import annotations

import copy
import json
import os
import posixpath
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance import artifacts
from conformance.common import VAR_RUN_ARGO, HarnessError

if TYPE_CHECKING:
    from conformance.container import Main
    from conformance.pod import PodRequest
    from conformance.podrun import Pod

# etcd's default --max-request-bytes (1.5 MiB): no Kubernetes object is stored above it
ETCD_MAX_REQUEST_BYTES = 1536 * 1024
MAIN_FS = "/mainctrfs"  # common.ExecutorMainFilesystemDir: volumes mirrored into wait
_MAX_RESULT = 256 * 1024  # CaptureScriptResult keeps the last 256 kB


class ProgressSampler:
    """monitorProgress: read the progress file's last line every file tick; what parses as
    N/M reaches the node at the next patch tick (executor.go, progress.go v3.7.18)."""

    def __init__(self, path: Path, ticks: tuple[float, float]) -> None:
        self.path = path
        self.patch, self.read = ticks
        self.next_patch, self.next_read = self.patch, self.read
        self.pending: str | None = None
        self.reported: str | None = None

    def tick(self, elapsed: float) -> None:
        if not (self.patch and self.read):
            return
        if elapsed >= self.next_read:
            self.next_read += self.read
            line = self._last_line()
            if line and parse_progress(line):
                self.pending = line
        if elapsed >= self.next_patch:
            self.next_patch += self.patch
            if self.pending:
                self.reported, self.pending = self.pending, None

    def _last_line(self) -> str:
        try:
            text = self.path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return text.split("\n")[-1].strip()


def parse_progress(text: str) -> bool:
    """Progress.IsValid: "N/M" with 0 <= N <= M and M > 0 (non-numbers read as 0)."""
    parts = text.split("/", 1)
    if len(parts) != 2:
        return False

    def num(s: str) -> int:
        return int(s) if s.strip().lstrip("-").isdigit() and s == s.strip() else 0

    n, m = num(parts[0]), num(parts[1])
    return 0 <= n <= m and m > 0


def collect(req: PodRequest, pod: Pod, main: Main) -> tuple[dict[str, Any], str | None]:
    """The node's outputs (``outputs`` of the template with values and keys filled in) and
    the wait container's first error, if any."""
    if main.start_error is not None or main.exit_code is None:
        return {}, None  # the pod is torn down before wait gets anything to collect
    tmpl = pod.template
    outputs = copy.deepcopy(tmpl.get("outputs") or {})
    errors: list[str] = []
    if req.include_script_output:
        out = main.stdout.decode("utf-8", "replace")
        out = out[:-1] if out.endswith("\n") else out
        outputs["result"] = out[-_MAX_RESULT:]
    error = save_parameters(pod, outputs.get("parameters") or [])
    if error:
        errors.append(error)
    saved, failures = [], ""
    for art in outputs.get("artifacts") or []:
        try:
            done = save_artifact(req, pod, art)
        except artifacts.ArtifactError as exc:
            failures += f"{exc}; "
            continue
        if done is not None:
            saved.append(done)
    if failures:
        errors.append(failures)
    if (tmpl.get("archiveLocation") or {}).get("archiveLogs"):
        try:
            saved.append(save_log(req, pod, main))
        except artifacts.ArtifactError as exc:
            errors.append(str(exc))
    if saved:
        outputs["artifacts"] = saved
    else:
        outputs.pop("artifacts", None)
    # ReportOutputs: the outputs travel in a WorkflowTaskResult, which etcd refuses above its
    # request limit (not a transient error: the outputs are lost and wait fails)
    if len(json.dumps({"outputs": outputs})) > ETCD_MAX_REQUEST_BYTES:
        errors.append("etcdserver: request is too large")
        outputs = {}
    return outputs, (errors[0] if errors else None)


def shared_path(pod: Pod, path: str) -> tuple[Path, str] | None:
    """isBaseImagePath, inverted: where wait reads ``path`` when it lies on a volume it shares
    with main (a volumeMount or an input artifact), as (file here, path wait sees)."""
    for mount_path, src in pod.volumes:  # FindOverlappingVolume
        mount = mount_path.rstrip("/")
        if path == mount or path.startswith(mount + "/"):
            return src / path[len(mount) :].lstrip("/"), MAIN_FS + path
    for art in (pod.template.get("inputs") or {}).get("artifacts") or []:
        where = art.get("path")
        if not where:
            continue
        if path == where:
            if art.get("optional") and not (artifacts.has_location(art) or artifacts.has_key(art)):
                return None  # not supplied: the path is the image's again
            return pod.inputs / art["name"], MAIN_FS + path
        if path.startswith(where + "/"):
            return pod.inputs / art["name"] / path[len(where) + 1 :], MAIN_FS + path
    return None


def save_parameters(pod: Pod, parameters: list[dict[str, Any]]) -> str | None:
    """SaveParameters: each ``valueFrom.path`` read (one trailing newline trimmed); a missing
    file takes ``valueFrom.default``, else it is the error (and later ones stay unread)."""
    for param in parameters:
        source = (param.get("valueFrom") or {}).get("path")
        if not source:
            continue
        shared = shared_path(pod, source)
        if shared is None:
            here = pod.var_run_argo / "outputs" / "parameters" / source.lstrip("/")
            seen = posixpath.join(VAR_RUN_ARGO, "outputs", "parameters", source.lstrip("/"))
        else:
            here, seen = shared
        try:
            value = here.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            if "default" not in param["valueFrom"]:
                return f"open {seen}: no such file or directory"
            value = str(param["valueFrom"]["default"])
        except IsADirectoryError:
            if "default" not in param["valueFrom"]:
                return f"read {seen}: is a directory"
            value = str(param["valueFrom"]["default"])
        param["value"] = value[:-1] if value.endswith("\n") else value
    return None


def save_artifact(req: PodRequest, pod: Pod, art: dict[str, Any]) -> dict[str, Any] | None:
    """saveArtifact: stage (stageArchiveFile) then upload (saveArtifactFromFile). Returns the
    artifact as the node records it, None for an absent optional one."""
    art = {**art, "path": artifacts.clean_path(art)}
    try:
        file_name, local = _stage(pod, art)
    except artifacts.NotFound:
        if art.get("optional"):
            pod.log.append(f"wait: ignoring optional artifact '{art['name']}' which does not exist")
            return None
        raise
    out = copy.deepcopy(art)
    if not artifacts.has_key(out):
        key = _archive_key(pod)
        # SetType gives an empty location of the archive's kind, then SetKey
        out["s3"] = {"key": posixpath.join(key, file_name)}
    located = artifacts.relocate(out, pod.template.get("archiveLocation"))
    s3 = located["s3"]
    client = artifacts.s3_client(s3, req.repository)
    artifacts.save_s3(client, s3.get("bucket") or req.repository.bucket, s3["key"], local)
    pod.log.append(f"wait: saved {art['name']} -> {s3['key']}")
    return out


def _archive_key(pod: Pod) -> str:
    location = pod.template.get("archiveLocation") or {}
    if not (location.get("s3") or {}).get("key"):
        raise artifacts.ArtifactError(
            "You need to configure artifact storage. More information on how to do this can be "
            "found in the docs: https://argo-workflows.readthedocs.io/en/latest/"
            "configure-artifact-repository/"
        )
    return location["s3"]["key"]


def _stage(pod: Pod, art: dict[str, Any]) -> tuple[str, Path]:
    """stageArchiveFile: (the file name in the key, the local file or directory to upload)."""
    path, name = art["path"], art["name"]
    strategy = art.get("archive") or {"tar": {}}
    if "zip" in strategy:
        raise HarnessError(f"output artifact {name}: zip archives are not emulated")
    level = 6  # gzip.DefaultCompression
    if "tar" in strategy and (strategy["tar"] or {}).get("compressionLevel") is not None:
        level = int(strategy["tar"]["compressionLevel"])
    work = pod.path("wait", "outputs")
    work.mkdir(parents=True, exist_ok=True)
    shared = shared_path(pod, path)
    if shared is not None:  # a mirrored volume: wait reads it directly
        here, seen = shared
        if "none" in strategy:
            if not here.exists():
                raise artifacts.NotFound(f"{path} no such file or directory")
            return os.path.basename(path), here
        local = work / f"{name}.tgz"
        try:
            artifacts.tar_gz(here, local, max(level, 0))
        except artifacts.NotFound as exc:
            raise artifacts.NotFound(f"stat {seen}: no such file or directory") from exc
        return local.name, local
    # the base image layer: the emissary left <path>.tgz in /var/run/argo (CopyFile)
    rel = path.rstrip("/").lstrip("/")
    source = pod.var_run_argo / "outputs" / "artifacts" / f"{rel}.tgz"
    if not source.exists():
        raise artifacts.NotFound(
            f"open {VAR_RUN_ARGO}/outputs/artifacts/{rel}.tgz: no such file or directory"
        )
    local = work / f"{name}.tgz"
    shutil.copyfile(source, local)
    if "tar" in strategy:
        return local.name, local  # already a tgz (the emissary's compression level)
    unpacked = work / name
    artifacts.untar(local, unpacked)
    local.unlink()
    file_name = os.path.basename(path.rstrip("/"))
    if unpacked.is_dir():
        return file_name, unpacked
    single = work / file_name
    os.rename(unpacked, single)
    return file_name, single


def save_log(req: PodRequest, pod: Pod, main: Main) -> dict[str, Any]:
    """SaveLogs: the main container's combined output as ``<archive key>/main.log``."""
    local = pod.path("wait", "main.log")
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(main.log)
    art = {"name": "main-logs", "s3": {"key": posixpath.join(_archive_key(pod), "main.log")}}
    s3 = artifacts.relocate(art, pod.template.get("archiveLocation"))["s3"]
    artifacts.save_s3(artifacts.s3_client(s3, req.repository), s3["bucket"], s3["key"], local)
    return art
