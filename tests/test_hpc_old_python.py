"""Python OPs sent to HPC jobs whose ``python3`` is old and has nothing installed.

A user's script defines its OP and submits at top level, unguarded, on the local engine; the
step runs as a job of the real (throwaway) Slurm or of DPDispatcher's Shell batch type, with
pyenv's CPython 3.7 as the remote interpreter. The job gets the pod runtime and the selection
of the script's code (never the whole script: the job must not submit the workflow again).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from dflow.testing.pythons import pyenv_python

pytest.importorskip("dflow_executor_slurm")
pytest.importorskip("dflow_executor_dispatcher")

pytestmark = pytest.mark.timeout(180)

SCRIPT = """\
import json
import sys

from dflow import Step, Workflow
from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate, Slices
from dflow_executor_dispatcher import DispatcherExecutor
from dflow_executor_slurm import SlurmJobTemplate

print("script ran")
REMOTE_PYTHON, KIND = sys.argv[1], sys.argv[2]


class Shout(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"msg": str, "n": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"out": str, "python": str})

    def execute(self, op_in):
        return OPIO({"out": loud(op_in["msg"]) * op_in["n"],
                     "python": "%d.%d" % sys.version_info[:2]})


def loud(text):
    return text.upper()


executor = SlurmJobTemplate() if KIND == "slurm" else DispatcherExecutor(
    machine_dict={"batch_type": "Shell"})
wf = Workflow(name="old-python-" + KIND)
wf.add(Step("shout", PythonOPTemplate(Shout, command=[REMOTE_PYTHON], slices=Slices(
    input_parameter=["msg"], output_parameter=["out", "python"])),
    parameters={"msg": ["a", "b"], "n": 2}, executor=executor))
wf.submit()
step = [s for s in wf.query_step(name="shout") if s.type == "StepGroup"][0]
print(json.dumps({"phase": wf.query_status(),
                  "out": step.outputs.parameters["out"].value,
                  "python": step.outputs.parameters["python"].value}))
"""


@pytest.mark.parametrize("kind", ["slurm", "shell"])
def test_script_op_runs_as_a_job_on_python_3_7(kind, local_slurm, tmp_path):
    remote = pyenv_python("3.7")
    if remote is None:
        pytest.skip("no pyenv Python 3.7")
    (tmp_path / "flow.py").write_text(SCRIPT)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFLOW_", "PYTHON"))}
    env.update(
        local_slurm.env,
        HOME=str(home),
        DFLOW_MODE="local",
        DFLOW_DEBUG_WORKDIR=str(tmp_path / "runs"),
        DFLOW_TEMPDIR=str(tmp_path / "t"),
    )
    proc = subprocess.run(
        [sys.executable, "flow.py", remote, kind],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("script ran") == 1  # the jobs never ran the script
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"phase": "Succeeded", "out": ["AA", "BB"], "python": ["3.7", "3.7"]}
    runs = [p for p in (tmp_path / "runs").iterdir() if (p / "journal.db").exists()]
    assert len(runs) == 1, runs  # one workflow: no job submitted it again


def test_argo_dispatcher_pod_runs_the_op_on_a_remote_python_3_7(tmp_path):
    """On Argo, a DispatcherExecutor step's pod stages the OP's inputs (the packages and the
    parameter files) for DPDispatcher (Shell, LocalContext here), whose remote python is a
    bare 3.7 (``-I -S``)."""
    from pathlib import Path

    from dflow import Step, Workflow
    from dflow.python import PythonOPTemplate
    from dflow.storage import S3Artifact
    from dflow_engine_argo.render import ArgoRenderer
    from dflow_executor_dispatcher import DispatcherExecutor

    remote = pyenv_python("3.7")
    if remote is None:
        pytest.skip("no pyenv Python 3.7")
    render_tests = Path(__file__).resolve().parents[1] / "plugins" / "engine_argo" / "tests"
    sys.path[:0] = [str(render_tests), str(render_tests / "render")]
    import pod_ops
    from argo_schema import assert_valid
    from sandbox import place_packages, run_template, template

    ex = DispatcherExecutor(
        machine_dict={
            "batch_type": "Shell",
            "context_type": "LocalContext",
            "remote_root": str(tmp_path / "remote"),
        },
        remote_command=[remote, "-I", "-S"],
    )
    ex.argo_check_interval = 0.2
    wf = Workflow(name="disp37")
    wf.add(
        Step(
            "report",
            PythonOPTemplate(pod_ops.Report),
            parameters={"n": 1, "items": [1], "weights": {}, "text": "t"},
            artifacts={"data": S3Artifact(key="in/data")},
            executor=ex,
        )
    )
    renderer = ArgoRenderer(artifact_kind="s3")
    manifest = renderer.manifest(wf)
    assert_valid(manifest)
    tmpl = template(manifest, "report")
    root = tmp_path / "pod" / "tmp"
    (root / "inputs" / "artifacts").mkdir(parents=True)
    (root / "inputs" / "artifacts" / "data").write_text("data")
    [pkg] = [a for a in tmpl["inputs"]["artifacts"] if a["name"] == "dflow_python_packages"]
    place_packages(root, renderer.packages_to_upload(wf)[pkg["s3"]["key"]])
    env_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    items = json.dumps(list(range(30000)))  # > 128 kB: only a file carries it
    proc = run_template(
        tmpl,
        root,
        {"n": "2", "items": items, "weights": '{"w": 0.5}', "text": "abc"},
        extra_env={"PATH": env_path},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = {p.name: p.read_text() for p in (root / "outputs" / "parameters").iterdir()}
    assert (out["python"], out["total"], out["text"]) == (
        "3.7",
        str(2 * sum(range(30000)) + 0.5),
        "cba",
    )
    assert (root / "outputs" / "artifacts" / "copy" / "copy.txt").read_text() == "DATA"
