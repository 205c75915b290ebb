"""The generated container scripts, executed for real in a sandbox laid out like the pod.

Values go through the same path as on Argo: substituted into the template's env values, then
copied by the script into the runner's input files. Outputs are read from the files Argo
would collect (the template's ``valueFrom.path`` / artifact ``path`` under the sandbox).
"""

from __future__ import annotations

import json
from pathlib import Path

import argo_render_ops as ops
from dflow import InputParameter, OutputParameter, ShellOPTemplate, Step, Workflow, argo_range
from dflow.python import PythonOPTemplate, Slices
from sandbox import place_packages, run_template, template

NASTY = [
    "it's '''triple''' quoted",
    "trailing backslash \\",
    "$(touch pwned) `touch pwned2` ${HOME}",
    "multi\nline\r\nvalue\n",
    'double "quotes" and {{not.a.var}} and %s %(x)s',
    "unicode: héllo ✓",
    "",
]


def _sandbox(render, wf, name, tmp_path):
    manifest = render(wf)
    root = tmp_path / "tmp"
    root.mkdir()
    place_packages(
        root,
        render.renderer.packages_to_upload(wf)[
            template(manifest, name)["inputs"]["artifacts"][-1]["s3"]["key"]
        ],
    )
    return template(manifest, name), root


def _wf(*steps):
    wf = Workflow(name="sandbox")
    for s in steps:
        wf.add(s)
    return wf


def test_parameters_arrive_byte_for_byte(render, tmp_path):
    wf = _wf(Step("echo", PythonOPTemplate(ops.echo), parameters={"text": "x", "n": 2}))
    tmpl, root = _sandbox(render, wf, "echo", tmp_path)
    assert "{{" not in tmpl["script"]["source"].replace("{{inputs", "")  # no values in source
    for i, value in enumerate(NASTY):
        sandbox = root / str(i)
        sandbox.mkdir()
        (sandbox / "inputs").symlink_to(root / "inputs")  # share the packages
        proc = run_template(tmpl, sandbox, {"text": value, "n": "2"})
        assert proc.returncode == 0, proc.stderr
        given = (sandbox / "inputs" / "parameters" / "text").read_bytes().decode()
        assert given == value  # exactly what Argo substituted
        out = (sandbox / "outputs" / "parameters" / "out").read_bytes().decode()
        out = out[:-1] if out.endswith("\n") else out  # the wait container trims one "\n"
        # the runner reads parameter files in text mode (universal newlines): \r\n -> \n
        assert out == value.replace("\r\n", "\n") * 2
        assert json.loads((sandbox / "outputs" / "parameters" / "length").read_text()) == (
            len(value.replace("\r\n", "\n")) * 2
        )
        assert not (sandbox / "cwd" / "pwned").exists()


def test_transient_error_exits_1_and_retry_strategy_retries_exit_1(render, tmp_path):
    wf = _wf(
        Step("flaky", PythonOPTemplate(ops.flaky, retry_on_transient_error=2), parameters={"n": -1})
    )
    tmpl, root = _sandbox(render, wf, "flaky", tmp_path)
    assert tmpl["retryStrategy"] == {"limit": 2, "expression": "asInt(lastRetry.exitCode) == 1"}
    proc = run_template(tmpl, root, {"n": "-1"})
    assert proc.returncode == 1
    assert "negative" in proc.stderr


def test_sliced_item_writes_stacked_outputs(render, tmp_path):
    step = Step(
        "write",
        PythonOPTemplate(
            ops.write,
            slices=Slices(
                input_parameter=["msg"], output_artifact=["file"], output_parameter=["length"]
            ),
        ),
        parameters={"msg": ["alpha", "beta", "gamma"]},
    )
    tmpl, root = _sandbox(render, _wf(step), "write", tmp_path)
    assert tmpl["outputs"]["artifacts"][0]["s3"]["key"] == (
        "{{inputs.parameters.dflow_artifact_key}}/file"
    )
    proc = run_template(
        tmpl,
        root,
        {"msg": '["alpha", "beta", "gamma"]', "dflow_slice_index": "1", "dflow_artifact_key": "k"},
    )
    assert proc.returncode == 0, proc.stderr
    stacked = json.loads((root / "outputs" / "parameters" / "length").read_text())
    assert stacked == [{"dflow_list_item": 4, "order": 1}]
    art = root / "outputs" / "artifacts" / "file"
    assert (art / "beta.txt").read_text() == "beta"
    catalogs = [json.loads(p.read_text()) for p in (art / ".dflow").iterdir()]
    assert catalogs[0]["path_list"][0]["order"] == 1


def test_group_of_slices_runs_its_share(render, tmp_path):
    step = Step(
        "square",
        PythonOPTemplate(
            ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"], group_size=2)
        ),
        parameters={"x": [1, 2, 3, 4, 5]},
    )
    manifest = render(_wf(step))
    entry = manifest["spec"]["templates"][0]["steps"][0][0]
    assert entry["withParam"] == "[0, 1, 2]"  # ceil(5 / 2) groups
    args = {p["name"]: p["value"] for p in entry["arguments"]["parameters"]}
    assert args["dflow_group_items"] == "{{=toJson(sprig.untilStep(0, 5, 1))}}"
    tmpl, root = _sandbox(render, _wf(step), "square", tmp_path)
    proc = run_template(
        tmpl,
        root,
        {"x": "[1, 2, 3, 4, 5]", "dflow_slice_index": "1", "dflow_group_items": "[0, 1, 2, 3, 4]"},
    )
    assert proc.returncode == 0, proc.stderr
    stacked = json.loads((root / "outputs" / "parameters" / "y").read_text())
    assert sorted((s["order"], s["dflow_list_item"]) for s in stacked) == [(2, 9), (3, 16)]


def test_keyed_step_passes_key_to_the_op(render, tmp_path):
    step = Step(
        "who",
        PythonOPTemplate(ops.WhoAmI),
        parameters={"text": "a"},
        key="who-{{item}}",
        with_param=argo_range(2),
    )
    tmpl, root = _sandbox(render, _wf(step), "whoami", tmp_path)
    # the key arrives as a file like every input parameter; only the workflow name is in env
    assert tmpl["script"]["env"] == [{"name": "DFLOW_WORKFLOW_NAME", "value": "{{workflow.name}}"}]
    proc = run_template(tmpl, root, {"text": "a", "dflow_key": "who-1"})
    assert proc.returncode == 0, proc.stderr
    out = root / "outputs" / "parameters"
    assert (out / "key").read_text() == "who-1"
    assert (out / "workflow").read_text() == "wf-test"


def _helper(manifest, prefix):
    return next(t for t in manifest["spec"]["templates"] if t["name"].startswith(prefix))


def test_check_template_counts_success_tags(render, tmp_path):
    step = Step(
        "sq",
        PythonOPTemplate(ops.square),
        parameters={"x": "{{item}}"},
        with_param=argo_range(3),
        continue_on_success_ratio=0.6,
    )
    manifest = render(_wf(step))
    check = _helper(manifest, "dflow-check-success")
    groups = manifest["spec"]["templates"][0]["steps"]
    assert [[s["name"] for s in g] for g in groups] == [["sq"], ["sq-check"]]
    cases = [
        ('["true", "false", "true"]', "0.6", 0),
        ('["true", "false", "false"]', "0.6", 1),
        ('["true"]', "0.6", 1),
    ]
    for i, (tags, threshold, rc) in enumerate(cases):
        root = tmp_path / str(i)
        root.mkdir()
        proc = run_template(
            check, root, {"tags": tags, "total": "3", "threshold": threshold, "mode": "ratio"}
        )
        assert proc.returncode == rc, proc.stdout + proc.stderr


def test_shell_success_tag_follows_exit_status(render, tmp_path):
    t = ShellOPTemplate(name="sh", image="alpine:3", script="test {{inputs.parameters.x}} -lt 2")
    t.inputs.parameters = {"x": InputParameter()}
    step = Step(
        "sh", t, parameters={"x": "{{item}}"}, with_param=argo_range(3), continue_on_num_success=1
    )
    manifest = render(_wf(step))
    tmpl = template(manifest, "sh")
    assert tmpl["outputs"]["parameters"][-1]["valueFrom"]["default"] == "false"
    for x, tagged in (("1", True), ("5", False)):
        root = tmp_path / x
        root.mkdir()
        proc = run_template(tmpl, root, {"x": x})
        assert (proc.returncode == 0) is tagged
        tag = root / "outputs" / "success_tag"
        assert (tag.exists() and tag.read_text().strip() == "true") is tagged


def test_init_artifact_and_slices_path_helpers(render, tmp_path):
    from dflow.storage import S3Artifact

    step = Step(
        "write",
        PythonOPTemplate(
            ops.write, slices=Slices(input_parameter=["msg"], output_artifact=["file"])
        ),
        parameters={"msg": ["a", "b"]},
    )
    cat = Step(
        "cat",
        PythonOPTemplate(ops.cat, slices=Slices(sub_path=True, input_artifact=["files"])),
        artifacts={"files": S3Artifact(key="in/x")},
    )
    manifest = render(_wf(step, cat))
    init = _helper(manifest, "dflow-init-artifact")
    proc = run_template(init, tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dflow" / "key").read_text() == "wf-test/wf-test-123"
    assert json.loads((tmp_path / "dflow/out/file/.dflow/init").read_text()) == {"path_list": []}
    sp = _helper(manifest, "dflow-slices-path")
    catalog = tmp_path / "dflow" / "in" / "files"  # subPath .dflow: the catalog files only
    catalog.mkdir(parents=True)
    (catalog / "c1").write_text(
        json.dumps(
            {
                "path_list": [
                    {"dflow_list_item": "d/b.txt", "order": 1},
                    {"dflow_list_item": "d/a.txt", "order": 0},
                ]
            }
        )
    )
    proc = run_template(sp, tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "dflow" / "slices_path").read_text()) == [
        {"order": 0, "files": "d/a.txt"},
        {"order": 1, "files": "d/b.txt"},
    ]
    entry = manifest["spec"]["templates"][0]["steps"][-1][0]
    assert entry["withParam"] == "{{steps.cat-slices-path.outputs.parameters.dflow_slices_path}}"
    assert entry["arguments"]["artifacts"][0]["s3"]["key"] == "in/x/{{item.files}}"


def test_outputs_of_steps_template(render):
    inner = Steps = None  # noqa: F841 - keep names distinct from dflow's
    from dflow import Steps as S

    inner = S(name="inner")
    inner.inputs.parameters = {"x": InputParameter(type=int)}
    s = Step("sq", PythonOPTemplate(ops.square), parameters={"x": inner.inputs.parameters["x"]})
    inner.add(s)
    inner.outputs.parameters = {
        "y": OutputParameter(
            value_from_parameter=s.outputs.parameters["y"], default=0, global_name="final"
        )
    }
    manifest = render(_wf(Step("main", inner, parameters={"x": 3})))
    out = template(manifest, "inner")["outputs"]["parameters"][0]
    assert out == {
        "name": "y",
        "valueFrom": {"parameter": "{{steps.sq.outputs.parameters.y}}", "default": "0"},
        "globalName": "final",
        "description": '{"type": "int"}',
    }


def test_op_defined_in_a_script_is_loaded_from_its_file(render, tmp_path):
    script = tmp_path / "my_flow.py"
    script.write_text(
        "from dflow.python import OP\n\n"
        "@OP.function\ndef shout(msg: str) -> {'out': str}:\n    return {'out': msg.upper()}\n"
    )
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("__dflow_test_main__", script)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    wf = _wf(Step("shout", PythonOPTemplate(mod.shout), parameters={"msg": "hi"}))
    tmpl, root = _sandbox(render, wf, "shout", tmp_path)
    assert "'--op-file', 'my_flow.py:shout'" in tmpl["script"]["source"]
    proc = run_template(tmpl, root, {"msg": "hi there"})
    assert proc.returncode == 0, proc.stderr
    assert (root / "outputs" / "parameters" / "out").read_text() == "HI THERE"
    assert Path(render.renderer.packages_to_upload(wf).popitem()[1][-1]) == script
