"""Submitting a dflow Workflow to the stand-in Argo server: render, upload packages, create."""

from __future__ import annotations

import os
import tarfile

import pytest
from argo_server import TOKEN
from dflow import Secret, ShellOPTemplate, Step, Workflow, s3_config
from dflow.engine import EngineError
from dflow.python import OP, Artifact, PythonOPTemplate
from dflow.storage import LocalStorageClient
from dflow_engine_argo.config import ArgoConfig
from dflow_engine_argo.engine import ArgoEngine


@OP.function
def double(x: int) -> {"y": int}:
    return {"y": 2 * x}


@OP.function
def count(f: Artifact(str)) -> {"n": int}:
    return {"n": 0}


@pytest.fixture
def store(tmp_path, monkeypatch):
    client = LocalStorageClient(str(tmp_path / "store"))
    monkeypatch.setitem(s3_config, "storage_client", client)
    return client


@pytest.fixture
def engine(argo_server):
    return ArgoEngine(
        ArgoConfig(
            host=argo_server.url, namespace="argo", token=TOKEN, backoff=0.01, poll_interval=0.01
        )
    )


def build() -> Workflow:
    wf = Workflow(name="submit-me", labels={"team": "qa"})
    first = Step("first", PythonOPTemplate(double, image="python:3.11"), parameters={"x": 2})
    wf.add(first)
    wf.add(
        Step(
            "second",
            PythonOPTemplate(double, image="python:3.11"),
            parameters={"x": first.outputs.parameters["y"]},
        )
    )
    return wf


def test_submit_renders_uploads_packages_once_and_creates(engine, argo_server, store):
    wf = build()
    result = engine.submit(wf)
    assert wf.id == result.id and wf.id.startswith("submit-me-")
    (posted,) = [w for w in argo_server.workflows.values() if w["metadata"]["name"] == wf.id]
    assert posted["spec"]["entrypoint"] == engine.render(wf)["spec"]["entrypoint"]
    keys = store.list("", recursive=True)
    (package_key,) = [k for k in keys if k.startswith("dflow/packages/")]
    # one object, the tarball Argo's executor untars to the artifact's path
    with tarfile.open(store.local_path(package_key)) as tar:
        names = tar.getnames()
    assert "dflow_python_packages/dflow/runner/__main__.py" in names  # the runner travels
    assert {n.split("/")[0] for n in names} == {"dflow_python_packages"}
    before = {k: os.stat(store.local_path(k)).st_mtime_ns for k in keys}
    engine.submit(build())  # same content hash: nothing uploaded again
    assert {
        k: os.stat(store.local_path(k)).st_mtime_ns for k in store.list("", recursive=True)
    } == before
    assert engine.wait(wf.id, interval=0) == "Succeeded"


def test_secret_values_are_never_sent(engine, argo_server, store):
    t = ShellOPTemplate(
        name="env",
        image="alpine",
        script="echo $TOKEN",
        envs={"TOKEN": Secret(value="hunter2", name="my-token")},
    )
    wf = Workflow(name="with-secret")
    wf.add(Step("env", t))
    # a value must become a Kubernetes Secret first; without a Kubernetes API: a clear error
    with pytest.raises(
        EngineError,
        match=r"no Kubernetes API is configured: set "
        r"k8s_api_server .* or k8s_config_file",
    ):
        engine.submit(wf)
    assert argo_server.workflows == {}
    t.envs["TOKEN"] = Secret(name="my-token")  # a reference to an existing secret is fine
    engine.submit(wf)
    (posted,) = argo_server.workflows.values()
    assert "hunter2" not in repr(posted)


def test_reuse_step_needs_a_kubernetes_api(engine, argo_server, store):
    from dflow.argo_objects import ArgoStep

    old = ArgoStep(
        {
            "id": "old-1",
            "displayName": "first",
            "inputs": {"parameters": [{"name": "dflow_key", "value": "first"}]},
            "outputs": {},
        },
        "old",
    )
    with pytest.raises(EngineError, match="k8s_api_server .* or k8s_config_file"):
        engine.submit(build(), reuse_step=[old])
    assert argo_server.workflows == {}


def test_workflow_to_yaml_and_lint_through_the_renderer_plugin():
    wf = build()
    text = wf.to_yaml()
    assert text.startswith("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n")
    wf.lint()
    again = Workflow.from_yaml(text)
    assert again.to_dict() == wf.to_dict()


def test_local_artifacts_are_uploaded_at_submit(engine, argo_server, store, tmp_path):
    from dflow import LocalArtifact

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("hello")
    wf = Workflow(name="local-art")
    wf.add(
        Step(
            "count",
            PythonOPTemplate(count, image="python:3.11"),
            artifacts={"f": LocalArtifact(str(data))},
        )
    )
    engine.submit(wf)
    uploaded = [
        k for k in store.list("", recursive=True) if k.endswith("/a.txt") and "/local/" in k
    ]
    assert len(uploaded) == 1
    assert open(store.local_path(uploaded[0])).read() == "hello"
    (posted,) = argo_server.workflows.values()
    assert uploaded[0].rsplit("/a.txt", 1)[0] in repr(posted)
