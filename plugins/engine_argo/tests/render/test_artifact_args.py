"""Artifact arguments beyond one whole artifact: lists/dicts of artifacts (parts), items of
artifacts (slices, sub-paths) and LocalArtifacts (uploaded by the engine). Each manifest is
validated by the ``render`` fixture; the container scripts run for real in a sandbox laid out
as Argo would download the artifacts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import argo_render_ops as ops
import pytest
from dflow import ShellOPTemplate, Step, Workflow, argo_range
from dflow.python import PythonOPTemplate, Slices
from dflow.storage import LocalArtifact, S3Artifact
from dflow_engine_argo.render import ArgoRenderer, RenderError
from sandbox import place_packages, run_template, template


def _wf(*steps):
    wf = Workflow(name="arts")
    for s in steps:
        wf.add(s)
    return wf


def _sandbox(render, wf, name, tmp_path):
    manifest = render(wf)
    tmpl = template(manifest, name)
    root = tmp_path / "tmp"
    root.mkdir()
    pkg = next(a for a in tmpl["inputs"]["artifacts"] if a["name"] == "dflow_python_packages")
    place_packages(root, render.renderer.packages_to_upload(wf)[pkg["s3"]["key"]])
    return manifest, tmpl, root


def _catalogued(art: Path, items: dict[str, str], orders=None) -> None:
    """An artifact dir as dflow writes it: files plus a ``.dflow`` catalog."""
    art.mkdir(parents=True)
    path_list = []
    for i, (rel, content) in enumerate(items.items()):
        (art / rel).parent.mkdir(parents=True, exist_ok=True)
        (art / rel).write_text(content)
        entry = {"dflow_list_item": rel}
        if orders is not False:
            entry["order"] = (orders or list(range(len(items))))[i]
        path_list.append(entry)
    (art / ".dflow").mkdir()
    (art / ".dflow" / "c0").write_text(json.dumps({"path_list": path_list}))


def test_list_of_artifacts_travels_as_parts_and_is_merged(render, tmp_path):
    first = Step("w", PythonOPTemplate(ops.write), parameters={"msg": "b"})
    step = Step(
        "cat",
        PythonOPTemplate(ops.cat),
        artifacts={"files": [S3Artifact(key="in/a"), first.outputs.artifacts["file"], None]},
    )
    manifest, tmpl, root = _sandbox(render, _wf(first, step), "cat", tmp_path)
    args = template(manifest, "arts-steps")["steps"][1][0]["arguments"]["artifacts"]
    assert args == [
        {"name": "dflow_files_0", "s3": {"key": "in/a"}},
        {"name": "dflow_files_1", "from": "{{steps.w.outputs.artifacts.file}}"},
    ]
    names = [a["name"] for a in tmpl["inputs"]["artifacts"]]
    assert names == ["dflow_files_0", "dflow_files_1", "dflow_python_packages"]
    arts = root / "inputs" / "artifacts"
    (arts / "dflow_files_0").parent.mkdir(parents=True, exist_ok=True)
    (arts / "dflow_files_0").write_text("A")  # a plain object downloads as a file
    _catalogued(arts / "dflow_files_1", {"b.txt": "B"}, orders=False)  # a step's output
    (arts / "dflow_files_1" / ".empty_dir").write_text("")  # markers go before the OP
    proc = run_template(tmpl, root, {})
    assert proc.returncode == 0, proc.stderr
    assert (root / "outputs" / "parameters" / "text").read_text() == "AB"
    merged = json.loads(next((arts / "files" / ".dflow").iterdir()).read_text())
    assert merged == {
        "path_list": [
            {"dflow_list_item": "0/dflow_files_0", "order": 0},
            {"dflow_list_item": "1/b.txt", "order": 1},
        ]
    }
    assert not (arts / "dflow_files_1" / ".empty_dir").exists()


def test_dict_of_artifacts_keeps_its_keys(render, tmp_path):
    nested = Step(
        "nested",
        PythonOPTemplate(ops.cat),
        artifacts={"files": {"x": S3Artifact(key="k/x"), "nested": {"y": S3Artifact(key="k/y")}}},
    )
    source = template(render(_wf(nested)), "cat")["script"]["source"]
    assert "PARTS = [('files', ['x', 'nested.y'])]" in source  # dotted orders: nested dicts
    step = Step(
        "keys",
        PythonOPTemplate(ops.cat),
        artifacts={"files": {"x": S3Artifact(key="k/x"), "y": S3Artifact(key="k/y")}},
    )
    manifest, tmpl, root = _sandbox(render, _wf(step), "cat", tmp_path)
    arts = root / "inputs" / "artifacts"
    arts.mkdir(parents=True, exist_ok=True)
    (arts / "dflow_files_0").write_text("X")
    (arts / "dflow_files_1").write_text("Y")
    proc = run_template(tmpl, root, {})
    assert proc.returncode == 0, proc.stderr
    # ops.cat takes list[Path]: a dict artifact hands over its values
    assert (root / "outputs" / "parameters" / "text").read_text() == "XY"


def test_slices_over_a_list_of_artifacts(render, tmp_path):
    step = Step(
        "each",
        PythonOPTemplate(ops.read, slices=Slices(input_artifact=["file"])),
        artifacts={"file": [S3Artifact(key="k/0"), S3Artifact(key="k/1")]},
        with_param=argo_range(2),
    )
    manifest, tmpl, root = _sandbox(render, _wf(step), "read", tmp_path)
    arts = root / "inputs" / "artifacts"
    arts.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        _catalogued(arts / f"dflow_file_{i}", {f"f{i}.txt": f"<{i}>"}, orders=False)
    proc = run_template(tmpl, root, {"dflow_slice_index": "1"})
    assert proc.returncode == 0, proc.stderr
    assert (root / "outputs" / "parameters" / "text").read_text() == "<1>"


def test_item_and_sub_path_of_an_artifact(render, tmp_path):
    first = Step("w", PythonOPTemplate(ops.write), parameters={"msg": "b"})
    out = first.outputs.artifacts["file"]
    step = Step("pick", PythonOPTemplate(ops.cat), artifacts={"files": out[1]})
    sub = Step("sub", PythonOPTemplate(ops.cat), artifacts={"files": out.sub_path("d/e")})
    dyn = Step(
        "dyn",
        PythonOPTemplate(ops.cat),
        artifacts={"files": out["{{item}}"]},
        with_param=argo_range(2),
    )
    manifest, tmpl, root = _sandbox(render, _wf(first, [step, sub, dyn]), "cat", tmp_path)
    entries = template(manifest, "arts-steps")["steps"][1]
    assert entries[0]["arguments"] == {
        "parameters": [{"name": "dflow_artslice_files", "value": "1"}],
        "artifacts": [{"name": "files", "from": "{{steps.w.outputs.artifacts.file}}"}],
    }
    assert entries[1]["arguments"]["artifacts"] == [
        {"name": "files", "from": "{{steps.w.outputs.artifacts.file}}", "subPath": "d/e"}
    ]
    assert entries[2]["arguments"]["parameters"] == [
        {"name": "dflow_artslice_files", "value": "{{item}}"}
    ]
    assert entries[0]["template"] == entries[2]["template"] != entries[1]["template"]
    arts = root / "inputs" / "artifacts"
    _catalogued(arts / "dflow_whole_files", {"a.txt": "A", "b.txt": "B"})
    proc = run_template(tmpl, root, {"dflow_artslice_files": "1"})
    assert proc.returncode == 0, proc.stderr
    assert (root / "outputs" / "parameters" / "text").read_text() == "B"
    os.unlink(arts / "files")
    proc = run_template(tmpl, root, {"dflow_artslice_files": "7"})
    assert proc.returncode == 1
    assert "input artifact 'files' holds 2 items; item '7' does not exist" in proc.stderr


def test_item_of_a_stored_artifact_then_a_path_inside(render, tmp_path):
    src = S3Artifact(key="data/sets")[0].sub_path("inner")
    step = Step("read", PythonOPTemplate(ops.read), artifacts={"file": src})
    manifest, tmpl, root = _sandbox(render, _wf(step), "read", tmp_path)
    args = template(manifest, "arts-steps")["steps"][0][0]["arguments"]
    assert args["artifacts"] == [{"name": "file", "s3": {"key": "data/sets"}}]
    assert args["parameters"] == [
        {"name": "dflow_artslice_file", "value": "0"},
        {"name": "dflow_artsub_file", "value": "inner"},
    ]
    arts = root / "inputs" / "artifacts"
    # a list of dirs: item 0 is set0/, then the path inner/ inside it
    (arts / "dflow_whole_file" / "set0" / "inner").mkdir(parents=True)
    (arts / "dflow_whole_file" / "set0" / "inner" / "x.txt").write_text("X")
    (arts / "dflow_whole_file" / "set0" / "other.txt").write_text("not this")
    (arts / "dflow_whole_file" / ".dflow").mkdir()
    (arts / "dflow_whole_file" / ".dflow" / "c").write_text(
        json.dumps({"path_list": [{"dflow_list_item": "set0", "order": 0}]})
    )
    proc = run_template(tmpl, root, {"dflow_artslice_file": "0", "dflow_artsub_file": "inner"})
    assert proc.returncode == 0, proc.stderr
    assert (root / "outputs" / "parameters" / "text").read_text() == "X"


def test_local_artifacts_become_uploads(render, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("local")
    step = Step("cat", PythonOPTemplate(ops.cat), artifacts={"files": LocalArtifact(str(data))})
    wf = _wf(step)
    manifest = render(wf)
    uploads = render.renderer.local_artifacts_to_upload(wf)
    [(key, path)] = uploads.items()
    assert path == str(data) and key.startswith("dflow/local/") and key.endswith("/data")
    arg = template(manifest, "arts-steps")["steps"][0][0]["arguments"]["artifacts"][0]
    assert arg == {"name": "files", "s3": {"key": key}}
    # same content, same key; other content, other key
    assert ArgoRenderer(artifact_kind="s3").local_artifacts_to_upload(wf) == uploads
    (data / "x.txt").write_text("changed")
    assert ArgoRenderer(artifact_kind="s3").local_artifacts_to_upload(wf) != uploads
    sub = Step(
        "sub",
        PythonOPTemplate(ops.cat),
        artifacts={"files": LocalArtifact(str(data)).sub_path("x.txt")},
    )
    arg = render(_wf(sub))["spec"]["templates"][0]["steps"][0][0]["arguments"]["artifacts"][0]
    assert arg["s3"]["key"].endswith("/data/x.txt")


def test_clear_errors_for_templates_that_cannot_reassemble(render):
    sh = ShellOPTemplate(name="sh", image="alpine:3", script="ls /tmp/f")
    from dflow import InputArtifact

    sh.inputs.artifacts = {"f": InputArtifact(path="/tmp/f")}
    wf = _wf(Step("s", sh, artifacts={"f": [S3Artifact(key="a"), S3Artifact(key="b")]}))
    with pytest.raises(RenderError, match="step 's': artifact 'f' is a list.*Python OP"):
        ArgoRenderer().manifest(wf)
    wf = _wf(Step("s", sh, artifacts={"f": S3Artifact(key="a")[1]}))
    with pytest.raises(RenderError, match="slices of an S3Artifact"):
        ArgoRenderer().manifest(wf)
    wf = _wf(Step("s", PythonOPTemplate(ops.cat), artifacts={"files": [[S3Artifact(key="a")]]}))
    with pytest.raises(RenderError, match="must be flat"):
        ArgoRenderer().manifest(wf)
    wf = _wf(Step("s", PythonOPTemplate(ops.cat), artifacts={"files": S3Artifact(key="a")[1:3]}))
    with pytest.raises(RenderError, match=r"slices like \[1:3\] are not supported"):
        ArgoRenderer().manifest(wf)
