"""Output artifacts saved to storage keys, and reuse of steps through Argo memoization
(manifests validated by the ``render`` fixture; the cache entries are plain data)."""

from __future__ import annotations

import datetime as dt
import json

import argo_render_ops as ops
import pytest
from dflow import InputParameter, OutputArtifact, ShellOPTemplate, Step, Steps, Workflow, argo_range
from dflow.argo_objects import ArgoStep
from dflow.python import PythonOPTemplate, Slices
from dflow.storage import S3Artifact
from dflow_engine_argo.render import ArgoRenderer, RenderError
from sandbox import template


def _wf(*steps, **kw):
    wf = Workflow(name="save", **kw)
    for s in steps:
        wf.add(s)
    return wf


@pytest.mark.parametrize("kind", ["s3", "oss", "gcs"])
def test_output_saved_to_a_key(render, kind, monkeypatch):
    from dflow.config import s3_config

    monkeypatch.setitem(s3_config, "repo_prefix", "repo/")
    p = PythonOPTemplate(ops.write, output_artifact_save={"file": [S3Artifact(key="results/f")]})
    sh = ShellOPTemplate(name="sh", image="alpine:3", script="echo x > /tmp/o")
    sh.outputs.artifacts = {
        "o": OutputArtifact(path="/tmp/o", archive=None, save=[S3Artifact(key="results/o")])
    }
    first = Step("w", p, parameters={"msg": "m"})
    m = render(
        _wf(
            first,
            [
                Step("sh", sh),
                Step(
                    "cat",
                    PythonOPTemplate(ops.cat),
                    artifacts={"files": first.outputs.artifacts["file"]},
                ),
            ],
        ),
        artifact_kind=kind,
    )
    key = {"oss": "repo/results/f"}.get(kind, "results/f")
    out = template(m, "write")["outputs"]["artifacts"][0]
    assert out == {"name": "file", "path": "/tmp/outputs/artifacts/file", kind: {"key": key}}
    assert template(m, "sh")["outputs"]["artifacts"][0][kind]["key"].endswith("results/o")
    cat = template(m, "save-steps")["steps"][1][1]
    assert cat["arguments"]["artifacts"] == [
        {"name": "files", "from": "{{steps.w.outputs.artifacts.file}}"}
    ]


def test_save_errors():
    sh = ShellOPTemplate(name="sh", image="alpine:3", script="echo x > /tmp/o")
    sh.outputs.artifacts = {
        "o": OutputArtifact(path="/tmp/o", save=[S3Artifact(key="a"), S3Artifact(key="b")])
    }
    with pytest.raises(RenderError, match="saved to 2 keys .*keep one"):
        ArgoRenderer().manifest(_wf(Step("a", sh)))
    p = PythonOPTemplate(
        ops.write,
        slices=Slices(input_parameter=["msg"], output_artifact=["file"]),
        output_artifact_save={"file": [S3Artifact(key="k")]},
    )
    with pytest.raises(RenderError, match="stacked by Slices and saved to a key"):
        ArgoRenderer().manifest(_wf(Step("a", p, parameters={"msg": ["x", "y"]})))


def _keyed_wf():
    wf = Workflow(name="reuse", id="reuse-abc12")
    wf.add(
        Step(
            "sq",
            PythonOPTemplate(ops.square),
            parameters={"x": "{{item}}"},
            with_param=argo_range(3),
            key="sq-{{item}}",
        )
    )
    wf.add(Step("plain", PythonOPTemplate(ops.echo), parameters={"text": "a", "n": 1}))
    return wf


def test_keyed_templates_are_memoized_on_request(render):
    wf = _keyed_wf()
    assert "memoize" not in template(render(wf), "square")  # not without a prefix
    m = ArgoRenderer(artifact_kind="s3").manifest(wf, memoize_prefix="reuse-abc12")
    from argo_schema import crd_errors, schema_errors
    from dflow_engine_argo.lint import check

    # v4.1.2: schema and CRD (which requires memoize.maxAge) pass; v3.7.18's swagger wants a
    # configMap.key its controller ignores (Argo's own memoize example has none either)
    assert schema_errors(m, "v4.1.2") == [] and crd_errors(m) == []
    assert [e.split(": ", 1)[1] for e in schema_errors(m, "v3.7.18")] == [
        "'key' is a required property"
    ]
    check(m)
    assert template(m, "square")["memoize"] == {
        "key": "reuse-abc12-{{inputs.parameters.dflow_key}}",
        "maxAge": "8760h",
        "cache": {"configMap": {"name": "dflow-reuse-abc12-{{inputs.parameters.dflow_key}}"}},
    }
    assert "memoize" not in template(m, "echo")  # no key, nothing to reuse
    m2 = ArgoRenderer().manifest(wf, memoize_prefix="p", configmap="cache", memoize_max_age="1h")
    assert template(m2, "square")["memoize"]["cache"]["configMap"]["name"] == (
        "cache-p-{{inputs.parameters.dflow_key}}"
    )
    assert template(m2, "square")["memoize"]["maxAge"] == "1h"
    with pytest.raises(RenderError, match="not a valid Kubernetes name"):
        ArgoRenderer().manifest(wf, memoize_prefix="Bad_Prefix")


def _old_step(key, y, art_key="old-wf/pod/file"):
    inputs = {"parameters": [{"name": "x", "value": "2"}]}
    if key:
        inputs["parameters"].append({"name": "dflow_key", "value": key})
    return ArgoStep(
        {
            "id": f"old-wf-{key or 'nokey'}",
            "displayName": key or "nokey",
            "type": "Pod",
            "phase": "Succeeded",
            "templateName": "square",
            "inputs": inputs,
            "outputs": {
                "parameters": [{"name": "y", "value": str(y), "description": '{"type": "int"}'}],
                "artifacts": [{"name": "log", "s3": {"key": art_key}}],
            },
        },
        "old-wf",
    )


def test_memoize_entries_are_argo_cache_entries():
    wf = _keyed_wf()
    now = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    steps = [_old_step("sq-0", 0), _old_step("sq-1", 1), _old_step(None, 9)]
    steps[1].modify_output_parameter("y", 100)
    steps[1].modify_output_artifact("log", S3Artifact(key="new/log"))
    # one ConfigMap per key (a ConfigMap holds at most 1 MiB); no key: skipped
    cm0, cm = ArgoRenderer().memoize_entries(wf, steps, now=now)
    assert cm["metadata"] == {
        "name": "dflow-reuse-abc12-sq-1",
        "labels": {"workflows.argoproj.io/configmap-type": "Cache"},
    }
    assert list(cm0["data"]) == ["reuse-abc12-sq-0"] and list(cm["data"]) == ["reuse-abc12-sq-1"]
    entry = json.loads(cm["data"]["reuse-abc12-sq-1"])
    assert entry == {
        "nodeID": "old-wf-sq-1",
        "outputs": {
            "parameters": [{"name": "y", "value": "100", "description": '{"type": "int"}'}],
            "artifacts": [{"name": "log", "s3": {"key": "new/log"}}],
            "exitCode": "0",
        },
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "lastHitTimestamp": "2024-05-01T10:00:00Z",
    }
    assert ArgoRenderer().memoize_entries(wf, [_old_step(None, 1)]) == []
    with pytest.raises(RenderError, match="needs the new workflow's id"):
        ArgoRenderer().memoize_entries(Workflow(name="x"), steps)
    local = ArgoStep(
        {
            "id": "n",
            "displayName": "sq",
            "inputs": {"parameters": [{"name": "dflow_key", "value": "k"}]},
            "outputs": {"artifacts": [{"name": "log", "local_path": "/x/log"}]},
        }
    )
    with pytest.raises(RenderError, match="reused step 'sq'.*local path.*upload it"):
        ArgoRenderer().memoize_entries(wf, [local])
    with pytest.raises(RenderError, match="reused twice"):
        ArgoRenderer().memoize_entries(wf, [_old_step("sq-0", 0), _old_step("sq-0", 1)])


def test_one_cache_configmap_per_key_stays_under_the_size_limit():
    """Regression: one ConfigMap for all keys; 2,000 reused steps with 1 kB of outputs each
    made one 2 MB ConfigMap, over Kubernetes' 1 MiB limit."""
    steps = [_old_step(f"sq-{i}", "x" * 1000) for i in range(2000)]
    maps = ArgoRenderer().memoize_entries(_keyed_wf(), steps)
    assert len(maps) == 2000
    assert max(len(json.dumps(m["data"])) for m in maps) < 2000
    with pytest.raises(RenderError, match="cache ConfigMap name .*'Upper'.* lower-case keys"):
        ArgoRenderer().memoize_entries(_keyed_wf(), [_old_step("Upper", 1)])


def test_keyed_super_op_declares_its_key_and_is_memoized(render):
    """Regression: a keyed Steps/DAG step passed dflow_key to a template that did not declare
    it, so the node had no key (query_step(key=) and reuse could not find it)."""
    inner = Steps(name="inner")
    inner.inputs.parameters = {"x": InputParameter()}
    inner.add(
        Step("sq", PythonOPTemplate(ops.square), parameters={"x": inner.inputs.parameters["x"]})
    )
    wf = Workflow(name="sup", id="sup-abc12")
    wf.add(
        [
            Step("k", inner, parameters={"x": 1}, key="k-1"),
            Step("plain", inner, parameters={"x": 2}),
        ]
    )
    m = render(wf)
    by_step = {s["name"]: s["template"] for s in template(m, "sup-steps")["steps"][0]}
    keyed, plain = template(m, by_step["k"]), template(m, by_step["plain"])
    assert {"name": "dflow_key"} in keyed["inputs"]["parameters"]
    assert {"name": "dflow_key"} not in plain["inputs"]["parameters"]
    assert "memoize" not in keyed
    m = ArgoRenderer().manifest(wf, memoize_prefix="sup-abc12")
    by_step = {s["name"]: s["template"] for s in template(m, "sup-steps")["steps"][0]}
    assert (
        template(m, by_step["k"])["memoize"]["key"] == "sup-abc12-{{inputs.parameters.dflow_key}}"
    )
    assert "memoize" not in template(m, by_step["plain"])  # unkeyed calls never share a cache
