"""HPC executors rendered for Argo: dispatcher pods, Slurm over SSH, wlm-operator SlurmJobs.

Every manifest passes Argo's strict schemas (v3.7 and v4.1) and the linter. Generated scripts
are executed: the dispatcher pod script runs here with the local DPDispatcher (Shell batch
system, LocalContext) in a sandbox laid out as the pod sees it (``DFLOW_TMP_ROOT`` stands for
the pod's ``/tmp``), with Argo's ``{{...}}`` substitution applied first.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
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
)
from dflow.storage import S3Artifact

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests"))
from argo_schema import assert_valid  # noqa: E402
from dflow_engine_argo.lint import check  # noqa: E402
from dflow_engine_argo.render import ArgoRenderer  # noqa: E402
from dflow_executor_dispatcher import DispatcherExecutor  # noqa: E402

_VAR = re.compile(r"{{\s*([-a-zA-Z0-9_.]+)\s*}}")
SHELL_LOCAL = {"batch_type": "Shell", "context_type": "LocalContext"}
# no single quote: the step's own shell script quotes the value with '...'
NASTY = 'a $(touch pwned) `x` \\ "d" {{not.a.var}} %s\nDFLOW_DISPATCHER_PY\nexit 3\n'


def argo_reads(path: Path) -> str:
    """An output parameter as Argo's wait container reads it: one trailing newline trimmed."""
    text = path.read_text()
    return text[:-1] if text.endswith("\n") else text


def render(wf: Workflow) -> dict:
    manifest = ArgoRenderer(artifact_kind="s3").manifest(wf)
    assert_valid(manifest)
    check(manifest)
    return manifest


def template(manifest: dict, name: str) -> dict:
    for t in manifest["spec"]["templates"]:
        if t["name"] == name:
            return t
    raise KeyError(name)


def substitute(text: str, values: dict[str, str]) -> str:
    return _VAR.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), text)


def play_slurm_job(
    cr: dict,
    key: str,
    node: Path,
    redbox: Path,
    argv: Callable[[str], list[str]] | None = None,
    **kw,
) -> subprocess.CompletedProcess:
    """wlm-operator (DeepModeling's fork) on one SlurmJob of a SlurmJobTemplate step, by hand
    (the emulated controller runs it whole: conformance/wlm.py): the node's ``in`` folder
    staged under ``to``, the batch run in red-box's directory ``redbox`` (by ``argv(batch)``,
    ``sh -c`` by default), then ``from`` back into the node's ``out`` folder."""
    from conformance import wlm

    spec = json.loads(
        substitute(json.dumps(cr["spec"]), {"inputs.parameters.dflow_slurm_key": key})
    )
    redbox.mkdir(parents=True, exist_ok=True)
    wlm.stage(spec, redbox, node / key / "in")
    cmd = argv(spec["batch"]) if argv is not None else ["sh", "-c", spec["batch"]]
    proc = subprocess.run(cmd, cwd=redbox, capture_output=True, text=True, **kw)
    if proc.returncode == 0:
        (node / key / "out").mkdir(parents=True, exist_ok=True)
        wlm.collect(spec, redbox, node / key / "out")
    return proc


def pod_paths(node: Path, pod: Path) -> Callable[..., str]:
    """``as_pod(text, tmp=pod)``: ``text`` with a SlurmJobTemplate pod's absolute paths (not
    those under "$dir") mapped here: the Slurm node's ``/dflow-slurm/`` under ``node``, the
    pod's ``/tmp/`` under ``tmp``."""

    def as_pod(text: str, tmp: Path = pod) -> str:
        where = {"/dflow-slurm/": f"{node}/", "/tmp/": f"{tmp}/tmp/"}
        text = text.replace('"$dir"/', "\0")
        text = re.sub(r"(?<=[\"' ])(/dflow-slurm/|/tmp/)", lambda m: where[m.group(1)], text)
        return text.replace("\0", '"$dir"/')

    return as_pod


def slurm_prepare(renderer, wf, prepare: dict, node: Path, pod: Path, values: dict, env: dict):
    """Lay out here the prepare pod of a SlurmJobTemplate step (its packages, raw artifacts and
    variables, from ``values``; ``env`` gains the variables); return ``(script text, as_pod)``:
    ``as_pod`` is :func:`pod_paths`'s."""
    from sandbox import place_packages

    pkg = next(a for a in prepare["inputs"]["artifacts"] if a["name"] == "dflow_python_packages")
    place_packages(pod / "tmp", renderer.packages_to_upload(wf)[pkg["s3"]["key"]])

    as_pod = pod_paths(node, pod)
    for e in prepare["script"]["env"]:
        env[e["name"]] = substitute(e["value"], values)
    for art in prepare["inputs"].get("artifacts", []):  # Argo writes raw artifacts in the pod
        if "raw" in art:
            dest = pod / art["path"].lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(substitute(art["raw"]["data"], values))
    return as_pod(substitute(prepare["script"]["source"], values)), as_pod


def run_pod(
    tmpl: dict, root: Path, params: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run a rendered script template as its container would, with /tmp at ``root``."""
    values = {f"inputs.parameters.{k}": v for k, v in params.items()}
    values.update({"workflow.name": "wf-test", "pod.name": "wf-test-123"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for e in tmpl["script"].get("env") or []:
        if "value" in e:
            env[e["name"]] = substitute(e["value"], values)
    env["DFLOW_TMP_ROOT"] = str(root)
    for art in (tmpl.get("inputs") or {}).get("artifacts") or []:
        if "raw" in art:  # Argo's executor writes raw data (input parameters) to the path
            dest = root / art["path"].removeprefix("/tmp/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(substitute(art["raw"]["data"], values))
    script = root.parent / "argo-script"
    script.write_text(substitute(tmpl["script"]["source"], values))
    cwd = root.parent / "cwd"
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [*tmpl["script"]["command"], str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def shell_step_template() -> ShellOPTemplate:
    t = ShellOPTemplate(
        name="hpc",
        image="alpine:3",
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


def _sandbox(tmp_path: Path) -> Path:
    root = tmp_path / "pod" / "tmp"
    (root / "inputs" / "artifacts").mkdir(parents=True)
    (root / "inputs" / "artifacts" / "data").write_text("payload\n")
    return root


# -- DispatcherExecutor ----------------------------------------------------------------------


def _dispatcher_manifest(tmp_path: Path, **kw) -> dict:
    ex = DispatcherExecutor(
        machine_dict={**SHELL_LOCAL, "remote_root": str(tmp_path / "remote")},
        image="registry.local/dpdispatcher:1",
        **kw,
    )
    ex.argo_check_interval = 0.2  # the Shell "scheduler" here is a local process
    wf = Workflow(name="disp")
    wf.add(
        Step(
            "run",
            shell_step_template(),
            parameters={"msg": "x"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=ex,
        )
    )
    return render(wf)


def test_dispatcher_pod_runs_the_script_through_dpdispatcher(tmp_path):
    manifest = _dispatcher_manifest(tmp_path)
    t = template(manifest, "hpc")
    assert t["script"]["image"] == "registry.local/dpdispatcher:1"
    assert t["script"]["command"] == ["sh"]
    root = _sandbox(tmp_path)
    proc = run_pod(t, root, {"msg": NASTY, "rc": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # outputs are back at their pod paths, the values byte for byte
    assert (root / "out" / "msg.txt").read_text() == NASTY
    assert (root / "out" / "copy.txt").read_text() == "payload\n"
    assert (root / "count").read_text() == "7"
    assert not (root.parent / "cwd" / "pwned").exists()
    assert not any((tmp_path / "remote").glob("*/pwned"))


def test_dispatcher_pod_exits_with_the_script_status(tmp_path):
    t = template(_dispatcher_manifest(tmp_path), "hpc")
    root = _sandbox(tmp_path)
    proc = run_pod(t, root, {"msg": "m", "rc": "2"})
    # exit code 2 is a FatalError for the retry strategy: it must survive the dispatcher
    assert proc.returncode == 2, proc.stdout + proc.stderr


def _all_text(manifest: dict) -> str:
    return json.dumps(manifest)


def test_dispatcher_image_comes_from_the_config(monkeypatch):
    """Regression: config["dispatcher_image"] (and its pull policy) was ignored."""
    from dflow.config import config

    monkeypatch.setitem(config, "dispatcher_image", "registry.local/dpd:2")
    monkeypatch.setitem(config, "dispatcher_image_pull_policy", "Always")
    wf = Workflow(name="img")
    wf.add(
        Step(
            "run",
            shell_step_template(),
            parameters={"msg": "x"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=DispatcherExecutor(host="h", queue_name="q"),
        )
    )
    script = template(render(wf), "hpc")["script"]
    assert (script["image"], script["imagePullPolicy"]) == ("registry.local/dpd:2", "Always")


def test_dispatcher_credentials_come_from_secrets(tmp_path):
    ex = DispatcherExecutor(
        host="hpc.example.org",
        username="alice",
        queue_name="cpu",
        password_secret="hpc-login",
        private_key_secret="hpc-key",
    )
    wf = Workflow(name="sec")
    wf.add(
        Step(
            "run",
            shell_step_template(),
            parameters={"msg": "x"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=ex,
        )
    )
    t = template(render(wf), "hpc")
    assert {
        "name": "DFLOW_SSH_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "hpc-login", "key": "password"}},
    } in t["script"]["env"]
    volume = next(v for v in t["volumes"] if v["name"] == "dflow-ssh-key")
    assert volume["secret"]["secretName"] == "hpc-key" and volume["secret"]["defaultMode"] == 0o600
    assert {"name": "dflow-ssh-key", "mountPath": "/root/.ssh", "readOnly": True} in t["script"][
        "volumeMounts"
    ]
    config = json.loads(
        eval(re.search(r"CONFIG = json.loads\((.*)\)\n", t["script"]["source"]).group(1))
    )
    assert config["machine"]["remote_profile"] == {
        "hostname": "hpc.example.org",
        "username": "alice",
        "port": 22,
        "timeout": 10,
        "key_filename": "/root/.ssh/id_rsa",
    }
    assert config["resources"]["queue_name"] == "cpu"


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"host": "h", "password": "hunter2-secret"}, "plaintext password.*password_secret="),
        ({"host": "h", "private_key_file": "/home/me/.ssh/id_rsa"}, "private_key_secret="),
        (
            {"machine_dict": {"remote_profile": {"passphrase": "hunter2-secret"}}},
            "remote_profile.passphrase",
        ),
    ],
)
def test_dispatcher_refuses_plaintext_credentials(kw, needle):
    wf = Workflow(name="sec")
    wf.add(
        Step(
            "run",
            shell_step_template(),
            parameters={"msg": "x"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=DispatcherExecutor(**kw),
        )
    )
    with pytest.raises(ValueError, match=needle) as err:
        ArgoRenderer(artifact_kind="s3").manifest(wf)
    assert "hunter2" not in str(err.value)


# -- Slurm ------------------------------------------------------------------------------------


def _slurm_wf(executor=None, use_resource=None) -> Workflow:
    wf = Workflow(name="slurm")
    wf.add(
        Step(
            "run",
            shell_step_template(),
            parameters={"msg": "x"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=executor,
            use_resource=use_resource,
        )
    )
    return wf


def test_slurm_job_resource_manifest_runs_its_batch_script(tmp_path):
    from dflow_executor_slurm import SlurmJob

    job = SlurmJob(
        header="#!/bin/sh\n#SBATCH --nodes=1", node_selector={"kubernetes.io/hostname": "slurm-cpu"}
    )
    m = render(_slurm_wf(use_resource=job))
    res = template(m, "hpc-resource")["resource"]
    assert res["successCondition"] == "status.status == Succeeded"
    cr = yaml.safe_load(res["manifest"])
    assert cr["apiVersion"] == "wlm.sylabs.io/v1alpha1" and cr["kind"] == "SlurmJob"
    assert cr["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "slurm-cpu"}
    batch = cr["spec"]["batch"]
    assert batch.startswith("#!/bin/sh\n#SBATCH --nodes=1\n")
    # run the batch script as Slurm would, after Argo's substitution, in a work directory
    (tmp_path / "tmp" / "inputs" / "artifacts").mkdir(parents=True)
    (tmp_path / "tmp" / "inputs" / "artifacts" / "data").write_text("d")
    text = substitute(batch, {"inputs.parameters.msg": "a $(x) `y`", "inputs.parameters.rc": "3"})
    text = text.replace("/tmp/", f"{tmp_path}/tmp/")  # the job's /tmp, here
    proc = subprocess.run(["sh", "-c", text], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 3
    assert (tmp_path / "tmp" / "count").read_text() == "7"


def test_slurm_remote_executor_renders_a_dispatcher_pod_with_sbatch_flags():
    from dflow_executor_slurm import SlurmRemoteExecutor

    ex = SlurmRemoteExecutor(
        host="login.hpc",
        username="bob",
        header="#!/bin/bash\n#SBATCH -p cpu\n#SBATCH -N 1",
        private_key_secret="bob-key",
    )
    t = template(render(_slurm_wf(ex)), "hpc")
    config = json.loads(
        eval(re.search(r"CONFIG = json.loads\((.*)\)\n", t["script"]["source"]).group(1))
    )
    assert (
        config["machine"]["batch_type"] == "Slurm"
        and config["machine"]["context_type"] == "SSHContext"
    )
    assert config["machine"]["remote_root"] == "/home/bob/dflow/workflows/{{workflow.name}}"
    assert config["machine"]["remote_profile"]["key_filename"] == "/root/.ssh/id_rsa"
    assert config["resources"]["custom_flags"] == ["#SBATCH -p cpu", "#SBATCH -N 1"]
    with pytest.raises(ValueError, match="password_secret="):
        ArgoRenderer().manifest(_slurm_wf(SlurmRemoteExecutor(host="h", password="pw")))


def test_slurm_remote_executor_without_the_dispatcher_plugin_says_what_to_install():
    """The Slurm plugin reaches DPDispatcher through core's executor registry, not an import."""
    from dflow.plugins.manager import PluginManager, reset_plugin_manager
    from dflow_engine_argo.render import RenderError
    from dflow_executor_slurm import SlurmRemoteExecutor

    ex = SlurmRemoteExecutor(host="h", private_key_secret="k")
    reset_plugin_manager(PluginManager(deny=["executor-dispatcher"]))
    try:
        with pytest.raises(RenderError, match="pip install dflow-executor-dispatcher"):
            ArgoRenderer().manifest(_slurm_wf(ex))
    finally:
        reset_plugin_manager()


def test_slurm_job_template_prepare_run_collect(tmp_path):
    from dflow_executor_slurm import SlurmJobTemplate

    ex = SlurmJobTemplate(
        header="#!/bin/sh\n#SBATCH -N 1", node_selector={"kubernetes.io/hostname": "slurm-cpu"}
    )
    m = render(_slurm_wf(ex))
    steps = template(m, "hpc-slurm")
    assert [s[0]["name"] for s in steps["steps"]] == ["slurm-prepare", "slurm-run", "slurm-collect"]
    prepare, collect = template(m, "hpc-slurm-prepare"), template(m, "hpc-slurm-collect")
    cr = yaml.safe_load(template(m, "hpc-slurm-run-resource")["resource"]["manifest"])
    assert (
        cr["spec"]["prepare"]["mount"]["hostPath"]["path"]
        == "/tmp/dflow-slurm/{{inputs.parameters.dflow_slurm_key}}/in"
    )
    # execute the chain: prepare pod -> (wlm-operator copies in/ to the job dir) -> job -> collect pod
    node = tmp_path / "node"
    pod = tmp_path / "pod"
    (pod / "tmp" / "inputs" / "artifacts").mkdir(parents=True)
    (pod / "tmp" / "inputs" / "artifacts" / "data").write_text("payload\n")

    as_pod = pod_paths(node, pod)
    values = {
        "inputs.parameters.msg": "m $(x)",
        "inputs.parameters.rc": "0",
        "workflow.name": "wf",
        "pod.name": "wf-1",
    }
    src = tmp_path / "prepare.sh"
    src.write_text(as_pod(substitute(prepare["script"]["source"], values)))
    proc = subprocess.run(["sh", str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    key = (pod / "tmp" / "dflow-slurm-key").read_text()
    assert key == "wf/wf-1"
    proc = play_slurm_job(cr, key, node, tmp_path / "redbox")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "collect"
    src = tmp_path / "collect.sh"
    src.write_text(
        as_pod(
            substitute(collect["script"]["source"], {"inputs.parameters.dflow_slurm_key": key}), out
        )
    )
    proc = subprocess.run(["sh", str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "tmp" / "out" / "msg.txt").read_text() == "m $(x)"
    assert (
        out / "tmp" / "out" / "copy.txt"
    ).read_text() == "payload\n"  # the input reached the job
    assert (out / "tmp" / "count").read_text() == "7"


def test_slurm_job_template_runs_a_python_op(tmp_path, monkeypatch):
    """Regression: SlurmJobTemplate refused Python OPs ("a Python OP needs its runner
    script"); pydflow supports them. The chain runs here: the prepare pod (packages, values
    from its environment), the job's batch script in its work directory, the collect pod."""

    from dflow.config import config
    from dflow.python import PythonOPTemplate
    from dflow_executor_slurm import SlurmJobTemplate

    sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests" / "render"))
    import argo_render_ops as ops

    monkeypatch.setitem(config, "util_image", "registry.local/util:1")
    ex = SlurmJobTemplate(
        header="#!/bin/sh\n#SBATCH -N 1", node_selector={"kubernetes.io/hostname": "slurm-cpu"}
    )
    wf = Workflow(name="pyslurm")
    wf.add(
        Step(
            "echo",
            PythonOPTemplate(ops.echo, image="python:3.8"),
            parameters={"text": NASTY, "n": 2},
            executor=ex,
            key="echo-1",
        )
    )
    renderer = ArgoRenderer(artifact_kind="s3")
    m = renderer.manifest(wf)
    assert_valid(m)
    check(m)
    steps = template(m, "echo-slurm")
    assert {"name": "dflow_key"} in steps["inputs"]["parameters"]  # a keyed super-OP variant
    prepare = template(m, "echo-slurm-prepare")
    assert prepare["script"]["image"] == "registry.local/util:1"  # config["util_image"]
    assert prepare["script"]["command"] == ["sh"]
    cr = yaml.safe_load(template(m, "echo-slurm-run-resource")["resource"]["manifest"])
    node, pod, job, out = (tmp_path / n for n in ("node", "pod", "job", "collect"))
    values = {
        "inputs.parameters.text": NASTY,
        "inputs.parameters.n": "2",
        "inputs.parameters.dflow_cache": "",  # the Steps template's default: no step cache
        "workflow.name": "wf",
        "pod.name": "wf-1",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    text, as_pod = slurm_prepare(renderer, wf, prepare, node, pod, values, env)
    src = tmp_path / "prepare.sh"
    src.write_text(text)
    proc = subprocess.run(["sh", str(src)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    key = (pod / "tmp" / "dflow-slurm-key").read_text()
    # the Slurm node's python3: here, the one with the client's packages importable
    job_env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    job_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{job_env.get('PATH', '')}"
    proc = play_slurm_job(cr, key, node, job, env=job_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collect = template(m, "echo-slurm-collect")
    src = tmp_path / "collect.sh"
    src.write_text(
        as_pod(
            substitute(collect["script"]["source"], {"inputs.parameters.dflow_slurm_key": key}), out
        )
    )
    proc = subprocess.run(["sh", str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert argo_reads(out / "tmp" / "outputs" / "parameters" / "out") == NASTY * 2
    assert (out / "tmp" / "outputs" / "parameters" / "length").read_text() == str(len(NASTY) * 2)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("#SBATCH --mem=4G", "--mem must be a plain integer (megabytes, no suffix), not '4G'"),
        ("#SBATCH -N 1 --exclusive", "--exclusive ends its line without a value"),
        ("#SBATCH --time=2h", "--time '2h' is not a Slurm duration the operator reads"),
        ("#SBATCH --cpus-per-task four", "--cpus-per-task must be a plain integer"),
    ],
)
def test_slurm_job_template_refuses_a_header_wlm_operator_cannot_read(header, problem):
    """The operator sizes the job's pod from the leading #SBATCH lines (parse.go of
    dptech-corp/wlm-operator); one it cannot read leaves the SlurmJob without a status and the
    step waiting forever, so the workflow is refused when it is rendered. What it can read
    renders: ranges of nodes, durations, values after a space, lines after the block."""
    from dflow_engine_argo.render import RenderError
    from dflow_executor_slurm import SlurmJob, SlurmJobTemplate

    def rendered(head: str, resource: bool = False) -> dict:
        node = {"kubernetes.io/hostname": "slurm-cpu"}
        if resource:
            step = Step("run", ShellOPTemplate(name="t", script="true"))
            step.use_resource = SlurmJob(header=head, node_selector=node)
        else:
            ex = SlurmJobTemplate(header=head, node_selector=node)
            step = Step("run", ShellOPTemplate(name="t", script="true"), executor=ex)
        wf = Workflow(name="hdr")
        wf.add(step)
        return ArgoRenderer(artifact_kind="s3").manifest(wf)

    with pytest.raises(RenderError, match=re.escape(problem)) as err:
        rendered(f"#!/bin/sh\n{header}")
    assert "step 'run': executor SlurmJobTemplate" in str(err.value)
    with pytest.raises(ValueError, match=re.escape(problem)):
        rendered(f"#!/bin/sh\n{header}", resource=True)
    fine = (
        "#!/bin/bash\n#SBATCH -N 1-2 --time=1-00:30 -t 30:00\n#SBATCH --mem 4096\nmodule load x\n"
    )
    assert rendered(fine + "#SBATCH --mem=4G")["spec"]["templates"]


def test_slurm_job_template_refuses_what_only_an_op_pod_does():
    from dflow.python import PythonOPTemplate, Slices
    from dflow_engine_argo.render import RenderError
    from dflow_executor_slurm import SlurmJobTemplate

    sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests" / "render"))
    import argo_render_ops as ops

    ex = SlurmJobTemplate(node_selector={"k": "v"})
    wf = Workflow(name="pyslurm")
    wf.add(
        Step(
            "sq",
            PythonOPTemplate(
                ops.square,
                slices=Slices(input_parameter=["x"], output_parameter=["y"], group_size=2),
            ),
            parameters={"x": [1, 2]},
            executor=ex,
        )
    )
    with pytest.raises(
        RenderError,
        match="step 'sq': executor SlurmJobTemplate runs the step "
        "as a Steps template on Argo, which cannot take Slices with group_size or sub_path",
    ):
        ArgoRenderer(artifact_kind="s3").manifest(wf)

    from dflow import Steps
    from dflow.executor import Executor

    class Whole(Executor):  # a Steps template of its own, no slices threaded through
        def render(self, template):
            steps = Steps(name=f"{template.name}-whole")
            steps.add(Step("only", ShellOPTemplate(name="only", script="true")))
            return steps

    wf = Workflow(name="whole")
    sliced = Slices(input_parameter=["x"], output_parameter=["y"])
    op = PythonOPTemplate(ops.square, slices=sliced)
    wf.add(Step("sq", op, parameters={"x": [1, 2]}, executor=Whole()))
    with pytest.raises(RenderError, match="executor Whole runs the step .*cannot take Slices;"):
        ArgoRenderer(artifact_kind="s3").manifest(wf)


def test_slurm_job_template_runs_each_slice_of_a_sliced_step():
    """pydflow's example test_wlm.py: the fan-out loops over the executor's Steps template;
    each slice's prepare lays out the OP for its item (dflow_slice_index) and not a loop of
    its own, and collect stores the slice's file into the fan-out's stacked artifact. The
    run itself: tests/test_hpc_workflows.py (through the emulated wlm-operator)."""
    from dflow import argo_range
    from dflow.python import PythonOPTemplate, Slices
    from dflow_executor_slurm import SlurmJobTemplate

    sys.path.insert(0, str(REPO / "tests"))
    from parity_ops import listed, written

    ex = SlurmJobTemplate(node_selector={"kubernetes.io/hostname": "slurm-cpu"})
    make = Step(
        "make",
        PythonOPTemplate(
            written,
            slices=Slices("{{item}}", input_parameter=["name"], output_artifact=["file"]),
        ),
        parameters={"name": ["a.txt", "b.txt"]},
        with_param=argo_range(2),
        key="make-{{item}}",
        executor=ex,
    )
    wf = Workflow(name="wlm")
    wf.add(make)
    wf.add(
        Step("list", PythonOPTemplate(listed), artifacts={"files": make.outputs.artifacts["file"]})
    )
    m = ArgoRenderer(artifact_kind="s3").manifest(wf)
    assert_valid(m)
    check(m)
    outer = template(m, "wlm-steps")["steps"]
    assert [s["name"] for g in outer for s in g] == ["make-init-artifact", "make", "list"]
    fan = outer[1][0]
    assert fan["template"] == "written-slurm" and fan["withParam"]
    slice_args = {
        p["name"]: p["value"] for p in fan["arguments"]["parameters"] if p["name"] != "name"
    }
    assert slice_args["dflow_slice_index"] == "{{item}}"
    assert "make-init-artifact" in slice_args["dflow_artifact_key"]
    one = template(m, "written-slurm")
    declared = {p["name"] for p in one["inputs"]["parameters"]}
    assert {"dflow_slice_index", "dflow_artifact_key", "dflow_group_key", "dflow_key"} <= declared
    prep, _, coll = (g[0] for g in one["steps"])
    assert "withParam" not in prep
    prep_args = {p["name"]: p["value"] for p in prep["arguments"]["parameters"]}
    assert prep_args["dflow_slice_index"] == "{{inputs.parameters.dflow_slice_index}}"
    assert "SLICED, KEYED = True, False" in template(m, prep["template"])["script"]["source"]
    coll_args = {p["name"]: p["value"] for p in coll["arguments"]["parameters"]}
    assert coll_args["dflow_artifact_key"] == "{{inputs.parameters.dflow_artifact_key}}"
    stacked = template(m, coll["template"])["outputs"]["artifacts"][0]
    assert stacked["s3"]["key"] == "{{inputs.parameters.dflow_artifact_key}}/file"
    assert stacked["archive"] == {"none": {}}


def test_dispatcher_runs_a_python_op_through_the_declared_wrap_script(tmp_path):
    from dflow.python import OP, PythonOPTemplate

    sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests" / "render"))
    import argo_render_ops as ops
    from sandbox import place_packages

    assert OP  # the OPs come from an importable module, as in a user's package
    ex = DispatcherExecutor(machine_dict={**SHELL_LOCAL, "remote_root": str(tmp_path / "remote")})
    ex.argo_check_interval = 0.2
    wf = Workflow(name="pyop")
    wf.add(Step("sq", PythonOPTemplate(ops.echo), parameters={"text": NASTY, "n": 2}, executor=ex))
    renderer = ArgoRenderer(artifact_kind="s3")
    manifest = renderer.manifest(wf)
    assert_valid(manifest)
    check(manifest)
    t = next(t for t in manifest["spec"]["templates"] if "script" in t)
    root = tmp_path / "pod" / "tmp"
    root.mkdir(parents=True)
    key = t["inputs"]["artifacts"][-1]["s3"]["key"]
    place_packages(root, renderer.packages_to_upload(wf)[key])
    proc = run_pod(t, root, {"text": NASTY, "n": "2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert argo_reads(root / "outputs" / "parameters" / "out") == NASTY * 2
