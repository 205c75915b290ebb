"""``python_packages`` entries are paths relative to the working directory (pydflow's rule):
``python_packages=["ops.py"]`` naming the OP's own module ships it once and the pod runs it."""

from __future__ import annotations

import importlib
import sys

import pytest
from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from dflow_engine_argo.render import ArgoRenderer, RenderError
from sandbox import place_packages, run_template, template

OPS = """from dflow.python import OP


@OP.function
def triple(x: int) -> {"y": int}:
    return {"y": 3 * x}
"""


@pytest.fixture
def ops_module(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "dflow_test_triple_ops.py").write_text(OPS)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    module = importlib.import_module("dflow_test_triple_ops")
    yield module
    sys.modules.pop("dflow_test_triple_ops", None)


def test_a_relative_package_naming_the_ops_module_is_shipped_once(render, ops_module, tmp_path):
    """Regression: "ops.py" and the OP's own absolute path were both shipped as 'ops.py' and
    rendering failed ("would overwrite each other")."""
    wf = Workflow(name="pkgs")
    wf.add(
        Step(
            "t",
            PythonOPTemplate(ops_module.triple, python_packages=["dflow_test_triple_ops.py"]),
            parameters={"x": 2},
        )
    )
    m = render(wf)
    (paths,) = ArgoRenderer().packages_to_upload(wf).values()
    own = [p for p in paths if p.endswith("dflow_test_triple_ops.py")]
    assert own == [str(tmp_path / "work" / "dflow_test_triple_ops.py")]
    root = tmp_path / "pod"
    root.mkdir()
    place_packages(root, paths)
    proc = run_template(template(m, "triple"), root, {"x": "2"})
    assert proc.returncode == 0, proc.stderr
    assert (root / "outputs" / "parameters" / "y").read_text() == "6"


def test_a_missing_package_is_named(ops_module):
    wf = Workflow(name="pkgs")
    wf.add(
        Step(
            "t",
            PythonOPTemplate(ops_module.triple, python_packages=["nope.py"]),
            parameters={"x": 2},
        )
    )
    with pytest.raises(
        RenderError,
        match=r"python_packages entry 'nope.py' does not exist "
        r"\(looked for .*/work/nope.py\)",
    ):
        ArgoRenderer().manifest(wf)
