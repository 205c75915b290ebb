"""ArgoEngine through the stand-in Argo Server: submit, wait, query, act."""

from __future__ import annotations

import copy

import pytest
from argo_server import MANIFEST, TOKEN
from conformance.nodes import fnv32a
from dflow.argo_objects import ArgoStep, ArgoWorkflow
from dflow.engine import EngineError
from dflow_engine_argo.client import ArgoNotFoundError
from dflow_engine_argo.config import ArgoConfig
from dflow_engine_argo.engine import ArgoEngine
from dflow_engine_argo.lint import LintError

TYPED = copy.deepcopy(MANIFEST)
TYPED["spec"]["templates"][1]["outputs"]["parameters"][0]["description"] = '{"type": "int"}'
TYPED["spec"]["templates"][0]["steps"][0][0]["arguments"] = {
    "parameters": [{"name": "dflow_key", "value": "say-key"}]
}
TYPED["spec"]["templates"][1]["inputs"] = {"parameters": [{"name": "dflow_key", "value": ""}]}


@pytest.fixture
def engine(argo_server):
    config = ArgoConfig(
        host=argo_server.url, namespace="argo", token=TOKEN, backoff=0.01, poll_interval=0.01
    )
    return ArgoEngine(config)


def test_submit_manifest_wait_and_query(engine, argo_server):
    wf = engine.submit_manifest(TYPED)
    assert isinstance(wf, ArgoWorkflow) and wf.id.startswith("hello-") and wf.uid
    assert engine.wait(wf.id, interval=0) == "Succeeded"
    done = engine.query(wf.id)
    assert done.status.phase == "Succeeded" and done.get_duration().total_seconds() >= 0
    (step,) = engine.query_step(wf.id, name="say")
    assert isinstance(step, ArgoStep) and step.key == "say-key" and step.phase == "Succeeded"
    assert step.outputs.parameters["n"].value == 3  # decoded from its description's type
    assert engine.query_step(wf.id, key="say-key")[0].id == step.id
    assert engine.query_status(wf.id) == "Succeeded"
    pod = f"{wf.id}-echo-{fnv32a(step.name)}"  # a step's logs are its pod's (names v2)
    assert engine.logs(wf.id) == f"hello from {pod}\n"
    assert engine.logs(wf.id, step_id=step.id) == f"hello from {pod}\n"
    assert [w.id for w in engine.query_workflows({"team": "qa"})] == [wf.id]


def test_submit_and_wait_in_one_call(engine):
    wf = engine.submit_manifest(MANIFEST, wait=True)
    assert wf.status.phase == "Succeeded"


def test_submit_lints_first(engine, argo_server):
    bad = copy.deepcopy(MANIFEST)
    bad["spec"]["templates"][0]["steps"][0][0]["template"] = "ecoh"
    with pytest.raises(
        LintError,
        match=r"spec.templates\[0\].steps\[0\]\[0\].template: template 'ecoh' is not defined",
    ):
        engine.submit_manifest(bad)
    assert argo_server.requests == []  # nothing was sent


def test_query_falls_back_to_the_archive(engine, argo_server):
    wf = engine.submit_manifest(MANIFEST, wait=True)
    engine.delete(wf.id)
    again = engine.query(wf.id)
    assert again.id == wf.id and again.status.phase == "Succeeded"
    assert [w.id for w in engine.query_archived_workflows({"team": "qa"})] == [wf.id]
    assert [w.id for w in engine.query_archived_workflows(id=wf.id)] == [wf.id]
    with pytest.raises(ArgoNotFoundError, match="workflow 'ghost' not found"):
        engine.query("ghost")


def test_actions(engine, argo_server):
    wf = engine.submit_manifest(MANIFEST)
    argo_server.held.add(wf.id)
    engine.query(wf.id)  # Running
    engine.suspend(wf.id)
    engine.resume(wf.id)
    engine.stop(wf.id)
    assert engine.query_status(wf.id) == "Failed"
    (step,) = engine.query_step(wf.id, name="say")
    assert step.phase == "Failed"
    step.retry()  # one step: re-run through a node selector
    assert argo_server.requests[-1]["body"]["nodeFieldSelector"] == f"id={step.id}"
    engine.terminate(wf.id)
    engine.retry(wf.id, step_ids=[step.id, wf.id])  # both failed: a plain retry
    assert argo_server.requests[-1]["body"] == {"name": wf.id, "namespace": "argo"}
    engine.resubmit(wf.id)
    assert len(engine.query_workflows()) == 2


def test_retry_of_several_unfailed_steps_is_refused(engine):
    wf = engine.submit_manifest(MANIFEST, wait=True)
    (step,) = engine.query_step(wf.id, name="say")
    with pytest.raises(EngineError, match=f"cannot retry steps {step.id}, {wf.id} of workflow"):
        engine.retry(wf.id, step_ids=[step.id, wf.id])


def test_submit_of_something_that_is_not_a_workflow_is_refused(engine):
    class Model:
        id = None

    with pytest.raises(Exception, match="Model"):
        engine.submit(Model())


def test_config_defaults_come_from_dflow_config(monkeypatch):
    config_mod = pytest.importorskip("dflow.config")
    monkeypatch.setitem(config_mod.config, "host", "https://argo.example:2746")
    monkeypatch.setitem(config_mod.config, "token", "tok")
    monkeypatch.setitem(config_mod.config, "http_headers", {"X-A": "1"})
    cfg = ArgoConfig()
    assert (cfg.host, cfg.token, cfg.http_headers, cfg.verify_ssl) == (
        "https://argo.example:2746",
        "tok",
        {"X-A": "1"},
        True,
    )
    assert "tok" not in repr(cfg)
    assert ArgoConfig(host="http://h").host == "http://h"


def test_plugin_registers_the_engine():
    from dflow_engine_argo import plugin

    (record,) = plugin.dflow_engines()
    assert (record.name, record.aliases, record.config_type) == ("argo", ("default",), ArgoConfig)
    engine = record.factory(ArgoConfig(host="http://127.0.0.1:1"))
    assert isinstance(engine, ArgoEngine) and engine.client.host == "http://127.0.0.1:1"


def test_entry_point_module_is_light():
    import subprocess
    import sys

    code = (
        "import sys, dflow_engine_argo.plugin as p; p.dflow_engines();"
        "print(sorted(m for m in ('requests', 'urllib3', 'jsonschema') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
