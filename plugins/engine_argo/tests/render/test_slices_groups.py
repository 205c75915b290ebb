"""``Slices(group_size=...)`` over ``with_sequence`` and with ``sub_path=True``: rendered,
validated (``render`` fixture) and the group's script run in a sandbox."""

from __future__ import annotations

import json

import argo_render_ops as ops
import pytest
from dflow import Step, Workflow, argo_sequence
from dflow.python import PythonOPTemplate, Slices
from dflow.storage import S3Artifact
from dflow_engine_argo.render import ArgoRenderer, RenderError
from sandbox import place_packages, run_template, template


def _wf(*steps):
    wf = Workflow(name="groups")
    for s in steps:
        wf.add(s)
    return wf


def _args(entry):
    return {p["name"]: p["value"] for p in entry["arguments"]["parameters"]}


def _ready(render, wf, manifest, name, tmp_path):
    tmpl = template(manifest, name)
    root = tmp_path / "tmp"
    root.mkdir()
    pkg = next(a for a in tmpl["inputs"]["artifacts"] if a["name"] == "dflow_python_packages")
    place_packages(root, render.renderer.packages_to_upload(wf)[pkg["s3"]["key"]])
    return tmpl, root


def test_group_size_over_a_static_sequence(render, tmp_path):
    step = Step(
        "sq",
        PythonOPTemplate(
            ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"], group_size=2)
        ),
        parameters={"x": [10, 11, 12, 13, 14, 15]},
        with_sequence=argo_sequence(start=1, end=5),
    )
    wf = _wf(step)
    manifest = render(wf)
    entry = manifest["spec"]["templates"][0]["steps"][0][0]
    assert "withSequence" not in entry and entry["withParam"] == "[0, 1, 2]"
    assert _args(entry)["dflow_group_items"] == "[1, 2, 3, 4, 5]"
    tmpl, root = _ready(render, wf, manifest, "square", tmp_path)
    proc = run_template(
        tmpl,
        root,
        {
            "x": "[10, 11, 12, 13, 14, 15]",
            "dflow_slice_index": "1",
            "dflow_group_items": "[1, 2, 3, 4, 5]",
        },
    )
    assert proc.returncode == 0, proc.stderr
    stacked = json.loads((root / "outputs" / "parameters" / "y").read_text())
    # group 1 holds sequence items 3 and 4: slices 3 and 4 of x
    assert sorted((s["order"], s["dflow_list_item"]) for s in stacked) == [(3, 169), (4, 196)]


def test_group_size_over_a_dynamic_sequence(render):
    first = Step("w", PythonOPTemplate(ops.write), parameters={"msg": "abc"})
    step = Step(
        "sq",
        PythonOPTemplate(
            ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"], group_size=4)
        ),
        parameters={"x": list(range(10))},
        with_sequence=argo_sequence(count=first.outputs.parameters["length"]),
    )
    entry = render(_wf(first, step))["spec"]["templates"][0]["steps"][1][0]
    items = _args(entry)["dflow_group_items"]
    assert items.startswith("{{=toJson(sprig.untilStep(0, 0 + asInt(") and "length" in items
    assert entry["withParam"].startswith("{{=toJson(sprig.untilStep(0, int((len(sprig.fromJson(")
    assert entry["withParam"].endswith(" + 3) / 4), 1))}}")
    with pytest.raises(RenderError, match="format=.*drop format"):
        bad = Step(
            "sq",
            PythonOPTemplate(ops.square, slices=Slices(input_parameter=["x"], group_size=2)),
            parameters={"x": [1, 2]},
            with_sequence=argo_sequence(count=2, format="%02d"),
        )
        ArgoRenderer().manifest(_wf(bad))


def test_sub_path_slices_in_groups(render, tmp_path):
    step = Step(
        "rd",
        PythonOPTemplate(
            ops.read,
            slices=Slices(
                sub_path=True, input_artifact=["file"], output_parameter=["text"], group_size=2
            ),
        ),
        artifacts={"file": S3Artifact(key="data/set")},
    )
    wf = _wf(step)
    manifest = render(wf)
    groups = manifest["spec"]["templates"][0]["steps"]
    assert [[s["name"] for s in g] for g in groups] == [["rd-slices-path"], ["rd"]]
    entry = groups[1][0]
    count = "len(sprig.fromJson(steps['rd-slices-path'].outputs.parameters['dflow_slices_path']))"
    assert entry["withParam"] == f"{{{{=toJson(sprig.untilStep(0, int(({count} + 1) / 2), 1))}}}}"
    assert _args(entry)["dflow_group_items"] == f"{{{{=toJson(sprig.untilStep(0, {count}, 1))}}}}"
    assert entry["arguments"]["artifacts"] == [{"name": "file", "s3": {"key": "data/set"}}]
    tmpl, root = _ready(render, wf, manifest, "read", tmp_path)
    art = root / "inputs" / "artifacts" / "file"
    art.mkdir(parents=True)
    items = []
    for i, name in enumerate("abc"):
        (art / f"{name}.txt").write_text(name.upper())
        items.append({"dflow_list_item": f"{name}.txt", "order": i})
    (art / ".dflow").mkdir()
    (art / ".dflow" / "c").write_text(json.dumps({"path_list": items}))
    proc = run_template(tmpl, root, {"dflow_slice_index": "1", "dflow_group_items": "[0, 1, 2]"})
    assert proc.returncode == 0, proc.stderr
    stacked = json.loads((root / "outputs" / "parameters" / "text").read_text())
    assert stacked == [{"dflow_list_item": "C", "order": 2}]  # group 1 of size 2: item 2
