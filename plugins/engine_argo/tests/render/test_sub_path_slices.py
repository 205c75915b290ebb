"""``Slices(sub_path=True)``: each item downloads only its own path, and the OP sees the file
under its own name (pydflow's ``inputs/artifacts/<name>/<item path>``).

Argo applies ``subPath`` only to ``from``/``fromExpression`` artifacts
(``workflow/controller/scope.go`` ``resolveArtifact``, v3.7.18 and v4.1.2); an uploaded
(key-only) artifact is narrowed in its key. The pod is run in a sandbox laid out as Argo's
executor lays it out (the item downloaded to its substituted path, the raw catalog written).
"""

from __future__ import annotations

import json

import argo_render_ops as ops
import pytest
from dflow import Step, Workflow
from dflow.python import PythonOPTemplate, Slices
from dflow.storage import HTTPArtifact, S3Artifact
from dflow_engine_argo.render import ArgoRenderer, RenderError
from sandbox import place_packages, place_raw_artifacts, run_template, template


def _step(source, **slices):
    return Step(
        "names",
        PythonOPTemplate(
            ops.name_of,
            slices=Slices(
                sub_path=True, input_artifact=["file"], output_parameter=["name", "text"], **slices
            ),
        ),
        artifacts={"file": source},
    )


def _wf(*steps):
    wf = Workflow(name="subpath")
    for s in steps:
        wf.add(s)
    return wf


def test_an_uploaded_artifact_is_narrowed_in_its_key(render):
    """Regression: a key-only artifact got subPath, which Argo ignores for it, so every item
    downloaded the whole artifact (and the helper the whole artifact instead of its catalog)."""
    m = render(_wf(_step(S3Artifact(key="upload/u1/tmpx"))))
    helper, item = (g[0] for g in m["spec"]["templates"][0]["steps"])
    assert helper["arguments"]["artifacts"] == [
        {"name": "file", "s3": {"key": "upload/u1/tmpx/.dflow"}}
    ]
    assert item["arguments"]["artifacts"] == [
        {"name": "file", "s3": {"key": "upload/u1/tmpx/{{item.file}}"}}
    ]
    assert {"name": "dflow_file_sub_path", "value": "{{item.file}}"} in item["arguments"][
        "parameters"
    ]
    assert not any(
        "subPath" in a
        for g in m["spec"]["templates"][0]["steps"]
        for s in g
        for a in (s.get("arguments") or {}).get("artifacts") or []
    )


def test_another_steps_output_is_narrowed_by_sub_path(render):
    first = Step(
        "write",
        PythonOPTemplate(ops.write, output_artifact_archive={"file": None}),
        parameters={"msg": "m"},
    )
    m = render(_wf(first, _step(first.outputs.artifacts["file"])))
    helper, item = (g[0] for g in m["spec"]["templates"][0]["steps"][1:])
    ref = "{{steps.write.outputs.artifacts.file}}"
    assert helper["arguments"]["artifacts"] == [{"name": "file", "from": ref, "subPath": ".dflow"}]
    assert item["arguments"]["artifacts"] == [
        {"name": "file", "from": ref, "subPath": "{{item.file}}"}
    ]


@pytest.mark.parametrize("kind", ["s3", "oss", "gcs"])
def test_every_store_narrows_the_key(render, kind):
    m = render(_wf(_step(S3Artifact(key="data/set"))), artifact_kind=kind)
    item = m["spec"]["templates"][0]["steps"][1][0]
    assert item["arguments"]["artifacts"][0][kind] == {"key": "data/set/{{item.file}}"}


def test_the_op_sees_the_item_under_its_own_name(render, tmp_path):
    wf = _wf(_step(S3Artifact(key="upload/u1/tmpx")))
    m = render(wf)
    tmpl = template(m, "name-of")
    arts = {a["name"]: a for a in tmpl["inputs"]["artifacts"]}
    assert (
        arts["file"]["path"]
        == "/tmp/inputs/artifacts/file/{{inputs.parameters.dflow_file_sub_path}}"
    )
    assert arts["dflow_file_catalog"]["path"] == "/tmp/inputs/artifacts/file/.dflow/slice"
    place_packages(
        tmp_path, ArgoRenderer().packages_to_upload(wf)[arts["dflow_python_packages"]["s3"]["key"]]
    )
    # the item Argo downloaded from key upload/u1/tmpx/<item> to the substituted path; an item
    # path with JSON-special characters survives the catalog
    item = 'data/sub dir/"q" b.txt'
    params = {"dflow_file_sub_path": item, "dflow_slice_index": "1"}
    target = tmp_path / "inputs" / "artifacts" / "file" / item
    target.parent.mkdir(parents=True)
    target.write_text("B")
    place_raw_artifacts(tmpl, tmp_path, params)
    proc = run_template(tmpl, tmp_path, params)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "outputs" / "parameters"
    assert json.loads((out / "name").read_text()) == [{"dflow_list_item": '"q" b.txt', "order": 1}]
    assert json.loads((out / "text").read_text()) == [{"dflow_list_item": "B", "order": 1}]


def test_a_custom_catalog_dir_name_reaches_the_helpers(render, monkeypatch):
    from dflow.config import config

    monkeypatch.setitem(config, "catalog_dir_name", ".cat")
    m = render(_wf(_step(S3Artifact(key="k"))))
    helper = m["spec"]["templates"][0]["steps"][0][0]
    assert helper["arguments"]["artifacts"][0]["s3"]["key"] == "k/.cat"
    env = {e["name"]: e["value"] for e in template(m, "dflow-slices-path")["script"]["env"]}
    assert env["DFLOW_CATALOG_DIR_NAME"] == ".cat"
    arts = {a["name"]: a for a in template(m, "name-of")["inputs"]["artifacts"]}
    assert arts["dflow_file_catalog"]["path"] == "/tmp/inputs/artifacts/file/.cat/slice"
    monkeypatch.setitem(config, "catalog_dir_name", "../up")
    with pytest.raises(RenderError, match="catalog_dir_name.*plain directory name"):
        ArgoRenderer().manifest(_wf(_step(S3Artifact(key="k"))))


def test_an_http_artifact_cannot_be_sliced_by_sub_path():
    with pytest.raises(RenderError, match="artifact 'file'.*cannot be sliced by sub path"):
        ArgoRenderer().manifest(_wf(_step(HTTPArtifact(url="https://example.com/x"))))


def test_a_tarred_output_cannot_be_sliced_by_sub_path():
    first = Step("write", PythonOPTemplate(ops.write), parameters={"msg": "m"})
    with pytest.raises(
        RenderError,
        match="output artifact 'file' of step 'write', which Argo "
        "stores as one tar archive: declare it unarchived",
    ):
        ArgoRenderer().manifest(_wf(first, _step(first.outputs.artifacts["file"])))


def test_the_manifest_reads_back_unchanged(render):
    r = ArgoRenderer(artifact_kind="s3")
    m = r.manifest(_wf(_step(S3Artifact(key="upload/u1/tmpx"))))
    assert r.manifest(r.from_dict(m)) == m


def test_an_uploaded_tar_archive_cannot_be_sliced_by_sub_path():
    with pytest.raises(
        RenderError,
        match=r"artifact 'file' stored as one tar archive "
        r"\(upload/u/tmpx.tgz\): upload it unarchived",
    ):
        ArgoRenderer().manifest(_wf(_step(S3Artifact(key="upload/u/tmpx.tgz"))))
