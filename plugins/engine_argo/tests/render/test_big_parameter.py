"""BigParameter inputs travel as files: a literal is uploaded to the store (content-hashed
key) at submit, not embedded in the manifest, as pydflow does; a value holding ``{{...}}``
stays ``raw`` (Argo substitutes it); another step's big output is passed by reference."""

from __future__ import annotations

import json

import argo_render_ops as ops
import pytest
from argo_server import TOKEN
from dflow import Step, Workflow, s3_config
from dflow.python import PythonOPTemplate
from dflow.storage import LocalStorageClient
from dflow_engine_argo.config import ArgoConfig
from dflow_engine_argo.engine import ArgoEngine
from dflow_engine_argo.render import ArgoRenderer
from sandbox import place_packages, run_template, template


def _wf(*steps):
    wf = Workflow(name="big")
    for s in steps:
        wf.add(s)
    return wf


def _args(m, i=0):
    return {
        a["name"]: a for a in m["spec"]["templates"][0]["steps"][i][0]["arguments"]["artifacts"]
    }


def test_a_literal_is_uploaded_not_embedded(render):
    """Regression: a 3 MB literal made a 3 MB manifest (etcd refuses ~1.5 MiB)."""
    text = "x" * 3_000_000
    wf = _wf(Step("big", PythonOPTemplate(ops.Big), parameters={"text": text}))
    m = render(wf)
    assert len(json.dumps(m)) < 100_000
    key = _args(m)["dflow_bigpar_text"]["s3"]["key"]
    assert key.startswith("dflow/bigpar/") and "raw" not in _args(m)["dflow_bigpar_text"]
    uploads = render.renderer.render(wf).data
    assert uploads[key] == text
    # the template's default travels the same way (before: not supplied at all)
    default = {a["name"]: a for a in template(m, "big")["inputs"]["artifacts"]}[
        "dflow_bigpar_extra"
    ]
    assert uploads[default["s3"]["key"]] == '{"a": 1}'


def test_the_same_text_is_stored_once_and_the_prefix_applies(render, monkeypatch):
    monkeypatch.setitem(s3_config, "prefix", "team/")
    wf = _wf(
        Step("a", PythonOPTemplate(ops.Big), parameters={"text": "same"}),
        Step("b", PythonOPTemplate(ops.Big), parameters={"text": "same"}),
    )
    m = render(wf)
    keys = {_args(m, i)["dflow_bigpar_text"]["s3"]["key"] for i in (0, 1)}
    assert len(keys) == 1 and keys.pop().startswith("team/dflow/bigpar/")


def test_references_stay_raw_or_from(render):
    first = Step("first", PythonOPTemplate(ops.Big), parameters={"text": "t"})
    second = Step(
        "second", PythonOPTemplate(ops.Big), parameters={"text": first.outputs.parameters["echo"]}
    )
    third = Step(
        "third", PythonOPTemplate(ops.Big), parameters={"text": first.outputs.parameters["n"]}
    )
    m = render(_wf(first, second, third))
    assert _args(m, 1)["dflow_bigpar_text"] == {
        "name": "dflow_bigpar_text",
        "from": "{{steps.first.outputs.artifacts.dflow_bigpar_echo}}",
    }
    assert _args(m, 2)["dflow_bigpar_text"] == {
        "name": "dflow_bigpar_text",
        "raw": {"data": "{{steps.first.outputs.parameters.n}}"},
    }


def test_the_op_reads_the_uploaded_text(render, tmp_path):
    wf = _wf(Step("big", PythonOPTemplate(ops.Big), parameters={"text": "it's\n'''big'''"}))
    m = render(wf)
    tmpl = template(m, "big")
    arts = {a["name"]: a for a in tmpl["inputs"]["artifacts"]}
    place_packages(
        tmp_path, ArgoRenderer().packages_to_upload(wf)[arts["dflow_python_packages"]["s3"]["key"]]
    )
    uploads = render.renderer.render(wf).data
    # Argo downloads each key to its artifact's path: the step's argument and the default
    for name, key in (
        ("dflow_bigpar_text", _args(m)["dflow_bigpar_text"]["s3"]["key"]),
        ("dflow_bigpar_extra", arts["dflow_bigpar_extra"]["s3"]["key"]),
    ):
        path = tmp_path / arts[name]["path"].removeprefix("/tmp/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(uploads[key])
    proc = run_template(tmpl, tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "outputs/parameters/echo").read_text() == "it's\n'''big'''{\"a\": 1}"


@pytest.fixture
def store(tmp_path, monkeypatch):
    client = LocalStorageClient(str(tmp_path / "store"))
    monkeypatch.setitem(s3_config, "storage_client", client)
    return client


def test_submit_uploads_the_literal_before_creating(argo_server, store):
    engine = ArgoEngine(
        ArgoConfig(host=argo_server.url, namespace="argo", token=TOKEN, backoff=0.01)
    )
    text = "y" * 200_000
    engine.submit(
        _wf(Step("big", PythonOPTemplate(ops.Big, image="python:3.11"), parameters={"text": text}))
    )
    (posted,) = argo_server.workflows.values()
    assert text not in json.dumps(posted)
    stored = [k for k in store.list("dflow/bigpar/", recursive=True)]
    assert sorted(open(store.local_path(k)).read() for k in stored) == sorted(['{"a": 1}', text])
