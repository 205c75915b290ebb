"""Reusing the items of a keyed fan-out whose outputs are stacked (pydflow's group scheme):
items write into ``<workflow>/<group key>/<name>``; a new run's init step hits the cache and
points at the earlier prefix (``overwrite_reused_artifact``, default), so the stack holds
the reused items and the new ones; a modified item artifact is copied back into it; without
overwrite, the stacks are copied to the new run's prefix. Reused global outputs are preset in
``status.outputs``."""

from __future__ import annotations

import json

import argo_render_ops as ops
import argo_server as stand_in
import pytest
from argo_schema import schema_errors
from argo_server import TOKEN
from dflow import Step, Workflow, argo_range
from dflow.argo_objects import ArgoStep
from dflow.python import PythonOPTemplate, Slices
from dflow.storage import S3Artifact
from dflow_engine_argo.render import ArgoRenderer
from sandbox import run_template, template


def _fanout():
    wf = Workflow(name="fan", id="fan-new01")
    wf.add(
        Step(
            "write",
            PythonOPTemplate(
                ops.write,
                slices=Slices(
                    input_parameter=["msg"], output_artifact=["file"], output_parameter=["length"]
                ),
            ),
            parameters={"msg": ["a", "b", "c"]},
            with_param=argo_range(3),
            key="w-{{item}}",
        )
    )
    return wf


def _item(i, old="fan-old01", modified=None):
    stack = f"{old}/w-group"
    step = ArgoStep(
        {
            "id": f"{old}-{i}",
            "displayName": f"write({i})",
            "type": "Pod",
            "phase": "Succeeded",
            "inputs": {
                "parameters": [
                    {"name": "dflow_key", "value": f"w-{i}"},
                    {"name": "dflow_group_key", "value": "w-group"},
                    {"name": "dflow_artifact_key", "value": stack},
                ]
            },
            "outputs": {
                "parameters": [{"name": "length", "value": "1", "globalName": "len"}],
                "artifacts": [{"name": "file", "s3": {"key": f"{stack}/file"}}],
            },
        },
        old,
    )
    if modified:
        step.modify_output_artifact("file", S3Artifact(key=modified))
    return step


def test_a_keyed_fanout_stacks_under_its_group_key(render, tmp_path):
    m = render(_fanout())
    init, item = (g[0] for g in m["spec"]["templates"][0]["steps"])
    assert init["arguments"]["parameters"] == [
        {"name": "dflow_group_key", "value": "w-group"},
        {"name": "dflow_key", "value": "w-group-init-artifact"},
    ]
    assert {"name": "dflow_group_key", "value": "w-group"} in item["arguments"]["parameters"]
    helper = template(m, init["template"])
    assert {p["name"] for p in helper["inputs"]["parameters"]} == {"dflow_group_key", "dflow_key"}
    assert helper["outputs"]["artifacts"][0]["s3"]["key"] == (
        "{{workflow.name}}/{{inputs.parameters.dflow_group_key}}/file"
    )
    proc = run_template(helper, tmp_path, {"dflow_group_key": "w-group"})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dflow" / "key").read_text() == "wf-test/w-group"
    reuse = ArgoRenderer().manifest(_fanout(), memoize_prefix="fan-new01")
    assert template(reuse, init["template"])["memoize"]["key"] == (
        "fan-new01-{{inputs.parameters.dflow_key}}"
    )


def test_reuse_points_the_new_init_step_at_the_earlier_stack():
    plan = ArgoRenderer(artifact_kind="s3").reuse_plan(
        _fanout(), [_item(0), _item(1, modified="fixed/file")]
    )
    maps = {cm["metadata"]["name"]: cm for cm in plan.configmaps}
    assert sorted(maps) == [
        "dflow-fan-new01-w-0",
        "dflow-fan-new01-w-1",
        "dflow-fan-new01-w-group-init-artifact",
    ]
    init = json.loads(
        maps["dflow-fan-new01-w-group-init-artifact"]["data"]["fan-new01-w-group-init-artifact"]
    )["outputs"]
    assert init["parameters"] == [{"name": "dflow_artifact_key", "value": "fan-old01/w-group"}]
    assert init["artifacts"] == [
        {"name": "file", "s3": {"key": "fan-old01/w-group/file"}, "archive": {"none": {}}}
    ]
    # the modified artifact goes back into the shared stack, which downstream steps read
    assert plan.copies == [("fixed/file", "fan-old01/w-group/file")]
    item1 = json.loads(maps["dflow-fan-new01-w-1"]["data"]["fan-new01-w-1"])["outputs"]
    assert item1["artifacts"] == [{"name": "file", "s3": {"key": "fan-old01/w-group/file"}}]


def test_without_overwrite_the_stacks_are_copied_to_the_new_run(monkeypatch):
    from dflow.config import config, s3_config

    monkeypatch.setitem(config, "overwrite_reused_artifact", False)
    monkeypatch.setitem(s3_config, "prefix", "team/")
    plan = ArgoRenderer(artifact_kind="s3").reuse_plan(_fanout(), [_item(0), _item(1)])
    assert plan.copies == [("fan-old01/w-group/file", "team/fan-new01/w-group/file")]
    assert [cm["metadata"]["name"] for cm in plan.configmaps] == [
        "dflow-fan-new01-w-0",
        "dflow-fan-new01-w-1",
    ]  # the init step runs
    item = json.loads(plan.configmaps[0]["data"]["fan-new01-w-0"])["outputs"]
    assert item["artifacts"][0]["s3"]["key"] == "team/fan-new01/w-group/file"


def test_reused_global_outputs_are_preset():
    m = ArgoRenderer(artifact_kind="s3").manifest(
        _fanout(), memoize_prefix="fan-new01", reuse_step=[_item(0)]
    )
    assert m["status"] == {"outputs": {"parameters": [{"name": "len", "value": "1"}]}}
    # (v3.7.18's swagger wants a memoize configMap.key its controller ignores: memoize.py)
    assert schema_errors(m, "v4.1.2") == []


@pytest.fixture
def store(tmp_path, monkeypatch):
    from dflow import s3_config
    from dflow.storage import LocalStorageClient

    client = LocalStorageClient(str(tmp_path / "store"))
    monkeypatch.setitem(s3_config, "storage_client", client)
    return client


@pytest.fixture
def v4_api(monkeypatch):
    monkeypatch.setattr(stand_in, "SWAGGER", "swagger-v4.1.2.json")
    stand_in._swagger.cache_clear()
    stand_in._body_validator.cache_clear()
    yield
    stand_in._swagger.cache_clear()
    stand_in._body_validator.cache_clear()


def test_submit_copies_the_modified_artifact_back(store, argo_server, v4_api, tmp_path):
    from dflow_engine_argo.config import ArgoConfig
    from dflow_engine_argo.engine import ArgoEngine
    from dflow_engine_argo.k8s import KubeClient
    from k8s_server import TOKEN as K8S_TOKEN
    from k8s_server import FakeKubeServer

    (tmp_path / "f.txt").write_text("fixed")
    store.upload("fixed/file/f.txt", str(tmp_path / "f.txt"))
    with FakeKubeServer() as kube:
        engine = ArgoEngine(
            ArgoConfig(host=argo_server.url, token=TOKEN, backoff=0.01),
            kube=KubeClient(kube.url, "argo", K8S_TOKEN, backoff=0.01),
        )
        wf = _fanout()
        engine.submit(wf, reuse_step=[_item(0, modified="fixed/file")])
        assert kube.get("argo", "configmaps", f"dflow-{wf.id}-w-group-init-artifact")
    assert open(store.local_path("fan-old01/w-group/file/f.txt")).read() == "fixed"
