"""The REST client against the stand-in Argo Server (requests checked against Argo's swagger)."""

from __future__ import annotations

import copy
import logging
import warnings

import pytest
from argo_server import MANIFEST, TOKEN, FakeArgoServer
from conformance.nodes import fnv32a
from dflow.testing.ports import refused_port
from dflow_engine_argo.client import (
    ArgoAuthError,
    ArgoClient,
    ArgoConnectionError,
    ArgoError,
    ArgoNotFoundError,
)


def test_create_get_list_delete(client, argo_server):
    wf = client.create(MANIFEST)
    name = wf["metadata"]["name"]
    assert name.startswith("hello-") and wf["status"]["phase"] == "Pending"
    req = argo_server.requests[-1]
    assert (req["method"], req["path"]) == ("POST", "/api/v1/workflows/argo")
    assert req["body"] == {"namespace": "argo", "workflow": MANIFEST}
    assert req["headers"]["X-Team"] == "qa"
    assert client.get(name, fields="status.phase") == {"status": {"phase": "Running"}}
    assert argo_server.requests[-1]["query"] == {"fields": ["status.phase"]}
    full = client.get(name)
    assert full["status"]["phase"] == "Succeeded"
    assert [n["displayName"] for n in full["status"]["nodes"].values()] == [name, "say"]
    assert [w["metadata"]["name"] for w in client.list({"team": "qa"})] == [name]
    assert argo_server.requests[-1]["query"] == {"listOptions.labelSelector": ["team=qa"]}
    assert client.list({"team": "other"}) == []  # the server's "items": null
    client.delete(name)
    assert client.list() == []
    # finished workflows are archived
    (archived,) = client.list_archived(labels={"team": "qa"}, name=name)
    assert client.get_archived(archived["metadata"]["uid"])["metadata"]["name"] == name
    assert argo_server.requests[-2]["query"] == {
        "listOptions.fieldSelector": [f"metadata.namespace=argo,metadata.name={name}"],
        "listOptions.labelSelector": ["team=qa"],
    }


def test_actions_send_documented_bodies(client, argo_server):
    name = client.create(MANIFEST)["metadata"]["name"]
    argo_server.held.add(name)
    client.suspend(name)
    client.resume(name)
    client.stop(name, message="enough")
    assert client.get(name)["status"]["message"] == "enough"
    client.retry(name, restart_successful=True, node_field_selector="id=x")
    client.terminate(name)
    assert client.get(name)["status"]["phase"] == "Failed"
    new = client.resubmit(name, memoized=True)
    assert new["metadata"]["name"].startswith(name + "-")
    bodies = [
        (r["path"].rsplit("/", 1)[1], r["body"])
        for r in argo_server.requests
        if r["method"] == "PUT"
    ]
    assert bodies == [
        ("suspend", {"name": name, "namespace": "argo"}),
        ("resume", {"name": name, "namespace": "argo"}),
        ("stop", {"name": name, "namespace": "argo", "message": "enough"}),
        (
            "retry",
            {
                "name": name,
                "namespace": "argo",
                "restartSuccessful": True,
                "nodeFieldSelector": "id=x",
            },
        ),
        ("terminate", {"name": name, "namespace": "argo"}),
        ("resubmit", {"name": name, "namespace": "argo", "memoized": True}),
    ]
    with pytest.raises(ArgoError, match=r"HTTP 400: workflow must be Failed/Error to retry"):
        client.retry(new["metadata"]["name"])
    with pytest.raises(ValueError, match="unknown workflow action 'explode'"):
        client.action(name, "explode")


def test_logs_stream(client, argo_server):
    name = client.create(MANIFEST)["metadata"]["name"]
    client.get(name)
    entries = list(client.logs(name))
    pod = f"{name}-echo-{fnv32a(name + '.say')}"  # pod names v2: <wf>-<template>-<hash>
    assert entries == [{"podName": pod, "content": f"hello from {pod}"}]
    assert argo_server.requests[-1]["query"] == {"logOptions.container": ["main"]}
    assert list(client.logs(name, pod_name="other")) == []


def _paced(argo_server, sleeps, **kwargs):
    """A client whose pauses between attempts are recorded instead of slept."""
    return ArgoClient(argo_server.url, "argo", TOKEN, sleep=sleeps.append, **kwargs)


def test_retries_on_503_then_succeeds(argo_server, caplog):
    sleeps: list[float] = []
    client = _paced(argo_server, sleeps)
    name = client.create(MANIFEST)["metadata"]["name"]
    argo_server.fail(503, times=2)
    with caplog.at_level(logging.WARNING):
        assert client.get(name)["metadata"]["name"] == name
    assert len(argo_server.requests) == 4  # create + 2 failures + success
    assert sleeps == [0.5, 1.0]  # backoff doubles from `backoff` (0.5 s by default)
    assert "HTTP 503; retry 2/3 in 1s" in caplog.text


def test_gives_up_after_retries_with_exponential_backoff(argo_server):
    sleeps: list[float] = []
    client = _paced(argo_server, sleeps, retries=4, backoff=0.25)
    argo_server.fail(502, times=10)
    with pytest.raises(ArgoError, match="HTTP 502") as info:
        client.list()
    assert info.value.status == 502 and len(argo_server.requests) == 5
    assert sleeps == [0.25, 0.5, 1.0, 2.0]  # one pause before each repeat, none after the last


def test_create_is_not_repeated_on_500(argo_server):
    sleeps: list[float] = []
    client = _paced(argo_server, sleeps)
    argo_server.fail(500, times=1)
    with pytest.raises(ArgoError, match="HTTP 500"):
        client.create(MANIFEST)
    assert len(argo_server.requests) == 1 and sleeps == []  # it may have acted: never twice
    argo_server.fail(503, times=1)  # 503: it did not act, a retry is safe
    assert client.create(MANIFEST)["metadata"]["name"].startswith("hello-")
    assert sleeps == [0.5]


def test_requests_are_made_by_the_argo_workflows_sdk(client, argo_server):
    import argo_workflows

    client.list()
    agent = argo_server.requests[-1]["headers"]["User-Agent"]
    assert agent == f"OpenAPI-Generator/{argo_workflows.__version__}/python"


def test_v4_fields_unknown_to_the_sdk_models_are_sent_unchanged(client, argo_server):
    # the SDK's models are v3.7's; a v4 field must reach the server as written, where the
    # v3.7 swagger (the stand-in's) rejects it by name: nothing was dropped or renamed
    v4 = copy.deepcopy(MANIFEST)
    v4["spec"]["templates"][1]["podResources"] = {"limits": {"cpu": "1"}}
    with pytest.raises(ArgoError, match=r"HTTP 400: .*'podResources' was unexpected"):
        client.create(v4)
    assert argo_server.requests[-1]["body"]["workflow"] == v4
    argo_server.violations.clear()


def test_wrong_token_message_never_shows_the_token(argo_server, caplog):
    bad = ArgoClient(argo_server.url, "argo", "wrong-" + TOKEN, backoff=0.01)
    with caplog.at_level(logging.DEBUG), pytest.raises(ArgoAuthError) as info:
        bad.list()
    message = str(info.value)
    assert "refused the token (HTTP 401: token not valid)" in message
    assert "set config['token'] or DFLOW_TOKEN" in message
    assert TOKEN not in message and TOKEN not in caplog.text and TOKEN not in repr(bad)
    assert all(TOKEN not in str(r["headers"]) for r in argo_server.requests)


def test_forbidden(client, argo_server):
    argo_server.fail(403)
    with pytest.raises(ArgoAuthError, match="denied the request .*HTTP 403"):
        client.get("x")


def test_not_found_names_the_workflow(client):
    with pytest.raises(
        ArgoNotFoundError,
        match="workflow 'ghost' not found on the Argo server at .*namespace 'argo'",
    ):
        client.get("ghost")
    with pytest.raises(ArgoNotFoundError, match="archived workflow 'u-1' not found"):
        client.get_archived("u-1")


def test_connection_refused_names_the_host():
    with refused_port() as port:
        sleeps: list[float] = []
        c = ArgoClient(f"http://127.0.0.1:{port}", retries=2, backoff=0.01, sleep=sleeps.append)
        with pytest.raises(ArgoConnectionError) as info:
            c.create(MANIFEST)  # never reached the server: even a create is repeated
        assert sleeps == [0.01, 0.02]
        msg = str(info.value)
        assert (
            f"cannot connect to the Argo server at http://127.0.0.1:{port} (connection refused)"
            in msg
        )
        assert "port-forward" in msg and "DFLOW_HOST" in msg


def test_tls_is_verified_by_default(self_signed_cert):
    with FakeArgoServer(token=TOKEN, tls=self_signed_cert) as server:
        assert server.url.startswith("https://")
        with pytest.raises(
            ArgoConnectionError,
            match="TLS verification of the Argo server .* failed .*certificate verify failed.*ca_file",
        ):
            ArgoClient(server.url, token=TOKEN, retries=0).list()
        assert ArgoClient(server.url, token=TOKEN, ca_file=self_signed_cert[0]).list() == []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # urllib3 rightly warns about unverified HTTPS
            assert ArgoClient(server.url, token=TOKEN, verify_ssl=False).list() == []


def test_scheme_mismatches_are_named(self_signed_cert):
    with FakeArgoServer(token=TOKEN) as plain:
        https = plain.url.replace("http://", "https://")
        with pytest.raises(
            ArgoConnectionError,
            match=r"does not speak TLS there: if it serves "
            r"plain HTTP .*the host must start with http://$",
        ):
            ArgoClient(https, token=TOKEN, retries=0).list()
    with FakeArgoServer(token=TOKEN, tls=self_signed_cert) as tls:
        http = tls.url.replace("https://", "http://")
        with pytest.raises(
            ArgoConnectionError,
            match=r"broke during GET .*\(if it serves "
            r"HTTPS, the host must start with https://\)",
        ):
            ArgoClient(http, token=TOKEN, retries=0).list()


def test_missing_token_says_none_is_set(argo_server):
    with pytest.raises(
        ArgoAuthError,
        match=r"wants a token and none is set \(HTTP 401: token "
        r"not valid\): set DFLOW_TOKEN",
    ):
        ArgoClient(argo_server.url, "argo", None, retries=0).list()


def test_server_rejects_requests_outside_the_spec(client, argo_server):
    with pytest.raises(ArgoError, match="HTTP 400: query parameter 'bogus' is not declared"):
        client.request("GET", "/api/v1/workflows/argo", params={"bogus": "1"})
    with pytest.raises(ArgoError, match="HTTP 400: .*'workflowz' was unexpected"):
        client.request("POST", "/api/v1/workflows/argo", body={"workflowz": {}})
    with pytest.raises(
        ArgoError,
        match=r"HTTP 400: workflow.spec.templates.0: Additional properties are not allowed \('withParams'",
    ):
        client.create(
            {"metadata": {"name": "x"}, "spec": {"templates": [{"name": "a", "withParams": "x"}]}}
        )
    assert len(argo_server.violations) == 3
    argo_server.violations.clear()


def test_a_big_workflow_is_decoded_with_the_collector_paused(client, argo_server):
    """A 100,000-node workflow is 60 MB of JSON; every cyclic collection while it was decoded
    walked what had been decoded so far (2.3 s, 0.6-0.9 s with the collector paused). At
    most one runs: the collector's first when it is back on."""
    from dflow.testing.collections import collections_during

    name = client.create(MANIFEST)["metadata"]["name"]
    argo_server.held.add(name)
    client.get(name)  # Running now, and held there: the server leaves its nodes alone
    [wf] = [w for (_, n), w in argo_server.workflows.items() if n == name]
    wf["status"]["nodes"] = {
        f"{name}-{i}": {
            "id": f"{name}-{i}",
            "name": f"{name}[0].say({i})",
            "displayName": f"say({i})",
            "type": "Pod",
            "phase": "Succeeded",
            "templateName": "say",
            "outputs": {"parameters": [{"name": "y", "value": str(i)}]},
        }
        for i in range(3000)
    }
    got, seen = collections_during(lambda: client.get(name))
    assert len(got["status"]["nodes"]) == 3000
    assert got["status"]["nodes"][f"{name}-2999"]["outputs"]["parameters"][0]["value"] == "2999"
    assert len(seen) <= 1, seen
