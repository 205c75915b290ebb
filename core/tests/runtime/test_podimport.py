"""Client-only dflow names inside a pod (dflow.runner.podimport), on an old Python.

A script runs under pyenv's 3.8, isolated, with only the pod runtime on its path: first as
the runner sets things up (the rule installed), then without the rule (a plain ``import``).
"""

from __future__ import annotations

import json

from runtime_scenarios import interpreter, isolated

IN_POD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from dflow.runner import podimport
podimport.install()
from dflow import Step, Workflow, upload_artifact, SlurmJobTemplate, config
from dflow.plugins.dispatcher import DispatcherExecutor
from dflow.python import OP, PythonOPTemplate, Slices, upload_packages
from dflow_executor_dispatcher import DispatcherExecutor as Direct

out = {}

class MyExecutor(DispatcherExecutor):  # subclassing a client class works
    def hello(self):
        return "hi"

out["subclass"] = MyExecutor(1, image="x").hello()
tmpl = PythonOPTemplate(OP, image="python:3.8", slices=Slices(input_parameter="x"))
out["constructed"] = repr(tmpl)
upload_packages.append("ops.py")
out["upload_packages"] = upload_packages
out["config"] = isinstance(config, dict)
out["placeholders"] = [podimport.is_placeholder(x) for x in
                       (Workflow, Step, upload_artifact, SlurmJobTemplate, DispatcherExecutor,
                        Direct, PythonOPTemplate, Slices, OP)]

def error(call):
    try:
        call()
    except podimport.ClientOnlyError as exc:
        return str(exc)
    return "no error"

wf = Workflow("x", parallelism=2)
out["method"] = error(lambda: wf.submit())
out["function"] = error(lambda: upload_artifact("f"))
def enter():
    with Workflow("y"):
        pass
out["with"] = error(enter)
out["chain"] = error(lambda: tmpl.inputs.parameters["x"].set(1))
print(json.dumps(out))
"""

WITHOUT_RULE = r"""
import sys
sys.path.insert(0, sys.argv[1])
from dflow.python import OP, Slices
try:
    from dflow import Workflow
except ImportError as exc:
    print(type(exc).__name__, exc)
"""


def test_client_names_are_inert_in_a_pod_and_say_why_when_used(runtime_packages, tmp_path):
    python = interpreter("3.8")
    proc = isolated(python, runtime_packages, code=IN_POD, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["subclass"] == "hi"
    assert out["constructed"] == "<client-only dflow.python.template.PythonOPTemplate instance>"
    assert out["upload_packages"] == ["ops.py"] and out["config"] is True
    assert out["placeholders"] == [True] * 7 + [False, False]  # Slices and OP are real
    for key, name in (
        ("method", "dflow.model.workflow.Workflow(...).submit"),
        ("function", "dflow.storage.upload_artifact"),
        ("with", "with dflow.model.workflow.Workflow(...)"),
        ("chain", "dflow.python.template.PythonOPTemplate(...).inputs.parameters['x'].set"),
    ):
        text = out[key]
        assert text.startswith(
            f"{name} is client-side dflow and cannot run inside this pod, "
            f"which runs the OP with Python 3.8."
        ), text
        assert (
            "is not in the pod (only dflow's pod runtime is shipped: upload_dflow=False)" in text
        ), text
        assert 'under `if __name__ == "__main__":`' in text


def test_outside_the_runner_a_missing_client_module_is_an_import_error(runtime_packages, tmp_path):
    proc = isolated(interpreter("3.8"), runtime_packages, code=WITHOUT_RULE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ModuleNotFoundError No module named 'dflow.model'"
