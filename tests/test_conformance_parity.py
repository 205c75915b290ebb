"""The rules the local engine shares with Argo (``dflow.semantics`` and the shapes the renderer
gives values and artifacts), run on both engines through the acceptance machinery of
``test_conformance.py``: ``local`` is the local engine, ``argo`` is ArgoEngine -> the stand-in
Argo Server -> the conformance harness's emulated controller -> real pods. Each case returns
what a user sees and must equal the expected value on both.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dflow import (
    DAG,
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    PythonScriptOPTemplate,
    ShellOPTemplate,
    Step,
    Steps,
    Task,
    Workflow,
    argo_range,
    upload_artifact,
)
from dflow.python import PythonOPTemplate, Slices

sys.path.insert(0, str(Path(__file__).parent))
from parity_ops import doubled, joined, listed, where_is, written  # the engines' fixture
from test_conformance import Run
from test_conformance import run as engine_run  # noqa: F401 (the engines' fixture)

CASES: dict[str, Callable[[Run], Any]] = {}
EXPECTED: dict[str, Any] = {}


def case(expected: Any) -> Callable:
    def register(fn: Callable) -> Callable:
        CASES[fn.__name__] = fn
        EXPECTED[fn.__name__] = expected
        return fn

    return register


def _echo() -> ShellOPTemplate:
    """Writes its input ``x`` (default ``"0"``) to its output ``y`` (default ``"none"``)."""
    t = ShellOPTemplate(
        name="echo", image="alpine:3", script="echo {{inputs.parameters.x}} > /tmp/y"
    )
    t.inputs.parameters = {"x": InputParameter(value="0")}
    t.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/y", default="none")}
    return t


def _nodes(wf: Workflow, names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    return {n: [(s.type, s.phase) for s in wf.query_step(name=n)][0] for n in names}


@case(
    {
        "phase": "Succeeded",
        "nodes": {
            "a": ("Skipped", "Skipped"),
            "b": ("Skipped", "Omitted"),
            "c": ("Skipped", "Omitted"),
            "d": ("Pod", "Succeeded"),
        },
        "b_message": "omitted: depends condition not met",
    }
)
def dag_task_after_a_skipped_one(run: Run) -> Any:
    """A task runs when its dependencies Succeeded: after a skipped one it is omitted."""
    tmpl = _echo()
    dag = DAG("d")
    a = Task("a", tmpl, when="1 > 2")
    b = Task("b", tmpl, parameters={"x": a.outputs.parameters["y"]})
    dag.add([a, b, Task("c", tmpl, dependencies=[b]), Task("d", tmpl, parameters={"x": 4})])
    wf = Workflow(name="skipdag", dag=dag)
    phase = run.submit(wf)
    return {
        "phase": phase,
        "nodes": _nodes(wf, ("a", "b", "c", "d")),
        "b_message": wf.query_step(name="b")[0].get("message"),
    }


@case(
    {
        "phase": "Succeeded",
        "nodes": {"e": ("Skipped", "Skipped"), "f": ("Skipped", "Omitted")},
        "after": "none",
    }
)
def loop_without_items_is_skipped(run: Run) -> Any:
    """A loop without items is skipped: its DAG dependents are omitted, a following step reads
    its outputs' defaults."""
    tmpl = _echo()
    dag = DAG("d")
    e = Task("e", tmpl, parameters={"x": "{{item}}"}, with_param=[])
    dag.add([e, Task("f", tmpl, dependencies=[e])])
    wf = Workflow(name="emptydag", dag=dag)
    phase = run.submit(wf)
    steps = Workflow(name="emptysteps")
    first = Step("a", tmpl, parameters={"x": "{{item}}"}, with_param=[])
    steps.add(first)
    steps.add(Step("b", tmpl, parameters={"x": first.outputs.parameters["y"]}))
    run.submit(steps)
    return {
        "phase": phase,
        "nodes": _nodes(wf, ("e", "f")),
        "after": steps.query_step(name="b")[0].outputs.parameters["y"].value,
    }


def _bad_loop(**cont: bool) -> Workflow:
    """A task whose loop items cannot be read (an Error), and a task after it."""
    tmpl = _echo()
    dag = DAG("d")
    t0 = Task("t0", tmpl, parameters={"x": "not-a-list"})
    h = Task("h", tmpl, parameters={"x": "{{item}}"}, with_param=t0.outputs.parameters["y"], **cont)
    dag.add([t0, h, Task("i", tmpl, dependencies=[h])])
    return Workflow(name="errdag", dag=dag)


@case({"on_failed": ["Error", "Error", "Omitted"], "on_error": ["Succeeded", "Error", "Succeeded"]})
def an_error_is_continued_by_continue_on_error_only(run: Run) -> Any:
    """``continue_on_failed`` continues a Failed task, ``continue_on_error`` an Errored one."""
    out = {}
    for key, cont in (
        ("on_failed", {"continue_on_failed": True}),
        ("on_error", {"continue_on_error": True}),
    ):
        wf = _bad_loop(**cont)
        phase = run.submit(wf)
        out[key] = [phase, *(wf.query_step(name=n)[0].phase for n in ("h", "i"))]
    return out


@case(
    {
        "phase": "Succeeded",
        "items": [["t1(0:7)", "7"], ["t1(1:5)", "5"]],
        "lists": ['["7", "1"]', '["7", "2"]'],
    }
)
def references_inside_lists(run: Run) -> Any:
    """``with_param`` and list parameters holding references, substituted per item."""
    tmpl = _echo()
    dag = DAG("d")
    t0 = Task("t0", tmpl, parameters={"x": 7})
    t1 = Task("t1", tmpl, parameters={"x": "{{item}}"}, with_param=[t0.outputs.parameters["y"], 5])
    t2 = Task(
        "t2", tmpl, parameters={"x": [t0.outputs.parameters["y"], "{{item}}"]}, with_param=[1, 2]
    )
    dag.add([t0, t1, t2])
    wf = Workflow(name="listref", dag=dag)
    phase = run.submit(wf)
    items = sorted(
        [s.displayName, s.inputs.parameters["x"].value]
        for s in wf.query_step(name="t1", type="Pod")
    )
    lists = sorted(s.inputs.parameters["x"].value for s in wf.query_step(name="t2", type="Pod"))
    return {"phase": phase, "items": items, "lists": lists}


@case({"phase": "Succeeded", "summary": "a.txt:A:file/data/a.txt,b.txt:B:file/data/sub dir/b.txt"})
def sub_path_item_under_its_own_name(run: Run) -> Any:
    """``Slices(sub_path=True)``: the OP sees each item at ``inputs/artifacts/<name>/<item
    path>``, so under its own file name."""
    Path("data/sub dir").mkdir(parents=True)
    Path("data/a.txt").write_text("A")
    Path("data/sub dir/b.txt").write_text("B")
    art = upload_artifact(["data/a.txt", "data/sub dir/b.txt"], archive=None)
    names = Step(
        "names",
        PythonOPTemplate(
            where_is,
            slices=Slices(
                sub_path=True, input_artifact=["file"], output_parameter=["name", "text", "where"]
            ),
        ),
        artifacts={"file": art},
    )
    outs = names.outputs.parameters
    wf = Workflow(name="subpath")
    wf.add(names)
    wf.add(
        Step(
            "join",
            PythonOPTemplate(joined),
            parameters={"names": outs["name"], "texts": outs["text"], "wheres": outs["where"]},
        )
    )
    phase = run.submit(wf)
    return {
        "phase": phase,
        "summary": wf.query_step(name="join")[0].outputs.parameters["summary"].value,
    }


@case({"phase": "Succeeded", "two": '["a.txt", "b.txt"]', "none": "[]"})
def stacked_artifact_of_a_fan_out_without_items_is_empty(run: Run) -> Any:
    """A sliced fan-out's stacked output artifact lists its items' files in order, and none
    when it had no items: the step reading it gets an empty list, not an error (on Argo the
    init-artifact step made its location; pydflow's example test_loop_slices.py relies on it)."""
    out = {}
    for key, names in (("two", ["a.txt", "b.txt"]), ("none", [])):
        make = Step(
            "make",
            PythonOPTemplate(
                written,
                slices=Slices("{{item}}", input_parameter=["name"], output_artifact=["file"]),
            ),
            parameters={"name": names},
            with_param=argo_range(len(names)),
        )
        wf = Workflow(name=f"stack{len(names)}")
        wf.add(make)
        wf.add(
            Step(
                "list",
                PythonOPTemplate(listed),
                artifacts={"files": make.outputs.artifacts["file"]},
            )
        )
        out["phase"] = run.submit(wf)
        out[key] = wf.query_step(name="list")[0].outputs.parameters["names"].value
        if out["phase"] != "Succeeded":
            break
    return out


@case({"phase": "Succeeded", "after": "ab" * 8})
def big_output_of_a_steps_template(run: Run) -> Any:
    """A Steps template's output taken from a big parameter is big too: the step after it
    reads the value (on Argo, the file its inner step stored; pydflow's example
    test_big_parameter.py)."""
    steps = Steps("big-steps")
    steps.inputs.parameters["foo"] = InputParameter()
    steps.outputs.parameters["foo"] = OutputParameter()
    s1 = Step("s1", PythonOPTemplate(doubled), parameters={"foo": steps.inputs.parameters["foo"]})
    s2 = Step("s2", PythonOPTemplate(doubled), parameters={"foo": s1.outputs.parameters["foo"]})
    steps.add(s1)
    steps.add(s2)
    steps.outputs.parameters["foo"].value_from_parameter = s2.outputs.parameters["foo"]
    outer = Step("outer", steps, parameters={"foo": "ab"})
    after = Step(
        "after", PythonOPTemplate(doubled), parameters={"foo": outer.outputs.parameters["foo"]}
    )
    wf = Workflow(name="bigsteps")
    wf.add(outer)
    wf.add(after)
    phase = run.submit(wf)
    return {
        "phase": phase,
        "after": wf.query_step(name="after")[0].outputs.parameters["foo"].value,
    }


_WAIT_SH = """n=0
while [ ! -f /tmp/foo.txt ]; do
  n=$((n+1)); [ $n -gt 600 ] && exit 3; sleep 0.05
done
cat /tmp/foo.txt > /tmp/text
[ $n -gt 0 ] && echo waited > /tmp/waited || echo found > /tmp/waited
"""
_WAIT_PY = """import os, time
for n in range(600):
    if os.path.isdir("/tmp/in"):
        break
    time.sleep(0.05)
files = sorted(os.listdir("/tmp/in"))
text = " ".join(files) + ": " + " ".join(open("/tmp/in/" + f).read() for f in files)
open("/tmp/text", "w").write(text)
open("/tmp/waited", "w").write("waited" if n else "found")
"""
_WRITE_PY = """import os, time
time.sleep(1)
os.makedirs("/tmp/d")
for name, value in (("a.txt", "1"), ("b.txt", "2")):
    open("/tmp/d/" + name, "w").write(value)
raise SystemExit(0)
"""


def _reader(name: str, script: str, path: str, python: bool) -> Any:
    kind = PythonScriptOPTemplate if python else ShellOPTemplate
    t = kind(name=name, image="python:3.11" if python else "alpine:3", script=script)
    t.inputs.artifacts = {"foo": InputArtifact(path=path)}
    t.outputs.parameters = {
        n: OutputParameter(value_from_path=f"/tmp/{n}") for n in ("text", "waited")
    }
    return t


@case(
    {
        "phase": "Succeeded",
        "shell": ("Hello", "waited"),
        "python": ("a.txt b.txt: 1 2", "waited"),
        "after": "Hello",
    }
)
def artifacts_through_a_shared_volume(run: Run) -> Any:
    """pydflow's example test_async.py: a step reads another's output saved with .pvc()
    while both run (one parallel group), and sees it once its producer has succeeded: a
    file from a shell script, a directory from a Python script that ends with SystemExit(0).
    The output is passed as usual too (``after`` reads it in the next group)."""
    hello = ShellOPTemplate(
        name="hello", image="alpine:3", script="sleep 1 && echo Hello > /tmp/bar.txt"
    )
    hello.outputs.artifacts = {"bar": OutputArtifact(path="/tmp/bar.txt")}
    tree = PythonScriptOPTemplate(name="tree", image="python:3.11", script=_WRITE_PY)
    tree.outputs.artifacts = {"d": OutputArtifact(path="/tmp/d")}
    s_hello, s_tree = Step("hello", hello), Step("tree", tree)
    s_echo = Step(
        "echo",
        _reader("echo", _WAIT_SH, "/tmp/foo.txt", False),
        artifacts={"foo": s_hello.outputs.artifacts["bar"].pvc()},
    )
    s_list = Step(
        "list",
        _reader("list", _WAIT_PY, "/tmp/in", True),
        artifacts={"foo": s_tree.outputs.artifacts["d"].pvc(size="2Gi")},
    )
    wf = Workflow(name="async")
    wf.add([s_echo, s_hello, s_list, s_tree])  # the readers first: they must not block
    show = ShellOPTemplate(name="show", image="alpine:3", script="cat /tmp/x > /tmp/y")
    show.inputs.artifacts = {"x": InputArtifact(path="/tmp/x")}
    show.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/y")}
    wf.add(Step("after", show, artifacts={"x": s_hello.outputs.artifacts["bar"]}))
    phase = run.submit(wf)
    out: dict[str, Any] = {"phase": phase}
    for key, name in (("shell", "echo"), ("python", "list")):
        pars = wf.query_step(name=name)[0].outputs.parameters
        out[key] = (pars["text"].value, pars["waited"].value)
    out["after"] = wf.query_step(name="after")[0].outputs.parameters["y"].value
    return out


@case(
    {
        "phase": ["Succeeded", "Succeeded"],
        "tree": {"a.txt": "abc", "sub/b.txt": "abc!"},
        "tarred": {"a.txt": "abc", "sub/b.txt": "abc!"},
        "file": "abc",
        "op": "n.txt",
        "read": {"tar": "a.txt\nsub abc", "tree": "a.txt\nsub abc"},
    }
)
def outputs_saved_to_keys(run: Run) -> Any:
    """``save=[S3Artifact(key=...)]``: the output is stored at the templated key as well,
    as Argo's executor stores it (a tree with archive=None, one .tgz by default), and a
    user downloads it from there after the run; a Python OP's output_artifact_save too
    (``op``: its file holds its own name). The local engine stored nothing before. A later
    workflow reading the keys gets the tree, and the tarred one unpacked although its key
    does not say .tgz (``read``), as Argo's executor loads any gzipped tar."""
    from dflow import S3Artifact

    t = ShellOPTemplate(
        name="keep",
        image="alpine:3",
        script="mkdir -p /tmp/o/sub && echo -n {{inputs.parameters.x}} > /tmp/o/a.txt\n"
        "echo -n {{inputs.parameters.x}}! > /tmp/o/sub/b.txt\n"
        "echo -n {{inputs.parameters.x}} > /tmp/f.txt",
    )
    t.inputs.parameters = {"x": InputParameter()}
    at = "saved/{{workflow.name}}/{{inputs.parameters.x}}"
    t.outputs.artifacts = {
        "tree": OutputArtifact(path="/tmp/o", archive=None, save=[S3Artifact(key=at + "/tree")]),
        "tarred": OutputArtifact(path="/tmp/o", save=[S3Artifact(key=at + "/o.tgz")]),
        "plain": OutputArtifact(path="/tmp/o", save=[S3Artifact(key=at + "/o-plain")]),
        "file": OutputArtifact(path="/tmp/f.txt", archive=None, save=[S3Artifact(key=at + "/f")]),
    }
    op = PythonOPTemplate(
        written,
        output_artifact_save={"file": [S3Artifact(key="saved/{{workflow.name}}/py.tgz")]},
    )
    wf = Workflow(name="keys")
    wf.add([Step("keep", t, parameters={"x": "abc"}), Step("op", op, parameters={"name": "n.txt"})])
    out: dict[str, Any] = {"phase": run.submit(wf)}
    out["op"] = run.text(S3Artifact(key=f"saved/{wf.id}/py.tgz"))
    at = f"saved/{wf.id}/abc"
    out["tree"] = run.text(S3Artifact(key=at + "/tree"))  # archive=None: files under the key
    out["tarred"] = run.text(S3Artifact(key=at + "/o.tgz"))
    out["file"] = run.text(S3Artifact(key=at + "/f"))
    # a later workflow reads them as inputs: Argo's executor untars the default (tarred)
    # one whatever its key's name, and takes the tree as it is
    show = ShellOPTemplate(
        name="show",
        image="alpine:3",
        script='echo -n "$(ls /tmp/in) $(cat /tmp/in/a.txt)" > /tmp/y',
    )
    show.inputs.artifacts = {"in": InputArtifact(path="/tmp/in")}
    show.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/y")}
    later = Workflow(name="reads")
    tarred = S3Artifact(key=at + "/o-plain")
    later.add(
        [
            Step("tar", show, artifacts={"in": tarred}),
            Step("tree", show, artifacts={"in": S3Artifact(key=at + "/tree")}),
        ]
    )
    out["phase"] = [out["phase"], run.submit(later)]
    out["read"] = {
        n: later.query_step(name=n)[0].outputs.parameters["y"].value for n in ("tar", "tree")
    }
    return out


@pytest.mark.parametrize(
    ("name", "engine"),
    [pytest.param(n, e, id=f"{n}-{e}") for n in sorted(CASES) for e in ("local", "argo")],
)
def test_shared_rules_on_both_engines(name, engine, request):
    run = request.getfixturevalue("engine_run")  # reads `name` and `engine` from the params
    got = CASES[name](run)
    assert got == EXPECTED[name], run.explain()
