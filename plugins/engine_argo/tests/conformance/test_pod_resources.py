"""Resource templates on the emulated cluster: Argo's ``argoexec resource create`` pod
(:mod:`conformance.resources`) and wlm-operator's SlurmJob (:mod:`conformance.wlm`).

dflow's Slurm executors are submitted as a user submits them (``Workflow.submit`` -> the
stand-in Argo Server -> the emulated controller); a SlurmJob's batch runs on this machine,
the Slurm node, in red-box's working directory (``Cluster.slurm_home()``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dflow import (
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Workflow,
    download_artifact,
    upload_artifact,
)

from conformance.common import HarnessError
from conformance.pod import PodRequest, run_pod
from conformance.resources import match_conditions, parse_selector

HEADER = "#!/bin/sh\n#SBATCH -N 1"
NODE = {"kubernetes.io/hostname": "slurm-cpu"}
FAILED = "main: Error (exit code 64): failure condition 'status.status==Failed' evaluated true"


class Dflow:
    """dflow's client on the stand-in Argo Server (set up as tests/test_conformance.py's
    ``run`` fixture does); cleans the node's /tmp/dflow-slurm folders of its workflows."""

    def __init__(self, emulator, workdir: Path) -> None:
        self.emulator, self.workdir, self.submitted = emulator, workdir, []

    def submit(self, wf: Workflow) -> str:
        wf.submit()
        self.submitted.append(wf)
        wf.wait(interval=0.05)
        return wf.query_status()

    def steps(self, wf: Workflow) -> dict:
        return {s.displayName: s for s in wf.query_step()}

    def log(self, wf: Workflow, step) -> str:
        return self.emulator.operator("argo", wf.id).logs.get(step.id) or ""

    def explain(self, wf: Workflow) -> str:
        """The pods that did not succeed: message and log."""
        return "\n".join(
            f"{s.displayName} {s.phase}: {s.get('message')}\n{self.log(wf, s)}"
            for s in wf.query_step()
            if s.type == "Pod" and s.phase != "Succeeded"
        )

    def text(self, artifact) -> dict[str, str]:
        dest = self.workdir / "download"
        download_artifact(artifact, path=str(dest))
        return {str(p.relative_to(dest)): p.read_text() for p in dest.rglob("*") if p.is_file()}


@pytest.fixture
def user(emulated_server, emulated_kube, seaweedfs, argo_repository, monkeypatch, tmp_path):
    """dflow configured for the emulated cluster, in a fresh working directory."""
    from argo_server import TOKEN
    from dflow import config, s3_config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(config, "mode", "default")
    monkeypatch.setitem(config, "host", emulated_server.url)
    monkeypatch.setitem(config, "token", TOKEN)
    monkeypatch.setitem(config, "k8s_api_server", emulated_kube.url)
    # the image of the Slurm steps' prepare and collect pods: Python OPs' prepare needs python3
    monkeypatch.setitem(config, "util_image", "python:3.11")
    for key, value in {
        "endpoint": seaweedfs.endpoint,
        "access_key": seaweedfs.access_key,
        "secret_key": seaweedfs.secret_key,
        "secure": False,
        "bucket_name": argo_repository.bucket,
        "prefix": "",
    }.items():
        monkeypatch.setitem(s3_config, key, value)
    client = Dflow(emulated_server.emulator, tmp_path)
    yield client
    for wf in client.submitted:  # the hostPath the steps share is this machine's
        shutil.rmtree(f"/tmp/dflow-slurm/{wf.id}", ignore_errors=True)


def shell_template() -> ShellOPTemplate:
    t = ShellOPTemplate(
        name="hpc",
        image="alpine:3",
        script=(
            "mkdir -p /tmp/out\n"
            "printf '%s' '{{inputs.parameters.msg}}' > /tmp/out/msg.txt\n"
            "cat /tmp/inputs/artifacts/data/* > /tmp/out/copy.txt\n"
            "echo -n 7 > /tmp/count\n"
        ),
    )
    t.inputs.parameters = {"msg": InputParameter()}
    t.inputs.artifacts = {"data": InputArtifact(path="/tmp/inputs/artifacts/data")}
    t.outputs.parameters = {"count": OutputParameter(value_from_path="/tmp/count")}
    t.outputs.artifacts = {"out": OutputArtifact(path="/tmp/out")}
    return t


def shell_workflow(name: str, msg: str, executor) -> Workflow:
    """One step of :func:`shell_template` on ``data.txt`` (written here), run by ``executor``."""
    Path("data.txt").write_text("payload\n")
    wf = Workflow(name=name)
    data = upload_artifact("data.txt")
    wf.add(
        Step(
            "run",
            shell_template(),
            parameters={"msg": msg},
            artifacts={"data": data},
            executor=executor,
        )
    )
    return wf


# -- dflow's Slurm executors, end to end ------------------------------------------------------


def test_slurm_job_template_runs_a_shell_step(user):
    from dflow_executor_slurm import SlurmJobTemplate

    wf = shell_workflow(
        "slurm-shell", "m $(x)", SlurmJobTemplate(header=HEADER, node_selector=NODE)
    )
    assert user.submit(wf) == "Succeeded", user.explain(wf)
    run = wf.query_step(name="run")[0]
    assert run.outputs.parameters["count"].value == "7"
    assert user.text(run.outputs.artifacts["out"]) == {"msg.txt": "m $(x)", "copy.txt": "payload\n"}


def test_slurm_job_template_runs_a_python_op(user):
    """The prepare pod writes the OP's runner, packages and values to the node; the job runs
    them with the Slurm node's python3 (this machine's, with dflow)."""
    from dflow.python import PythonOPTemplate
    from dflow_executor_slurm import SlurmJobTemplate

    from conformance.kinds_ops import scale

    Path("seven.txt").write_text("7")
    wf = Workflow(name="slurm-python")
    wf.add(
        Step(
            "scale",
            PythonOPTemplate(scale, image="python:3.11"),
            parameters={"x": 6},
            artifacts={"data": upload_artifact("seven.txt")},
            executor=SlurmJobTemplate(header=HEADER, node_selector=NODE),
        )
    )
    assert user.submit(wf) == "Succeeded", user.explain(wf)
    step = wf.query_step(name="scale")[0]
    assert step.outputs.parameters["y"].value == 42
    report = user.text(step.outputs.artifacts["report"])
    assert report["report.txt"] == "7|6|3.11"


def test_slurm_job_template_runs_each_slice_of_a_sliced_step(user):
    """pydflow's example test_wlm.py: a keyed sliced step run by SlurmJobTemplate, one
    SlurmJob per slice. Each slice gives what the same step's own pod gives without the
    executor (its key, its stacked value), and the next step reads the stacked files in
    order."""
    from dflow import argo_range
    from dflow.python import PythonOPTemplate, Slices
    from dflow_executor_slurm import SlurmJobTemplate

    from conformance.kinds_ops import gathered, named

    names = ["f1.txt", "f22.txt", "f333.txt"]
    seen = {}
    for executor in (SlurmJobTemplate(header=HEADER, node_selector=NODE), None):
        sliced = Slices(
            "{{item}}",
            input_parameter=["name"],
            output_artifact=["file"],
            output_parameter=["size"],
        )
        make = Step(
            "make",
            PythonOPTemplate(named, image="python:3.11", slices=sliced),
            parameters={"name": names},
            with_param=argo_range(len(names)),
            key="make-{{item}}",
            executor=executor,
        )
        wf = Workflow(name="slurm-slices")
        wf.add(make)
        op = PythonOPTemplate(gathered, image="python:3.11")
        wf.add(Step("gather", op, artifacts={"files": make.outputs.artifacts["file"]}))
        assert user.submit(wf) == "Succeeded", user.explain(wf)
        keyed = wf.query_step(key=[f"make-{i}" for i in range(len(names))])
        seen[executor is None] = (
            wf.query_step(name="gather")[0].outputs.parameters["texts"].value,
            {s.key: s.outputs.parameters["size"].value for s in keyed},
        )
        if executor is not None:
            jobs = [s for s in wf.query_step() if s.displayName == "slurm-run"]
            assert len(jobs) == 3 and all(s.phase == "Succeeded" for s in jobs)
    assert seen[False] == seen[True]
    assert seen[False][0] == "f1.txt=f1.txt,f22.txt=f22.txt,f333.txt=f333.txt"
    assert sorted(seen[False][1]) == ["make-0", "make-1", "make-2"]


def test_a_failed_batch_fails_the_run_step_with_argos_message(user):
    """A batch that exits 3 (its header's module load fails): the SlurmJob is Failed, the
    run step Failed with Argo's failure-condition message and the job's output as its log;
    collect never runs."""
    from dflow_executor_slurm import SlurmJobTemplate

    header = HEADER + "\necho 'module: no such module: gcc/99'; exit 3"
    wf = shell_workflow("slurm-fail", "m", SlurmJobTemplate(header=header, node_selector=NODE))
    assert user.submit(wf) == "Failed"
    steps = user.steps(wf)
    assert steps["slurm-prepare"].phase == "Succeeded"
    run = steps["slurm-run"]
    assert (run.type, run.phase, run.get("message")) == ("Pod", "Failed", FAILED)
    assert user.log(wf, run) == "module: no such module: gcc/99\n"
    assert "slurm-collect" not in steps
    jobs = [
        o for (_, kind, _), o in user.emulator.cluster.kube_objects.items() if kind == "slurmjobs"
    ]
    assert [j["status"] for j in jobs] == [{"status": "Failed"}]


@pytest.mark.parametrize(("rc", "phase"), [("0", "Succeeded"), ("3", "Failed")])
def test_a_slurm_job_resource_step_runs_its_script_as_the_batch(rc, phase, user):
    """``Step(use_resource=SlurmJob(...))``: the step is the resource, its script the batch."""
    from dflow_executor_slurm import SlurmJob

    t = ShellOPTemplate(
        name="hpc",
        image="alpine:3",
        script="echo {{inputs.parameters.msg}}\nexit {{inputs.parameters.rc}}\n",
    )
    t.inputs.parameters = {"msg": InputParameter(), "rc": InputParameter()}
    wf = Workflow(name="slurm-res")
    job = SlurmJob(header=HEADER, node_selector=NODE)
    wf.add(Step("run", t, parameters={"msg": "hello", "rc": rc}, use_resource=job))
    assert user.submit(wf) == phase
    run = wf.query_step(name="run")[0]
    assert run.get("message") == (FAILED if rc == "3" else None)
    assert user.log(wf, run) == "hello\n"


# -- the emulation itself ---------------------------------------------------------------------


# the fork's own example (examples/prepare-and-results.yaml) between a pod that stages the
# input and one that reads the result; {inputs}/{outputs}: directories of this machine
FORK_EXAMPLE = """
metadata: {{generateName: wlm-}}
spec:
  entrypoint: main
  volumes:
  - {{name: inputs, hostPath: {{path: "{inputs}", type: DirectoryOrCreate}}}}
  - {{name: outputs, hostPath: {{path: "{outputs}", type: DirectoryOrCreate}}}}
  templates:
  - name: main
    steps:
    - - {{name: stage, template: stage}}
    - - name: job
        template: job
        arguments: {{parameters: [{{name: word, value: slurm}}]}}
    - - {{name: read, template: read}}
  - name: stage
    container:
      image: alpine:3
      command: [sh, -c, "echo foo > /in/foo.txt"]
      volumeMounts: [{{name: inputs, mountPath: /in}}]
  - name: job
    inputs: {{parameters: [{{name: word}}]}}
    resource:
      action: create
      successCondition: status.status == Succeeded
      failureCondition: status.status in (Failed, Unknown)
      manifest: |
        apiVersion: wlm.sylabs.io/v1alpha1
        kind: SlurmJob
        metadata: {{generateName: prepare-and-results-}}
        spec:
          batch: |
            #!/bin/sh
            #SBATCH --nodes=1
            echo Hello
            mkdir bar
            cp inputs/foo.txt bar/output.txt
            echo {{{{inputs.parameters.word}}}} >> bar/output.txt
          nodeSelector: {{kubernetes.io/hostname: slurm-minikube-cpu}}
          prepare:
            to: .
            mount: {{name: inputs, hostPath: {{path: "{inputs}", type: DirectoryOrCreate}}}}
          results:
            from: bar
            mount: {{name: outputs, hostPath: {{path: "{outputs}", type: DirectoryOrCreate}}}}
    outputs:
      parameters:
      - {{name: job, valueFrom: {{jsonPath: "{{.metadata.name}}"}}}}
      - {{name: status, valueFrom: {{jsonPath: "{{.status.status}}"}}}}
  - name: read
    container:
      image: alpine:3
      command: [sh, -c, "cat /out/bar/output.txt"]
      volumeMounts: [{{name: outputs, mountPath: /out}}]
"""


def test_a_slurm_job_stages_and_collects_as_the_fork_does(emulated_argo, tmp_path):
    """The prepare mount's files reach the job under `inputs/` (its volume's name), `bar`
    comes back into the results mount as `bar/`; the resource node is a Pod node whose log
    is the job's output and whose outputs are read from the object."""
    inputs, outputs = tmp_path / "inputs", tmp_path / "outputs"
    wf = emulated_argo.run(yaml.safe_load(FORK_EXAMPLE.format(inputs=inputs, outputs=outputs)))
    assert wf["status"]["phase"] == "Succeeded", wf["status"]
    nodes = {n["displayName"]: n for n in wf["status"]["nodes"].values()}
    node = nodes["job"]
    assert node["type"] == "Pod"
    values = {p["name"]: p["value"] for p in node["outputs"]["parameters"]}
    assert values["status"] == "Succeeded" and values["job"].startswith("prepare-and-results-")
    assert node["outputs"]["exitCode"] == "0"
    op = emulated_argo.operator("argo", wf["metadata"]["name"])
    assert op.logs[node["id"]] == "Hello\n"
    assert op.logs[nodes["read"]["id"]] == "foo\nslurm\n"
    stored = emulated_argo.cluster.kube_objects[("argo", "slurmjobs", values["job"])]
    assert stored["status"] == {"status": "Succeeded"}
    assert sorted(p.name for p in outputs.iterdir()) == ["bar", "bar.zip"]
    home = emulated_argo.cluster.slurm_home()  # red-box's directory: the zips stay there
    assert sorted(p.name for p in home.iterdir() if not p.name.startswith("slurm-")) == [
        "bar",
        "bar.zip",
        "inputs",
        "inputs.zip",
    ]


def test_conditions_are_label_selectors_over_the_object():
    reqs = parse_selector("status.phase in (b, a),status.n>2, !status.gone,status.x != y", "s")
    assert [str(r) for r in reqs] == [
        "!status.gone",
        "status.n>2",
        "status.phase in (a,b)",
        "status.x!=y",
    ]
    obj = {"status": {"phase": "a", "n": 3, "x": "z"}}
    assert match_conditions(obj, reqs, []) == (True, None)
    assert match_conditions({"status": {"phase": "a", "n": 2}}, reqs, []) == (False, None)
    fail = parse_selector("status.phase = a", "f")
    assert match_conditions(obj, reqs, fail) == (
        True,
        "failure condition 'status.phase=a' evaluated true",
    )
    # only a failure condition: done at the first read, unless it holds (matchConditions)
    assert match_conditions({}, [], parse_selector("status.s==Failed", "f")) == (True, None)
    with pytest.raises(HarnessError, match="cannot parse"):
        parse_selector("status.s === x", "success")


def _pod(manifest: dict, repo, **resource) -> PodRequest:
    tmpl = {
        "name": "res",
        "resource": {"action": "create", "manifest": yaml.safe_dump(manifest), **resource},
    }
    return PodRequest(tmpl, "wf", "wf-res-1", "wf-1", repo, kube_objects={})


def test_resources_the_emulation_does_not_know_are_harness_errors(repo):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    with pytest.raises(HarnessError, match="apiVersion 'v1' kind 'ConfigMap' are not emulated"):
        run_pod(_pod(cm, repo))
    job = {
        "apiVersion": "wlm.sylabs.io/v1alpha1",
        "kind": "SlurmJob",
        "metadata": {"name": "j"},
        "spec": {"batch": "", "bach": "x"},
    }
    with pytest.raises(
        HarnessError,
        match=r"(?s)spec: Additional properties.*'bach'.*"
        r"spec.batch: '' should be non-empty",
    ):
        run_pod(_pod(job, repo))
    job["spec"] = {"batch": "#!/bin/sh\nexit 0\n"}
    with pytest.raises(HarnessError, match="resource action 'apply': only create"):
        run_pod(_pod(job, repo, action="apply"))
    with pytest.raises(HarnessError, match="matches neither condition"):
        run_pod(_pod(job, repo, successCondition="status.status == Done"))
    # the operator's parse.go takes --mem as a plain integer: it never makes the job pod
    job["spec"] = {"batch": "#!/bin/sh\n#SBATCH --mem=4G\nexit 0\n"}
    with pytest.raises(HarnessError, match="cannot parse '#SBATCH --mem 4G'"):
        run_pod(_pod(job, repo, successCondition="status.status == Succeeded"))
