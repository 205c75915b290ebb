"""Every feature of the user guide rendered to Argo: each manifest passes both strict schemas
(v3.7.18, v4.1.2 + CRD rules) and the linter (the ``render`` fixture checks)."""

from __future__ import annotations

import argo_render_ops as ops
import pytest
from dflow import (
    HTTPOPTemplate,
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Steps,
    Workflow,
    argo_sequence,
    if_expression,
)
from dflow.executor import Executor
from dflow.model.op_template import DockerSecret, Secret
from dflow.model.step import HookStep
from dflow.python import PythonOPTemplate
from dflow.resource import Resource
from dflow.storage import HTTPArtifact, LocalArtifact, S3Artifact
from dflow_engine_argo.render import ArgoRenderer, RenderError
from sandbox import template


def shell(name="hello", **kw):
    t = ShellOPTemplate(name=name, image="alpine:3", script="echo {{inputs.parameters.msg}}", **kw)
    t.inputs.parameters = {"msg": InputParameter(value="hi")}
    t.outputs.parameters = {"out": OutputParameter(value_from_path="/tmp/out", default="none")}
    return t


def test_names_are_stable_and_templates_shared(render):
    def build():
        wf = Workflow(name="names")
        wf.add(
            [
                Step("a", PythonOPTemplate(ops.square), parameters={"x": 1}),
                Step("b", PythonOPTemplate(ops.square), parameters={"x": 2}),
            ]
        )
        wf.add(Step("c", PythonOPTemplate(ops.echo), parameters={"text": "x", "n": 1}))
        return wf

    m1, m2 = render(build()), render(build())
    assert m1 == m2
    assert [t["name"] for t in m1["spec"]["templates"]] == ["names-steps", "square", "echo"]
    assert m1["metadata"] == {"generateName": "names-"}


def test_recursion_references_the_template(render):
    loop = Steps(name="loop")
    loop.inputs.parameters = {"i": InputParameter()}
    s = Step("sq", PythonOPTemplate(ops.square), parameters={"x": loop.inputs.parameters["i"]})
    loop.add(s)
    loop.add(
        Step(
            "next",
            loop,
            parameters={"i": s.outputs.parameters["y"]},
            when=s.outputs.parameters["y"] < 100,
        )
    )
    wf = Workflow(name="rec")
    wf.add(Step("start", loop, parameters={"i": 2}))
    m = render(wf)
    nxt = template(m, "loop")["steps"][1][0]
    assert nxt["template"] == "loop"
    assert nxt["when"] == "{{=asFloat(steps['sq'].outputs.parameters['y']) < 100}}"


def test_sequence_hooks_on_exit_and_workflow_fields(render):
    hook = HookStep(shell("notify"), parameters={"msg": "done"})
    s = Step(
        "seq",
        shell(),
        parameters={"msg": "{{item}}"},
        with_sequence=argo_sequence(count=3, format="n%02d"),
        success_hook=hook,
    )
    wf = Workflow(
        name="fields",
        on_exit=shell("bye"),
        parallelism=2,
        pod_gc_strategy="OnPodSuccess",
        image_pull_secrets=["regcred", DockerSecret("r.io", "u", "p", name="dock")],
        parameters={"n": 3, "who": "me"},
        labels={"team": "x"},
        artifact_repo_key="repo",
    )
    wf.add(s)
    m = render(wf, service_account_name="argo")
    entry = m["spec"]["templates"][0]["steps"][0][0]
    assert entry["withSequence"] == {"count": "3", "format": "n%02d"}
    assert entry["hooks"]["success"]["expression"] == "steps['seq'].status == 'Succeeded'"
    assert entry["hooks"]["success"]["arguments"] == {
        "parameters": [{"name": "msg", "value": "done"}]
    }
    spec = m["spec"]
    assert spec["onExit"] == "bye" and spec["parallelism"] == 2
    assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "dock"}]
    assert spec["arguments"]["parameters"] == [
        {"name": "n", "value": "3"},
        {"name": "who", "value": "me"},
    ]
    assert spec["serviceAccountName"] == "argo" and spec["artifactRepositoryRef"] == {"key": "repo"}
    assert [s.name for s in ArgoRenderer().secrets_to_create(wf)] == ["dock"]


def test_conditional_outputs_and_optional_artifacts(render):
    inner = Steps(name="pick")
    inner.inputs.artifacts = {"data": InputArtifact(optional=True)}
    t = shell("maybe")
    t.inputs.artifacts = {"data": InputArtifact(path="/tmp/data", optional=True)}
    t.outputs.artifacts = {"res": OutputArtifact(path="/tmp/res", archive=None, global_name="g")}
    a = Step("a", t, artifacts={"data": inner.inputs.artifacts["data"]})
    b = Step("b", t)
    inner.add([a, b])
    inner.outputs.parameters = {
        "out": OutputParameter(
            value_from_expression=if_expression(
                _if=a.outputs.parameters["out"] == "x",
                _then=a.outputs.parameters["out"],
                _else=b.outputs.parameters["out"],
            ),
            default="none",
        )
    }
    inner.outputs.artifacts = {
        "res": OutputArtifact(
            from_expression=if_expression(
                _if=a.outputs.parameters["out"] == "x",
                _then=a.outputs.artifacts["res"],
                _else=b.outputs.artifacts["res"],
            )
        )
    }
    wf = Workflow(name="cond")
    wf.add(Step("main", inner))
    m = render(wf)
    out = template(m, "pick")["outputs"]
    assert out["parameters"][0]["valueFrom"]["expression"].startswith("((steps['a'].outputs")
    assert "fromExpression" in out["artifacts"][0]
    leaf = template(m, "maybe")
    assert leaf["inputs"]["artifacts"] == [{"name": "data", "path": "/tmp/data", "optional": True}]
    assert leaf["outputs"]["artifacts"][0] == {
        "name": "res",
        "path": "/tmp/res",
        "archive": {"none": {}},
        "globalName": "g",
    }


def test_super_op_outputs_carry_their_sources_type(render):
    """A Steps output taken from an int output (directly or through if_expression) is
    described as int, so Argo queries return 1, not "1", as on the local engine."""
    inner = Steps(name="typed")
    sq = Step("sq", PythonOPTemplate(ops.square, image="python:3.8"), parameters={"x": 3})
    inner.add(sq)
    y = sq.outputs.parameters["y"]
    inner.outputs.parameters = {
        "direct": OutputParameter(value_from_parameter=y),
        "chosen": OutputParameter(
            value_from_expression=if_expression(
                _if=y > 4, _then=y, _else=sq.outputs.parameters["y"]
            )
        ),
    }
    wf = Workflow(name="typed")
    wf.add(Step("main", inner))
    out = {p["name"]: p for p in template(render(wf), "typed")["outputs"]["parameters"]}
    assert out["direct"]["description"] == '{"type": "int"}'
    assert out["chosen"]["description"] == '{"type": "int"}'


def test_retry_timeout_resources_envs_and_secrets(render):
    t = shell(
        "res",
        timeout=90,
        requests={"cpu": 1},
        limits={"memory": "1Gi"},
        envs={"A": "1", "TOKEN": Secret(name="tok", key="value")},
        retry_strategy={"limit": 2, "retryPolicy": "OnError"},
        node_selector={"k": "v"},
    )
    m = render(Workflow(name="r", steps=Steps(name="s", steps=[Step("a", t)])))
    leaf = template(m, "res")
    assert leaf["timeout"] == "90s" and leaf["retryStrategy"] == {
        "limit": 2,
        "retryPolicy": "OnError",
    }
    assert leaf["script"]["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}
    assert leaf["script"]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "value"}}},
    ]
    secret = Secret(value="s3cr3t-value", name="pw")
    t2 = shell("sec", envs={"PW": secret})
    m2 = render(Workflow(name="r", steps=Steps(name="s", steps=[Step("a", t2)])))
    assert "s3cr3t-value" not in str(m2)
    p = PythonOPTemplate(ops.flaky, retry_on_transient_error=1, timeout_as_transient_error=True)
    m3 = render(
        Workflow(name="r", steps=Steps(name="s", steps=[Step("a", p, parameters={"n": 1})]))
    )
    assert template(m3, "flaky")["retryStrategy"]["expression"] == "asInt(lastRetry.exitCode) != 2"


def test_no_credentials_from_the_config_in_the_manifest(render, monkeypatch):
    from dflow.config import config, s3_config

    monkeypatch.setitem(s3_config, "secret_key", "VERY-SECRET-KEY")
    monkeypatch.setitem(s3_config, "access_key", "VERY-ACCESS-KEY")
    monkeypatch.setitem(config, "token", "VERY-TOKEN")
    wf = Workflow(name="c")
    wf.add(Step("a", PythonOPTemplate(ops.square), parameters={"x": 1}))
    text = str(render(wf))
    assert "VERY-" not in text


class Wrap(Executor):
    def render(self, template):
        template.script = "set -x\n" + template.script
        return template


class NoArgo(Executor):
    def render(self, template):
        raise NotImplementedError("local only")


def test_executors_and_contexts(render):
    t = shell("x")
    wf = Workflow(name="ex")
    wf.add([Step("a", t, executor=Wrap()), Step("b", t)])
    m = render(wf)
    names = [s["template"] for s in m["spec"]["templates"][0]["steps"][0]]
    assert names == ["x", "x-2"]
    assert template(m, "x")["script"]["source"].startswith("set -x\n")
    assert not template(m, "x-2")["script"]["source"].startswith("set -x")
    assert template(
        render(Workflow(name="c", context=Wrap(), steps=Steps(name="s", steps=[Step("a", t)]))), "x"
    )["script"]["source"].startswith("set -x\n")
    wf = Workflow(name="ex")
    wf.add(Step("a", t, executor=NoArgo()))
    with pytest.raises(RenderError, match="step 'a': executor NoArgo cannot render.*local only"):
        ArgoRenderer().manifest(wf)


class Job(Resource):
    action = "create"
    success_condition = "status.succeeded > 0"
    failure_condition = "status.failed > 3"

    def get_manifest(self, template):
        return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: j-\n"


def test_resource_and_http_templates(render):
    h = HTTPOPTemplate(
        url="https://example.org/{{inputs.parameters.q}}",
        name="get",
        headers={"Accept": "json"},
        timeout=10,
        success_condition="response.statusCode == 200",
    )
    h.inputs.parameters = {"q": InputParameter()}
    wf = Workflow(name="rh")
    wf.add([Step("job", shell(), use_resource=Job()), Step("web", h, parameters={"q": "x"})])
    m = render(wf)
    res = template(m, "hello-resource")["resource"]
    assert res["action"] == "create" and res["successCondition"] == "status.succeeded > 0"
    http = template(m, "get")["http"]
    assert http == {
        "method": "GET",
        "url": "https://example.org/{{inputs.parameters.q}}",
        "headers": [{"name": "Accept", "value": "json"}],
        "timeoutSeconds": 10,
        "successCondition": "response.statusCode == 200",
    }


@pytest.mark.parametrize("kind,field", [("s3", "s3"), ("oss", "oss"), ("gcs", "gcs")])
def test_artifact_locations_follow_the_storage(render, kind, field):
    wf = Workflow(name="st")
    wf.add(Step("a", PythonOPTemplate(ops.cat), artifacts={"files": S3Artifact(key="data/x")}))
    m = render(wf, artifact_kind=kind)
    arts = m["spec"]["templates"][0]["steps"][0][0]["arguments"]["artifacts"]
    assert arts == [{"name": "files", field: {"key": "data/x"}}]


def test_clear_errors(render):
    wf = Workflow(name="e")
    wf.add(Step("a", PythonOPTemplate(ops.cat), artifacts={"files": LocalArtifact("/x")}))
    with pytest.raises(RenderError, match="LocalArtifact '/x' does not exist"):
        ArgoRenderer().manifest(wf)
    wf = Workflow(name="e")
    wf.add(Step("a", PythonOPTemplate(ops.cat), artifacts={"files": HTTPArtifact("http://h/f")}))
    assert render(wf)["spec"]["templates"][0]["steps"][0][0]["arguments"]["artifacts"] == [
        {"name": "files", "http": {"url": "http://h/f"}}
    ]
    with pytest.raises(RenderError, match="has no steps"):
        ArgoRenderer().manifest(Workflow(name="empty"))


def test_lint_method_and_named_workflow(render):
    wf = Workflow(name="n", id="n-abc12")
    wf.add(Step("a", shell()))
    assert ArgoRenderer().manifest(wf)["metadata"] == {"name": "n-abc12"}
    assert ArgoRenderer().lint(wf) == []
