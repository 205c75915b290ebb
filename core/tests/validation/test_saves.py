"""Validation of where outputs are saved: storage keys and shared volumes (``.pvc()``)."""

from __future__ import annotations

from dflow import (
    InputArtifact,
    OutputArtifact,
    PythonScriptOPTemplate,
    ShellOPTemplate,
    Step,
    Workflow,
    argo_range,
)
from dflow.io import PVC
from dflow.python import OP, Artifact, PythonOPTemplate
from dflow.validation import problems_of


def writer(name="hello"):
    t = ShellOPTemplate(name=name, image="alpine", script="echo hi > /tmp/bar")
    t.outputs.artifacts = {"bar": OutputArtifact(path="/tmp/bar")}
    return t


def reader(name="echo", kind=ShellOPTemplate):
    t = kind(name=name, image="alpine", script="cat /tmp/foo")
    t.inputs.artifacts = {"foo": InputArtifact(path="/tmp/foo")}
    return t


@OP.function
def consume(foo: Artifact(str)) -> {}:
    return {}


def messages(*groups):
    wf = Workflow(name="wf")
    for g in groups:
        wf.add(g)
    return [str(p) for p in problems_of(wf)]


def test_a_reader_may_run_beside_its_producer():
    """pydflow's test_async.py: the reader is in the producer's group."""
    a = Step("a", writer())
    pvc = a.outputs.artifacts["bar"].pvc(size="2Gi")
    b = Step("b", reader(), artifacts={"foo": pvc})
    c = Step("c", reader("py", PythonScriptOPTemplate), artifacts={"foo": pvc})
    assert messages([a, b, c]) == []
    assert (pvc.name, pvc.size, pvc.access_modes) == ("public", "2Gi", ["ReadWriteOnce"])
    assert pvc.subpath.startswith("bar-") and a.outputs.artifacts["bar"].save == [pvc]


def test_a_volume_path_no_step_saves():
    b = Step("b", reader(), artifacts={"foo": PVC("public", "nowhere")})
    assert messages(b) == [
        "wf/wf-steps[0]/b: input artifact 'foo' reads volume path 'public/nowhere', which no "
        "step of the workflow saves: give it the .pvc() of a step's output artifact that "
        "runs in this workflow"
    ]


def test_a_function_op_cannot_read_a_volume():
    a = Step("a", writer())
    op = PythonOPTemplate(consume)
    b = Step("b", op, artifacts={"foo": a.outputs.artifacts["bar"].pvc()})
    assert messages([a, b]) == [
        f"wf/wf-steps[0]/b: template '{op.name}' (PythonOPTemplate) cannot pass an artifact "
        "through a shared volume (.pvc()): only script templates (ShellOPTemplate, "
        "PythonScriptOPTemplate) can; pass the artifact itself instead"
    ]


def test_a_looped_producer_and_a_volume_path_in_a_list():
    a = Step("a", writer(), with_param=argo_range(2))
    b = Step("b", reader(), artifacts={"foo": [a.outputs.artifacts["bar"].pvc()]})
    assert messages(a, b) == [
        "wf/wf-steps[0]/a: output artifact 'bar' is saved to a shared volume (.pvc()) by a "
        "looped or sliced step: every item would write the same volume path; save it from "
        "a step that runs once",
        "wf/wf-steps[1]/b: input artifact 'foo' gets a shared volume path (.pvc()) inside a "
        "list or dict: pass it alone, as the whole artifact",
    ]


def test_two_writers_of_one_volume_path():
    """``.pvc()`` on a template's output: every step of the template copies to one path."""
    t = writer()
    pvc = t.outputs.artifacts["bar"].pvc()
    a, b = Step("a", t), Step("b", t)
    c = Step("c", reader(), artifacts={"foo": pvc})
    assert messages([a, b, c]) == [
        f"wf/wf-steps[0]/b: output artifact 'bar' is saved to volume path "
        f"'public/{pvc.subpath}', which wf/wf-steps[0]/a saves too: call .pvc() once per "
        "writer"
    ]


@OP.function
def make(name: str) -> {"file": Artifact(str)}:  # noqa: F821 (a key, not a name)
    return {"file": name}


def test_a_stacked_output_saved_to_a_key():
    """Both engines refuse it before the run (Argo's items write into one shared prefix)."""
    from dflow.python import Slices
    from dflow.storage import S3Artifact

    op = PythonOPTemplate(
        make,
        slices=Slices(input_parameter=["name"], output_artifact=["file"]),
        output_artifact_save={"file": [S3Artifact(key="kept/file")]},
    )
    assert messages(Step("fan", op, parameters={"name": ["a", "b"]})) == [
        "wf/wf-steps[0]/fan: output artifact 'file' is stacked by Slices and saved to a key: "
        "the items write into one shared prefix; drop save, or copy the stacked artifact in "
        "a later step"
    ]


def test_an_output_saved_to_two_keys_or_to_no_key():
    """Argo stores an output at one location: both engines refuse more (one rule,
    ``dflow.model.saves.saved_key``, which the Argo renderer applies too)."""
    from dflow.storage import S3Artifact

    t = writer()
    t.outputs.artifacts["bar"].save = [S3Artifact(key="a"), S3Artifact(key="b")]
    assert messages(Step("a", t)) == [
        "wf/wf-steps[0]/a: output artifact 'bar' is saved to 2 keys (a, b); Argo stores an "
        "output at one location: keep one"
    ]
    t.outputs.artifacts["bar"].save = ["results/bar"]
    assert messages(Step("a", t)) == [
        "wf/wf-steps[0]/a: output artifact 'bar': cannot save to 'results/bar'; give "
        "S3Artifact(key=...)"
    ]
