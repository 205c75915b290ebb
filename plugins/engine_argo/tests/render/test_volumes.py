"""Artifacts passed through a shared volume (``.pvc()``): the claim, the mounts, the links
and the copies in the scripts (manifests validated by the ``render`` fixture). What the
pods do with them runs in tests/test_conformance_parity.py (both engines)."""

from __future__ import annotations

import pytest
from dflow import (
    InputArtifact,
    OutputArtifact,
    PythonScriptOPTemplate,
    ShellOPTemplate,
    Step,
    Workflow,
)
from dflow_engine_argo.render import ArgoRenderer, RenderError
from sandbox import template


def _templates(path_in="/tmp/foo.txt"):
    hello = ShellOPTemplate(name="hello", image="alpine:3", script="echo Hello > /tmp/bar.txt")
    hello.outputs.artifacts = {"bar": OutputArtifact(path="/tmp/bar.txt")}
    echo = ShellOPTemplate(name="echo", image="alpine:3", script="cat /tmp/foo.txt")
    echo.inputs.artifacts = {"foo": InputArtifact(path=path_in)}
    return hello, echo


def test_a_reader_beside_its_producer(render):
    hello, echo = _templates()
    py = PythonScriptOPTemplate(name="py", image="python:3.8", script="print(1)")
    py.inputs.artifacts = {"foo": InputArtifact(path="/tmp/in/foo")}
    a = Step("a", hello)
    pvc = a.outputs.artifacts["bar"].pvc(size="2Gi", storage_class="fast")
    wf = Workflow(name="async")
    wf.add([a, Step("b", echo, artifacts={"foo": pvc}), Step("c", py, artifacts={"foo": pvc})])
    wf.add(Step("d", echo, artifacts={"foo": a.outputs.artifacts["bar"]}))  # as usual
    m = render(wf)
    assert m["spec"]["volumeClaimTemplates"] == [
        {
            "metadata": {"name": "public"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "2Gi"}},
                "storageClassName": "fast",
            },
        }
    ]
    vol = f"/tmp/mnt/public/{pvc.subpath}"
    mount = [{"name": "public", "mountPath": "/tmp/mnt/public"}]
    producer = template(m, "hello")
    assert producer["script"]["volumeMounts"] == mount
    first, script = producer["script"]["source"].split("\n", 1)
    assert script == "echo Hello > /tmp/bar.txt"
    assert first.startswith("trap 'dflow_rc=$?; if [ $dflow_rc -eq 0 ]; then {")
    assert f'cp -r "/tmp/bar.txt" "{vol}.part"' in first and first.endswith("' EXIT")
    assert producer["outputs"]["artifacts"][0]["name"] == "bar"  # stored as usual too
    group = template(m, "async-steps")["steps"]
    assert [s.get("arguments") for s in group[0][1:]] == [None, None]  # no input to pass
    reader = template(m, group[0][1]["template"])
    assert "inputs" not in reader and reader["script"]["volumeMounts"] == mount
    assert reader["script"]["source"] == (
        f'mkdir -p "$(dirname "/tmp/foo.txt")" && ln -sfn "{vol}" "/tmp/foo.txt" || exit 1\n'
        "cat /tmp/foo.txt"
    )
    header = template(m, group[0][2]["template"])["script"]["source"]
    assert f"for path, vol in [('/tmp/in/foo', '{vol}')]:" in header
    assert "for src, vol in" not in header and header.endswith("\nprint(1)")
    usual = template(m, group[1][0]["template"])  # the same template read as usual
    assert usual["inputs"]["artifacts"] == [{"name": "foo", "path": "/tmp/foo.txt"}]
    assert usual["script"]["source"] == "cat /tmp/foo.txt" and "volumeMounts" not in usual["script"]


def test_a_path_the_shell_lines_cannot_quote():
    hello, echo = _templates(path_in="/tmp/it's")
    a = Step("a", hello)
    wf = Workflow(name="async")
    wf.add([a, Step("b", echo, artifacts={"foo": a.outputs.artifacts["bar"].pvc()})])
    with pytest.raises(RenderError, match='path "/tmp/it\'s" of an artifact passed through'):
        ArgoRenderer().manifest(wf)


def test_a_template_claims_the_volume_it_mounts(render):
    """pydflow's ``OPTemplate(pvcs=[...])`` with its own ``mounts``: the claim is the
    workflow's, and a manifest read back keeps it."""
    from dflow.io import PVC
    from kubernetes.client import V1VolumeMount

    t = ShellOPTemplate(
        name="use",
        image="alpine:3",
        script="ls /data",
        pvcs=[PVC("data", "", "10Gi", access_modes=["ReadWriteMany"])],
        mounts=[V1VolumeMount(name="data", mount_path="/data")],
    )
    wf = Workflow(name="claim")
    wf.add(Step("a", t))
    m = render(wf)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    assert m["spec"]["volumeClaimTemplates"] == [claim]
    assert template(m, "use")["script"]["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    again = ArgoRenderer().from_dict(m)
    assert ArgoRenderer().manifest(again)["spec"]["volumeClaimTemplates"] == [claim]
