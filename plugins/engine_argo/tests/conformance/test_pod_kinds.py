"""Every kind of template the Argo engine renders, run as an emulated pod.

The workflow is rendered by ``ArgoRenderer``; the step's arguments are bound to the template
as the controller binds them (ProcessArgs of the controller emulation); the packages a Python
OP imports are uploaded by the engine's own ``upload_packages``; then :func:`run_pod` runs the
pod (image Python from pyenv, artifacts from SeaweedFS) and the test reads the node outputs.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import types

import pytest
from dflow import (
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Workflow,
)
from dflow.python import PythonOPTemplate, Slices
from dflow.storage import S3Artifact

from conformance import wlm
from conformance.common import cache_dir
from conformance.execute import process_args
from conformance.images import python_image, register_image
from conformance.pod import PodRequest, run_pod
from conformance.templating import replace_object

WORKFLOW = "kinds-x1y2z"


@pytest.fixture(scope="module")
def repo(seaweedfs):
    """One bucket for the module: the packages are uploaded once, as for one user's runs."""
    from conformance.conftest import s3_of
    from conformance.pod import ArtifactRepository

    repo = ArtifactRepository.for_seaweedfs(seaweedfs, "conformance-kinds")
    s3_of(repo).create_bucket(Bucket=repo.bucket)
    return repo


@pytest.fixture(scope="module")
def store(repo):
    """dflow's storage is the minio plugin on that bucket (what the engine uploads to)."""
    from dflow.config import s3_config
    from dflow_storage_minio import MinioClient

    client = MinioClient(
        endpoint=repo.endpoint,
        access_key=repo.access_key,
        secret_key=repo.secret_key,
        secure=False,
        bucket_name=repo.bucket,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(s3_config, "storage_client", client)
        mp.setitem(s3_config, "prefix", "")
        yield client


def render(wf: Workflow, store) -> dict:
    from dflow_engine_argo.engine import ArgoEngine
    from dflow_engine_argo.render import ArgoRenderer

    renderer = ArgoRenderer(artifact_kind="s3")
    rendering = renderer.render(wf)
    # the engine's own upload (it only needs the storage client configured above)
    ArgoEngine.upload_packages(None, rendering.packages)
    return rendering.manifest


def bound(manifest: dict, step: str, item: str | None = None) -> dict:
    """The template of ``step`` with its arguments bound, as the controller hands it to a pod."""
    templates = {t["name"]: t for t in manifest["spec"]["templates"]}
    entry = next(
        s
        for t in manifest["spec"]["templates"]
        for group in t.get("steps") or []
        for s in group
        if s["name"] == step
    )
    local = {"item": item} if item is not None else {}
    entry = replace_object(entry, local)
    op = types.SimpleNamespace(globals={"workflow.name": WORKFLOW, "workflow.namespace": "argo"})
    return process_args(op, templates[entry["template"]], entry.get("arguments") or {}, local)


def run(repo, tmpl: dict, pod: str = "p"):
    return run_pod(PodRequest(tmpl, WORKFLOW, f"{WORKFLOW}-{pod}-1", f"{WORKFLOW}-1", repo))


def param(result, name: str) -> str:
    return next(p["value"] for p in result.outputs["parameters"] if p["name"] == name)


def read_tgz(s3, key: str) -> dict[str, str]:
    body = s3.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar if m.isfile()}


def artifact_key(result, name: str) -> str:
    return next(a for a in result.outputs["artifacts"] if a["name"] == name)["s3"]["key"]


@pytest.mark.parametrize("image", [f"python:3.{minor}" for minor in range(7, 14)])
def test_python_op(image, repo, s3, store):
    from conformance.kinds_ops import scale

    s3.put_object(Bucket=s3.bucket, Key="in/seven.txt", Body=b"7")
    wf = Workflow(name="kinds")
    wf.add(
        Step(
            "scale",
            PythonOPTemplate(scale, image=image),
            parameters={"x": 6},
            artifacts={"data": S3Artifact(key="in/seven.txt")},
        )
    )
    result = run(
        repo, bound(render(wf, store), "scale"), pod=image.replace(":", "").replace(".", "")
    )
    assert result.phase == "Succeeded", result.log
    assert param(result, "y") == "42"
    version = image.split(":")[1]
    files = read_tgz(s3, artifact_key(result, "report"))
    # the directory of the output: the file and dflow's catalog of it
    assert files["report/report.txt"] == f"7|6|{version}"
    assert sorted(files) == [
        "report/.dflow/" + n.split("/")[-1] for n in files if n.startswith("report/.dflow/")
    ] + ["report/report.txt"]


def test_sliced_python_op(repo, s3, store):
    from conformance.kinds_ops import shout

    wf = Workflow(name="kinds")
    wf.add(
        Step(
            "shout",
            PythonOPTemplate(
                shout,
                image="python:3.11",
                slices=Slices(input_parameter=["word"], output_parameter=["loud"]),
            ),
            parameters={"word": ["ab", "cd", "ef"]},
        )
    )
    manifest = render(wf, store)
    results = [run(repo, bound(manifest, "shout", item=str(i)), pod=f"s{i}") for i in range(3)]
    assert [r.phase for r in results] == ["Succeeded"] * 3, [r.log for r in results]
    # each slice's value as dflow stacks it later: a one-item list carrying its order
    assert [json.loads(param(r, "loud")) for r in results] == [
        [{"dflow_list_item": w, "order": i}] for i, w in enumerate(["AB", "CD", "EF"])
    ]


def shell_template(image: str = "alpine:3") -> ShellOPTemplate:
    t = ShellOPTemplate(
        name="hpc",
        image=image,
        script=(
            "mkdir -p /tmp/out\n"
            "printf '%s' '{{inputs.parameters.msg}}' > /tmp/out/msg.txt\n"
            "cat /tmp/inputs/artifacts/data > /tmp/out/copy.txt\n"
            "echo -n 7 > /tmp/count\n"
            "exit {{inputs.parameters.rc}}\n"
        ),
    )
    t.inputs.parameters = {"msg": InputParameter(), "rc": InputParameter(value="0")}
    t.inputs.artifacts = {"data": InputArtifact(path="/tmp/inputs/artifacts/data")}
    t.outputs.parameters = {"count": OutputParameter(value_from_path="/tmp/count")}
    t.outputs.artifacts = {"out": OutputArtifact(path="/tmp/out")}
    return t


@pytest.mark.parametrize("rc, phase", [("0", "Succeeded"), ("2", "Failed")])
def test_shell_script(rc, phase, repo, s3, store):
    s3.put_object(Bucket=s3.bucket, Key="in/data", Body=b"payload\n")
    wf = Workflow(name="kinds")
    wf.add(
        Step(
            "run",
            shell_template(),
            parameters={"msg": "a $(x) `y`", "rc": rc},
            artifacts={"data": S3Artifact(key="in/data")},
        )
    )
    result = run(repo, bound(render(wf, store), "run"), pod=f"shell{rc}")
    assert (result.phase, result.exit_code) == (phase, int(rc))
    assert param(result, "count") == "7"
    assert read_tgz(s3, artifact_key(result, "out")) == {
        "out/msg.txt": "a $(x) `y`",
        "out/copy.txt": "payload\n",
    }


@pytest.fixture(scope="module")
def dispatcher_image():
    """An image with DPDispatcher, as the dispatcher's default image has (pip, cached)."""
    name = "conformance.test/dpdispatcher:1.1"
    register_image(name, python_image(name, "3.11", requirements=("dpdispatcher==1.1.0",)))
    return name


def test_dispatcher_wrapper(dispatcher_image, repo, s3, store):
    from dflow_executor_dispatcher import DispatcherExecutor

    s3.put_object(Bucket=s3.bucket, Key="in/data", Body=b"payload\n")
    ex = DispatcherExecutor(
        machine_dict={
            "batch_type": "Shell",
            "context_type": "LocalContext",
            "remote_root": "/tmp/remote",
        },
        image=dispatcher_image,
    )
    ex.argo_check_interval = 0.2
    wf = Workflow(name="kinds")
    wf.add(
        Step(
            "run",
            shell_template(),
            parameters={"msg": "via dpdispatcher", "rc": "0"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=ex,
        )
    )
    result = run(repo, bound(render(wf, store), "run"), pod="dispatcher")
    assert result.phase == "Succeeded", result.log
    assert param(result, "count") == "7"
    assert read_tgz(s3, artifact_key(result, "out")) == {
        "out/msg.txt": "via dpdispatcher",
        "out/copy.txt": "payload\n",
    }
    assert (cache_dir() / "images").exists()


def test_slurm_job_template_prepare_and_collect_pods(repo, s3, store, tmp_path):
    """SlurmJobTemplate: a prepare pod lays the job out on the node's hostPath, wlm-operator
    stages it, runs the batch script and brings its results back (played here by
    conformance.wlm's prepare and results steps and sh), a collect pod reads them."""
    import subprocess

    import yaml
    from dflow_executor_slurm import SlurmJobTemplate

    s3.put_object(Bucket=s3.bucket, Key="in/data", Body=b"payload\n")
    ex = SlurmJobTemplate(
        header="#!/bin/sh\n#SBATCH -N 1", node_selector={"kubernetes.io/hostname": "slurm-cpu"}
    )
    wf = Workflow(name="kinds")
    wf.add(
        Step(
            "run",
            shell_template(),
            parameters={"msg": "m $(x)", "rc": "0"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=ex,
        )
    )
    manifest = render(wf, store)
    node = tmp_path / "node"  # the node's /tmp/dflow-slurm

    def on_node(tmpl: dict) -> dict:
        for vol in tmpl.get("volumes") or []:
            vol["hostPath"]["path"] = str(node)
        return tmpl

    # the steps template passes the step's arguments on to prepare: bound here directly
    prepare = on_node(
        process_args(
            types.SimpleNamespace(globals={"workflow.name": WORKFLOW}),
            {t["name"]: t for t in manifest["spec"]["templates"]}["hpc-slurm-prepare"],
            {
                "parameters": [{"name": "msg", "value": "m $(x)"}],
                "artifacts": [{"name": "data", "s3": {"key": "in/data"}}],
            },
            {},
        )
    )
    first = run(repo, prepare, pod="prepare")
    assert first.phase == "Succeeded", first.log
    key = param(first, "dflow_slurm_key")
    assert key == f"{WORKFLOW}/{WORKFLOW}-prepare-1"
    templates = {t["name"]: t for t in manifest["spec"]["templates"]}
    job = yaml.safe_load(templates["hpc-slurm-run-resource"]["resource"]["manifest"])
    # wlm-operator's part (the whole chain through the emulated controller:
    # test_pod_resources.py): in/ staged under the job's folder, its results back to out/
    spec = yaml.safe_load(
        yaml.safe_dump(job["spec"]).replace("{{inputs.parameters.dflow_slurm_key}}", key)
    )
    redbox = tmp_path / "redbox"
    redbox.mkdir()
    wlm.stage(spec, redbox, node / key / "in")
    done = subprocess.run(["sh", "-c", spec["batch"]], cwd=redbox, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (node / key / "out").mkdir()
    wlm.collect(spec, redbox, node / key / "out")
    collect = on_node(
        process_args(
            types.SimpleNamespace(globals={"workflow.name": WORKFLOW}),
            templates["hpc-slurm-collect"],
            {"parameters": [{"name": "dflow_slurm_key", "value": key}]},
            {},
        )
    )
    last = run(repo, collect, pod="collect")
    assert last.phase == "Succeeded", last.log
    assert param(last, "count") == "7"
    assert read_tgz(s3, artifact_key(last, "out")) == {
        "out/msg.txt": "m $(x)",
        "out/copy.txt": "payload\n",
    }


def test_dispatcher_wrapper_of_a_python_op(dispatcher_image, repo, s3, store):
    from dflow_executor_dispatcher import DispatcherExecutor

    from conformance.kinds_ops import scale

    s3.put_object(Bucket=s3.bucket, Key="in/seven.txt", Body=b"7")
    ex = DispatcherExecutor(
        machine_dict={
            "batch_type": "Shell",
            "context_type": "LocalContext",
            "remote_root": "/tmp/remote",
        },
        image=dispatcher_image,
    )
    ex.argo_check_interval = 0.2
    wf = Workflow(name="kinds")
    wf.add(
        Step(
            "scale",
            PythonOPTemplate(scale),
            parameters={"x": 6},
            artifacts={"data": S3Artifact(key="in/seven.txt")},
            executor=ex,
        )
    )
    result = run(repo, bound(render(wf, store), "scale"), pod="dispatcher-op")
    assert result.phase == "Succeeded", result.log
    assert param(result, "y") == "42"
    assert read_tgz(s3, artifact_key(result, "report"))["report/report.txt"] == "7|6|3.11"


PYDFLOW_IMAGE = "dptechnology/dflow:pydflow-1.8.134"


@pytest.fixture(scope="module")
def pydflow_image():
    """An image with pydflow 1.8.134 (dptechnology/dflow's content), pip-installed once."""
    image = python_image(PYDFLOW_IMAGE, "3.11", requirements=("pydflow==1.8.134",))
    register_image(PYDFLOW_IMAGE, image)
    return image


def test_a_pod_rendered_by_pydflow_runs_in_a_pydflow_image(pydflow_image, repo, s3):
    """An oracle we did not write: pydflow renders a Python OP step (and uploads its package
    as a tarball of several roots); the emulated pod runs pydflow's own script."""
    import subprocess
    from pathlib import Path

    from conformance.images import prefix

    s3.put_object(Bucket=s3.bucket, Key="in/seven.txt", Body=b"7")
    ops = Path(__file__).with_name("pydflow_ops.py")
    python = prefix(pydflow_image) / "bin" / "python"
    proc = subprocess.run(
        [str(python), str(ops), repo.endpoint, repo.bucket, PYDFLOW_IMAGE],
        capture_output=True,
        text=True,
        cwd=ops.parent,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads(proc.stdout)
    result = run(repo, bound(manifest, "scale"), pod="pydflow")
    assert result.phase == "Succeeded", result.log
    assert param(result, "y") == "42"
    files = read_tgz(s3, artifact_key(result, "report"))
    assert files["report/report.txt"] == "7|6|3.11"


@pytest.mark.slurm
def test_slurm_remote_executor_pod_submits_over_ssh(
    dispatcher_image, repo, s3, store, local_slurm, slurm_sshd, tmp_path
):
    """SlurmRemoteExecutor: the DPDispatcher pod reads its key from a Secret volume, connects
    to a real sshd and submits to a real Slurm with sbatch, then brings the outputs back."""
    from pathlib import Path

    from dflow_executor_slurm import SlurmRemoteExecutor

    s3.put_object(Bucket=s3.bucket, Key="in/data", Body=b"payload\n")
    remote = tmp_path / "remote"
    ex = SlurmRemoteExecutor(
        host=slurm_sshd.host,
        port=slurm_sshd.port,
        username=slurm_sshd.user,
        private_key_secret="hpc-key",
        workdir=f"{remote}/{{{{workflow.name}}}}/{{{{pod.name}}}}",
        header="#!/bin/sh\n#SBATCH -N 1",
        interval=1,
    )
    ex.image = dispatcher_image
    wf = Workflow(name="kinds")
    wf.add(
        Step(
            "run",
            shell_template(),
            parameters={"msg": "through Slurm", "rc": "0"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=ex,
        )
    )
    tmpl = bound(render(wf, store), "run")
    assert tmpl["script"]["image"] == dispatcher_image
    key = Path(slurm_sshd.key_file).read_text()
    result = run_pod(
        PodRequest(
            tmpl,
            WORKFLOW,
            f"{WORKFLOW}-slurm-1",
            f"{WORKFLOW}-1",
            repo,
            secrets={"hpc-key": {"id_rsa": key}},
        )
    )
    assert result.phase == "Succeeded", result.log
    assert param(result, "count") == "7"
    assert read_tgz(s3, artifact_key(result, "out")) == {
        "out/msg.txt": "through Slurm",
        "out/copy.txt": "payload\n",
    }
    # the job really ran on Slurm, in the remote work directory on the "login node"
    job_id = re.search(r"job_id is (\d+)", result.log).group(1)
    record = local_slurm.job_record(job_id, "COMPLETED")
    assert "JobState=COMPLETED" in record and f"WorkDir={remote / WORKFLOW}/" in record
