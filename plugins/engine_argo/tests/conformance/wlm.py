"""wlm-operator on the emulated cluster: a ``SlurmJob`` runs as a Slurm batch job here.

The operator is DeepModeling's fork, the one dflow's manifests deploy (its CRD, with
``spec.prepare``, is reference data in ``<repo>/../shared/wlm-operator/dflow-fork``). Its
source, read at the last commits of dptech-corp/wlm-operator (operator, red-box, results
tool) and dptech-corp/virtual-kubelet (providers/wlm/pod.go), says what a SlurmJob does; this
machine plays the Slurm login node (red-box) and the compute node:

1. The API server validates the object against the CRD's openAPIV3Schema, strictly as
   ``kubectl create`` asks it to (unknown fields are errors): :func:`validate`.
2. The operator (controller/slurmjob) makes a job pod on the virtual node; ``status.status``
   is that pod's phase: Pending, Running, then Succeeded or Failed. #SBATCH resources it
   cannot parse (parse.go) leave the job unscheduled: a HarnessError, as Argo would wait.
3. ``prepare`` (virtual kubelet's prepare pod, ``results --upload``): the ``mount`` volume,
   mounted at ``/mnt/<mount name>``, is zipped with that directory as its top entry, uploaded
   to ``<to>/<name>.zip`` and unzipped at ``to``: its files land in ``<to>/<mount name>/``.
4. sbatch (pkg/slurm/slurm.go): the batch runs in red-box's working directory
   (``PodRequest.slurm_dir``, shared by every job, as sbatch runs where it is called), by its
   ``#!`` interpreter, output in ``slurm-<id>.out`` (the job pod's log). The environment is
   this machine's (sbatch exports red-box's) with its ``python3`` first on PATH. Exit 0 is
   COMPLETED; anything else FAILED: status Failed, no results collected.
5. ``results`` (collect pod, ``results --from=<from> --to=/collect``): ``from`` is zipped
   with its base name as top entry, downloaded into the mount and unzipped there: it lands
   at ``<mount>/<basename of from>`` beside that zip. Then the status is Succeeded.

Only hostPath mounts are emulated (the cluster is one node: the path is this machine's);
every nodeSelector is taken to name the one virtual node.
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jsonschema import Draft202012Validator

from conformance.common import REPO, HarnessError

if TYPE_CHECKING:
    from conformance.pod import PodRequest
    from conformance.resources import Watched

API_VERSION = "wlm.sylabs.io/v1alpha1"
CRD = REPO.parent / "shared" / "wlm-operator" / "dflow-fork" / "wlm_v1alpha1_slurmjob.yaml"
_JOB_IDS = itertools.count(1)


@functools.cache
def _validator() -> Draft202012Validator:
    if not CRD.exists():
        raise FileNotFoundError(
            f"wlm-operator reference data {CRD} is missing: the SlurmJob emulation needs the "
            "shared/wlm-operator folder next to the repository"
        )
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    _strict(schema)
    return Draft202012Validator(schema)


def _strict(schema: dict[str, Any]) -> None:
    """Unknown fields refused where the schema lists the fields and does not preserve others
    (what kubectl's strict field validation makes of a structural schema)."""
    props = schema.get("properties")
    if props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema.setdefault("additionalProperties", False)
    for sub in (props or {}).values():
        _strict(sub)


def validate(obj: dict[str, Any]) -> list[str]:
    """The CRD schema's complaints about ``obj``, one line each (path: message)."""
    errors = sorted(_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<object>'}: {e.message}" for e in errors]


def operate(job: Watched, req: PodRequest) -> None:
    """The operator, virtual kubelet and red-box for one SlurmJob, to its final status."""
    spec = job.obj["spec"]
    name = job.obj["metadata"]["name"]
    _check_directives(spec["batch"], name)
    job.set_status({"status": "Pending"})
    workdir = req.slurm_dir or Path(tempfile.mkdtemp(prefix=f"conformance-slurm-{name}-"))
    try:
        job.set_status({"status": "Running"})
        if spec.get("prepare"):
            stage(spec, workdir, _host_dir(spec["prepare"]["mount"], name, "prepare"), name)
        code, job.log = _sbatch(spec["batch"], workdir)
        if code != 0:
            job.set_status({"status": "Failed"}, settled=True)
            return
        if spec.get("results"):
            collect(spec, workdir, _host_dir(spec["results"]["mount"], name, "results"), name)
        job.set_status({"status": "Succeeded"}, settled=True)
    finally:
        if req.slurm_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def stage(spec: dict[str, Any], workdir: Path, host: Path, name: str = "job") -> None:
    """``prepare``: the mount's directory ``host`` zipped under the mount's name and
    unzipped at ``to`` in red-box's directory ``workdir`` (its files: <to>/<mount name>/)."""
    prep = spec["prepare"]
    into = _inside(workdir, prep["to"], name, "prepare.to")
    archive = into / f"{prep['mount']['name']}.zip"
    _zip(host, archive, top=prep["mount"]["name"])
    _unzip(archive, into)


def collect(spec: dict[str, Any], workdir: Path, host: Path, name: str = "job") -> None:
    """``results``: ``from`` zipped under its base name, unzipped in the mount's directory
    ``host`` (it lands at <host>/<basename of from>, beside that zip)."""
    res = spec["results"]
    source = _inside(workdir, res["from"], name, "results.from")
    if not source.exists():
        raise HarnessError(
            f"SlurmJob {name}: results.from {res['from']!r} is not in the job's "
            "directory: the collect pod fails (can't zip remote file) and the "
            "SlurmJob stays Running (virtual kubelet waits for a collect pod that "
            "succeeds): Argo's pod would wait forever"
        )
    archive = source.with_name(source.name + ".zip")
    _zip(source, archive, top=source.name)
    shutil.copyfile(archive, host / archive.name)
    _unzip(host / archive.name, host)


def _check_directives(batch: str, name: str) -> None:
    """The leading #SBATCH block as extractBatchResources reads it (controller/slurmjob/
    parse.go): the values the operator parses must parse, else it never makes the job pod."""
    if not batch.startswith("#!"):
        raise HarnessError(
            f'SlurmJob {name}: sbatch refuses a batch without #! ("This does not look like a '
            "batch script\"): the job never starts and Argo's pod would wait forever"
        )
    out = []
    for line in batch.splitlines()[1:]:
        if not line:
            continue
        if not line.startswith("#SBATCH"):
            break
        words = line[len("#SBATCH") :].split()
        i = 0
        while i < len(words):
            param, sep, value = words[i].partition("=")
            if not sep:  # "--param value": parse.go takes the next word, whatever it is
                if i + 1 == len(words):
                    raise HarnessError(
                        f"SlurmJob {name}: '{line}': the operator's parse.go reads a value "
                        f"past the end of the line for {param} (index out of range)"
                    )
                value, i = words[i + 1], i + 1
            out.append((param, value))
            i += 1
    for param, value in out:
        if param in ("-N", "--nodes"):
            value = value.split("-")[0]  # the minimum of a range
        if param in ("-N", "--nodes", "--mem", "-c", "--cpus-per-task", "--ntasks-per-node"):
            if not re.fullmatch(r"[-+]?\d+", value):
                raise HarnessError(
                    f"SlurmJob {name}: the operator cannot parse '#SBATCH {param} {value}' "
                    "(an integer, no suffix): it never makes the job pod, the SlurmJob has no "
                    "status and Argo's pod would wait forever"
                )
        if param in ("-D", "--chdir", "-o", "--output", "-e", "--error"):
            raise HarnessError(f"SlurmJob {name}: #SBATCH {param} is not emulated")


def _sbatch(batch: str, workdir: Path) -> tuple[int, str]:
    """The job: the script by its #! interpreter in ``workdir``; (exit status, output)."""
    job_id = next(_JOB_IDS)
    interpreter = batch.splitlines()[0][2:].split()
    if not interpreter or not Path(interpreter[0]).is_file():
        raise HarnessError(f"batch interpreter {batch.splitlines()[0]!r} is not on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    # the Slurm node's python3: here, the interpreter of the tests, with the client's packages
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(SLURM_JOB_ID=str(job_id), SLURM_SUBMIT_DIR=str(workdir))
    output = workdir / f"slurm-{job_id}.out"
    with tempfile.TemporaryDirectory(prefix="conformance-slurmd-") as spool:
        script = Path(spool) / "slurm_script"  # slurmd's copy of the script, not in workdir
        script.write_text(batch)
        with open(output, "wb") as out:
            code = subprocess.run(
                [*interpreter, str(script)],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            ).returncode
    return code, output.read_bytes().decode("utf-8", "replace")


def _host_dir(volume: dict[str, Any], name: str, what: str) -> Path:
    """The directory of a hostPath volume on this machine (the one node)."""
    host = volume.get("hostPath")
    if not isinstance(host, dict) or not host.get("path"):
        kinds = sorted(set(volume) - {"name"})
        raise HarnessError(f"SlurmJob {name}: {what}.mount {kinds}: only hostPath is emulated")
    path = Path(host["path"])
    if host.get("type") in (None, "", "DirectoryOrCreate"):
        path.mkdir(parents=True, exist_ok=True)
    elif not path.is_dir():
        # the prepare/collect pod cannot start (ContainerCreating): the job waits for it
        raise HarnessError(f"SlurmJob {name}: {what}.mount hostPath {path} is not a directory")
    return path


def _inside(workdir: Path, relative: str, name: str, what: str) -> Path:
    path = (workdir / relative).resolve()
    if path != workdir.resolve() and workdir.resolve() not in path.parents:
        # the login node's own file system is not emulated, only red-box's directory
        raise HarnessError(f"SlurmJob {name}: {what} {relative!r} leaves red-box's directory")
    return path


def _zip(source: Path, target: Path, top: str) -> None:
    """zipFile (cmd/results/main.go, pkg/slurm/slurm.go): ``source`` and everything under it,
    named from ``top`` (its base name where it is mounted)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        if source.is_file():
            z.write(source, top)
            return
        for root, dirs, files in os.walk(source):
            rel = Path(top) / Path(root).relative_to(source)
            z.write(root, f"{rel.as_posix()}/")
            for f in sorted(files):
                z.write(Path(root) / f, (rel / f).as_posix())
            dirs.sort()


def _unzip(archive: Path, into: Path) -> None:
    """unzip (same files): every entry under ``into``, file modes kept."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            path = Path(z.extract(info, into))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)
