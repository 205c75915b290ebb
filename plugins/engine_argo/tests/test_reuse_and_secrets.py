"""submit(reuse_step=...) and secrets with values on the Argo engine: the memoize cache
ConfigMap and the Secrets go to a stand-in Kubernetes API (k8s_server), the manifest to the
stand-in Argo server, and the manifest only names what was created."""

from __future__ import annotations

import base64
import json
import logging

import argo_server as argo_stand_in
import pytest
from argo_schema import crd_errors, schema_errors
from argo_server import TOKEN
from dflow import DockerSecret, Secret, ShellOPTemplate, Step, Workflow, s3_config
from dflow.argo_objects import ArgoStep
from dflow.engine import EngineError
from dflow.python import OP, PythonOPTemplate
from dflow.storage import LocalStorageClient
from dflow_engine_argo.config import ArgoConfig
from dflow_engine_argo.engine import ArgoEngine
from dflow_engine_argo.k8s import KubeClient, opaque_secret
from dflow_engine_argo.lint import check
from k8s_server import TOKEN as K8S_TOKEN
from k8s_server import FakeKubeServer


@OP.function
def double(x: int) -> {"y": int}:
    return {"y": 2 * x}


@pytest.fixture
def v4_argo_api(monkeypatch):
    """The Argo stand-in checks requests against v4.1.2's API for reuse: v3.7.18's swagger
    types memoize.cache.configMap as a ConfigMapKeySelector with a required ``key`` that its
    controller never reads (see render/memoize.py); v4 has the name only."""
    monkeypatch.setattr(argo_stand_in, "SWAGGER", "swagger-v4.1.2.json")
    argo_stand_in._swagger.cache_clear()
    argo_stand_in._body_validator.cache_clear()
    yield
    argo_stand_in._swagger.cache_clear()
    argo_stand_in._body_validator.cache_clear()


@pytest.fixture
def kube_server():
    with FakeKubeServer() as server:
        yield server


@pytest.fixture
def store(tmp_path, monkeypatch):
    client = LocalStorageClient(str(tmp_path / "store"))
    monkeypatch.setitem(s3_config, "storage_client", client)
    return client


def _engine(argo_server, **k8s):
    return ArgoEngine(
        ArgoConfig(
            host=argo_server.url,
            namespace="argo",
            token=TOKEN,
            backoff=0.01,
            poll_interval=0.01,
            **k8s,
        )
    )


@pytest.fixture
def engine(argo_server, kube_server):
    config = ArgoConfig(
        host=argo_server.url,
        namespace="argo",
        token=TOKEN,
        backoff=0.01,
        poll_interval=0.01,
        k8s_api_server=kube_server.url,
    )
    # the Kubernetes API has its own token here (k8s_api_server alone uses config['token'])
    return ArgoEngine(config, kube=KubeClient(kube_server.url, "argo", K8S_TOKEN, backoff=0.01))


def keyed(name: str = "reuse") -> Workflow:
    wf = Workflow(name=name)
    first = Step(
        "first", PythonOPTemplate(double, image="python:3.11"), parameters={"x": 2}, key="first"
    )
    wf.add(first)
    wf.add(
        Step(
            "second",
            PythonOPTemplate(double, image="python:3.11"),
            parameters={"x": first.outputs.parameters["y"]},
            key="second",
        )
    )
    wf.add(Step("plain", ShellOPTemplate(name="plain", image="alpine:3", script="echo hi")))
    return wf


def _posted(argo_server, name):
    (wf,) = [w for w in argo_server.workflows.values() if w["metadata"]["name"] == name]
    return wf


def test_reuse_steps_of_a_queried_run(engine, argo_server, kube_server, store, v4_argo_api):
    old = keyed()
    engine.submit(old, wait=True)
    reused = engine.query(old.id).get_step(key=["first", "second"])
    assert [s.key for s in reused] == ["first", "second"]
    reused[0].modify_output_parameter("y", 40)

    new = keyed()
    result = engine.submit(new, reuse_step=reused)
    assert new.id == result.id and new.id.startswith("reuse-") and new.id != old.id
    # one cache ConfigMap per key: a ConfigMap holds at most 1 MiB
    assert kube_server.get("argo", "configmaps", f"dflow-{new.id}") is None
    maps = {
        k: kube_server.get("argo", "configmaps", f"dflow-{new.id}-{k}") for k in ("first", "second")
    }
    for k, cm in maps.items():
        assert cm["metadata"]["labels"] == {"workflows.argoproj.io/configmap-type": "Cache"}
        assert list(cm["data"]) == [f"{new.id}-{k}"]
    first = json.loads(maps["first"]["data"][f"{new.id}-first"])
    assert first["nodeID"] == reused[0].id
    assert first["outputs"]["parameters"][0]["name"] == "y"
    assert first["outputs"]["parameters"][0]["value"] == "40"  # the modified value
    assert first["outputs"]["exitCode"] == "0"

    manifest = _posted(argo_server, new.id)
    memoized = {t["name"]: t["memoize"] for t in manifest["spec"]["templates"] if "memoize" in t}
    assert memoized and all(
        m["key"] == f"{new.id}-{{{{inputs.parameters.dflow_key}}}}"
        and m["cache"]
        == {"configMap": {"name": f"dflow-{new.id}-{{{{inputs.parameters.dflow_key}}}}"}}
        for m in memoized.values()
    )
    assert "plain" not in memoized  # no key, nothing to reuse
    del manifest["status"]
    for field in ("namespace", "uid", "creationTimestamp"):
        manifest["metadata"].pop(field, None)
    assert schema_errors(manifest, "v4.1.2") == [] and crd_errors(manifest) == []
    assert [e.split(": ", 1)[1] for e in schema_errors(manifest, "v3.7.18")] == [
        "'key' is a required property"
    ] * len(memoized)
    check(manifest)


def test_reuse_of_constructed_steps_and_resubmission(
    engine, argo_server, kube_server, store, v4_argo_api
):
    step = ArgoStep(
        {
            "id": "old-1",
            "displayName": "first",
            "type": "Pod",
            "phase": "Succeeded",
            "inputs": {
                "parameters": [{"name": "x", "value": "2"}, {"name": "dflow_key", "value": "first"}]
            },
            "outputs": {"parameters": [{"name": "y", "value": "4"}]},
        },
        "old",
    )
    wf = keyed()
    engine.submit(wf, reuse_step=[step])
    first_id = wf.id
    engine.submit(wf, reuse_step=[step])  # a fresh id per submission: no collision
    assert wf.id != first_id
    for wid in (first_id, wf.id):
        cm = kube_server.get("argo", "configmaps", f"dflow-{wid}-first")
        assert json.loads(cm["data"][f"{wid}-first"])["outputs"]["parameters"] == [
            {"name": "y", "value": "4"}
        ]
        assert _posted(argo_server, wid)["metadata"]["name"] == wid


def test_secret_value_becomes_an_opaque_secret(engine, argo_server, kube_server, store, caplog):
    caplog.set_level(logging.DEBUG)
    t = ShellOPTemplate(
        name="env",
        image="alpine:3",
        script="echo $TOKEN",
        envs={"TOKEN": Secret(value="hunter2", name="my-token", key="tok")},
    )
    wf = Workflow(name="with-secret")
    wf.add(Step("env", t))
    engine.submit(wf)
    secret = kube_server.get("argo", "secrets", "my-token")
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["tok"]).decode() == "hunter2"
    posted = _posted(argo_server, wf.id)
    (tmpl,) = [x for x in posted["spec"]["templates"] if x["name"] == "env"]
    env = (tmpl.get("script") or tmpl.get("container"))["env"]
    assert {
        "name": "TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "my-token", "key": "tok"}},
    } in env
    text = repr(posted) + caplog.text
    assert "hunter2" not in text and base64.b64encode(b"hunter2").decode() not in text


def test_docker_secret_is_a_dockerconfigjson_pull_secret(engine, argo_server, kube_server, store):
    wf = Workflow(
        name="private",
        image_pull_secrets=DockerSecret("registry.example.com", "bob", "pa55word", name="regcred"),
    )
    wf.add(
        Step(
            "plain",
            ShellOPTemplate(name="plain", image="registry.example.com/a:1", script="echo hi"),
        )
    )
    engine.submit(wf)
    secret = kube_server.get("argo", "secrets", "regcred")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    auth = config["auths"]["registry.example.com"]
    assert (auth["username"], auth["password"]) == ("bob", "pa55word")
    assert base64.b64decode(auth["auth"]).decode() == "bob:pa55word"
    posted = _posted(argo_server, wf.id)
    assert posted["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert "pa55word" not in repr(posted)


def test_existing_secret_is_replaced(engine, argo_server, kube_server, store):
    engine.kube().create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "my-token"},
            "stringData": {"secret": "old"},
        }
    )
    t = ShellOPTemplate(
        name="env",
        image="alpine:3",
        script="echo $T",
        envs={"T": Secret(value="new", name="my-token")},
    )
    wf = Workflow(name="replace")
    wf.add(Step("env", t))
    kube_server.fail(503, times=2)  # retried
    engine.submit(wf)
    secret = kube_server.get("argo", "secrets", "my-token")
    assert base64.b64decode(secret["data"]["secret"]).decode() == "new"
    assert secret["metadata"]["resourceVersion"] == "2"
    assert [r["method"] for r in kube_server.requests[-2:]] == ["POST", "PUT"]


def test_refused_credentials_submit_nothing(argo_server, kube_server, store):
    eng = _engine(argo_server, k8s_api_server=kube_server.url)  # the Argo token: refused
    t = ShellOPTemplate(
        name="env",
        image="alpine:3",
        script="echo $T",
        envs={"T": Secret(value="hunter2", name="my-token")},
    )
    wf = Workflow(name="refused")
    wf.add(Step("env", t))
    with pytest.raises(EngineError) as info:
        eng.submit(wf)
    msg = str(info.value)
    assert "refused the credentials" in msg and "k8s_api_server" in msg and "HTTP 401" in msg
    assert TOKEN not in msg and "hunter2" not in msg
    assert argo_server.workflows == {} and kube_server.objects == {}


def test_bad_names_are_rejected_by_the_api(engine, argo_server, kube_server, store):
    t = ShellOPTemplate(
        name="env",
        image="alpine:3",
        script="echo $T",
        envs={"T": Secret(value="hunter2", name="Not_Valid")},
    )
    wf = Workflow(name="bad")
    wf.add(Step("env", t))
    with pytest.raises(EngineError, match=r"rejected POST Secret 'Not_Valid': HTTP 422") as info:
        engine.submit(wf)
    assert "hunter2" not in str(info.value)
    assert argo_server.workflows == {}


def test_kubeconfig_current_context_with_ca_data(argo_server, self_signed_cert, store, tmp_path):
    cert, key = self_signed_cert
    with FakeKubeServer(tls=(cert, key)) as kube:
        ca = base64.b64encode(open(cert, "rb").read()).decode()
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "test",
                    "contexts": [
                        {"name": "other", "context": {"cluster": "nowhere", "user": "u"}},
                        {"name": "test", "context": {"cluster": "c", "user": "u"}},
                    ],
                    "clusters": [
                        {
                            "name": "c",
                            "cluster": {"server": kube.url, "certificate-authority-data": ca},
                        }
                    ],
                    "users": [{"name": "u", "user": {"token": K8S_TOKEN}}],
                }
            )
        )
        eng = _engine(argo_server, k8s_config_file=str(kubeconfig))
        wf = Workflow(name="kc", image_pull_secrets=DockerSecret("r.io", "u", "p", name="rc"))
        wf.add(Step("plain", ShellOPTemplate(name="plain", image="r.io/a:1", script="echo")))
        eng.submit(wf)
        assert kube.get("argo", "secrets", "rc")["type"] == "kubernetes.io/dockerconfigjson"
        # without the CA, TLS verification (on by default) fails with a clear message
        eng = _engine(argo_server, k8s_api_server=kube.url)
        with pytest.raises(EngineError, match="TLS verification of the Kubernetes API"):
            eng.submit(wf)


def test_kube_client_errors_are_clear(kube_server):
    kube = KubeClient(kube_server.url, "argo", K8S_TOKEN, backoff=0.01, retries=1)
    assert kube.get("Secret", "absent") is None
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    with pytest.raises(EngineError, match=r"ConfigMap 'c' not found .* namespace 'argo'"):
        kube.replace(cm)
    kube_server.fail(403)
    with pytest.raises(
        EngineError,
        match=r"denied POST ConfigMap 'c' in namespace 'argo' "
        r"\(HTTP 403.*RBAC permission",
    ):
        kube.create(cm)
    kube.create(cm)
    with pytest.raises(EngineError, match=r"ConfigMap 'c' already exists .*HTTP 409"):
        kube.create(cm)
    kube_server.fail(500, times=2)
    with pytest.raises(EngineError, match="HTTP 500"):  # one retry, then the error
        kube.get("ConfigMap", "c")
    # an unknown field is refused by name, before sending (kubernetes >= 37 checks bodies
    # against its models) or by the API server (HTTP 422); a Secret's values never show
    bad = dict(opaque_secret("s", {"k": "hunter2"}), spec={})
    with pytest.raises(EngineError, match=_unknown_spec("Secret 's'")) as info:
        kube.apply(bad)
    assert "hunter2" not in str(info.value) and "aHVudGVyMg" not in str(info.value)
    assert kube_server.get("argo", "secrets", "s") is None


def _unknown_spec(subject: str) -> str:
    import kubernetes

    if int(kubernetes.__version__.split(".")[0]) >= 37:
        return (
            rf"{subject} is invalid \(checked by the kubernetes package before sending it "
            r"to http://127.0.0.1:\d+\): spec: Extra inputs are not permitted$"
        )
    return rf"rejected POST {subject}: HTTP 422: .*unknown field\(s\) \['spec'\]"
