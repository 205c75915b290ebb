"""Success tags of Python script templates (``continue_on_num_success/ratio``): a header runs
the script and writes the tag when it ends with status 0. Executed for real in a sandbox."""

from __future__ import annotations

from dflow import InputParameter, PythonScriptOPTemplate, Step, Workflow, argo_range
from sandbox import run_template, template

SCRIPT = """\
import sys
x = int("{{inputs.parameters.x}}")
if x == 1:
    sys.exit(3)
if x == 2:
    raise ValueError("two is bad")
if x == 3:
    sys.exit(0)
print("ok", x, __name__)
"""


def test_python_script_success_tag(render, tmp_path):
    t = PythonScriptOPTemplate(name="py", image="python:3.11", script=SCRIPT)
    t.inputs.parameters = {"x": InputParameter()}
    step = Step(
        "py",
        t,
        parameters={"x": "{{item}}"},
        with_param=argo_range(4),
        continue_on_success_ratio=0.5,
    )
    wf = Workflow(name="tags")
    wf.add(step)
    manifest = render(wf)
    tmpl = template(manifest, "py")
    assert tmpl["script"]["source"].endswith(SCRIPT)
    assert tmpl["outputs"]["parameters"][-1] == {
        "name": "dflow_success_tag",
        "valueFrom": {"path": "/tmp/outputs/success_tag", "default": "false"},
    }
    expected = {"0": (0, True), "1": (3, False), "2": (1, False), "3": (0, True)}
    for x, (rc, tagged) in expected.items():
        root = tmp_path / x
        root.mkdir()
        proc = run_template(tmpl, root, {"x": x})
        assert proc.returncode == rc, proc.stderr
        tag = root / "outputs" / "success_tag"
        assert (tag.exists() and tag.read_text() == "true") is tagged
        if x == "0":
            assert proc.stdout == "ok 0 __main__\n"
        if x == "2":
            # the traceback points at the script's own line (6 of SCRIPT)
            line = tmpl["script"]["source"].count("\n") - SCRIPT.count("\n") + 6
            assert f"line {line}" in proc.stderr and "two is bad" in proc.stderr
