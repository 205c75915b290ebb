"""Query result objects built from Argo-format node dicts."""

from __future__ import annotations

import copy
import datetime as dt
import gc
import json
import pickle

import pytest
from dflow.argo_objects import (
    ArgoObjectDict,
    ArgoObjectList,
    ArgoParameter,
    ArgoStep,
    ArgoWorkflow,
)
from dflow.testing.collections import collections_during

INT = json.dumps({"type": "int"})


def node(id, display, type="Pod", phase="Succeeded", children=(), **extra):
    d = {
        "id": id,
        "name": f"wf.{display}",
        "displayName": display,
        "type": type,
        "phase": phase,
        "templateName": display.split("(")[0],
        "children": list(children),
    }
    d.update(extra)
    return d


@pytest.fixture
def wf_dict():
    # A Steps workflow as Argo reports it: root -> group -> hello(0), hello(1) -> group -> add
    nodes = {
        "wf": node(
            "wf",
            "wf",
            "Steps",
            children=["g0"],
            outboundNodes=["add1"],
            startedAt="2024-05-01T10:00:00Z",
            finishedAt="2024-05-01T10:01:30Z",
        ),
        "g0": node(
            "g0",
            "[0]",
            "StepGroup",
            children=["h0", "h1"],
            boundaryID="wf",
            startedAt="2024-05-01T10:00:00Z",
        ),
        "h0": node(
            "h0",
            "hello(0:a)",
            children=["g1"],
            boundaryID="wf",
            startedAt="2024-05-01T10:00:01Z",
            finishedAt="2024-05-01T10:00:11Z",
            inputs={
                "parameters": [
                    {"name": "dflow_key", "value": "hello-0"},
                    {"name": "n", "value": "3", "description": INT},
                ]
            },
            outputs={
                "parameters": [
                    {"name": "msg", "value": "hi"},
                    {"name": "num", "value": "[1, 2]", "type": "list"},
                ],
                "artifacts": [{"name": "out", "s3": {"key": "wf/h0/out.tgz"}}],
                "exitCode": "0",
            },
        ),
        "h1": node(
            "h1",
            "hello(1:b)",
            phase="Failed",
            children=["g1"],
            boundaryID="wf",
            startedAt="2024-05-01T10:00:02Z",
            finishedAt="2024-05-01T10:00:05Z",
            inputs={"parameters": [{"name": "dflow_key", "value": "hello-1"}]},
        ),
        "g1": node(
            "g1",
            "[1]",
            "StepGroup",
            children=["add1"],
            boundaryID="wf",
            startedAt="2024-05-01T10:00:12Z",
        ),
        "add1": node(
            "add1",
            "add",
            phase="Running",
            boundaryID="wf",
            startedAt="2024-05-01T10:00:13Z",
            inputs={"parameters": [{"name": "dflow_key", "value": ""}]},
        ),
    }
    return {
        "metadata": {"name": "wf", "uid": "u-1"},
        "status": {"phase": "Running", "startedAt": "2024-05-01T10:00:00Z", "nodes": nodes},
    }


def test_object_dict_attribute_access_and_recover():
    d = ArgoObjectDict({"a": {"b": [{"c": 1}, 2]}, "items": 5})
    assert d.a.b[0].c == 1
    assert isinstance(d.a.b, ArgoObjectList)
    assert d["items"] == 5
    d.x = {"y": 2}
    assert d["x"].y == 2
    plain = d.recover()
    assert plain == {"a": {"b": [{"c": 1}, 2]}, "items": 5, "x": {"y": 2}}
    assert type(plain["a"]) is dict and type(plain["a"]["b"]) is list
    with pytest.raises(AttributeError, match="no attribute or key 'missing'"):
        _ = d.missing
    assert not hasattr(d, "missing")
    assert pickle.loads(pickle.dumps(d)).a.b[0].c == 1
    assert copy.deepcopy(d) == d
    assert json.loads(json.dumps(d)) == plain


def test_parameter_value_decoded_by_type():
    assert ArgoParameter({"name": "n", "value": "3", "description": INT}).value == 3
    assert ArgoParameter({"name": "n", "value": "3"}).value == "3"
    assert ArgoParameter({"name": "n", "value": "[1]", "type": "list"}).value == [1]
    assert ArgoParameter({"name": "s", "value": "x", "type": "str"}).value == "x"
    p = ArgoParameter({"name": "n", "value": "3", "description": INT})
    assert p.recover() == {"name": "n", "value": "3", "description": INT}


def test_workflow_id_from_metadata_or_top_level(wf_dict):
    assert ArgoWorkflow(wf_dict).id == "wf"
    assert ArgoWorkflow(wf_dict).uid == "u-1"
    # pydflow's local submit built ArgoWorkflow({"id": ...}) and got id None
    local = ArgoWorkflow({"id": "local-abc", "status": {"phase": "Succeeded"}})
    assert local.id == "local-abc" and local.status.phase == "Succeeded"
    assert ArgoWorkflow({"id": "x"}).status == {}


def test_step_conveniences(wf_dict):
    wf = ArgoWorkflow(wf_dict)
    (h0,) = wf.get_step(id="h0")
    assert h0.key == "hello-0"
    assert h0.workflow_id == "wf"
    assert h0.inputs.parameters["n"].value == 3
    assert h0.outputs.parameters["msg"].value == "hi"
    assert h0.outputs.parameters["num"].value == [1, 2]
    assert h0.outputs.artifacts["out"].s3.key == "wf/h0/out.tgz"
    assert h0.outputs.exitCode == "0"
    assert h0.get_duration() == dt.timedelta(seconds=10)
    (add,) = wf.get_step(name="add")
    assert add.key is None  # an empty dflow_key means unkeyed
    assert add.outputs.parameters == {} and add.outputs.artifacts == {}
    assert add.get_duration() > dt.timedelta(days=1)  # running: counts up to now


def test_get_step_filters(wf_dict):
    wf = ArgoWorkflow(wf_dict)
    assert [s.id for s in wf.get_step(name="hello")] == ["h0", "h1"]
    assert [s.id for s in wf.get_step(name=["hello", "add"])] == ["h0", "h1", "add1"]
    assert wf.get_step(name="hell") == []  # not a prefix match without "("
    assert [s.id for s in wf.get_step(key=["hello-1", "nope"])] == ["h1"]
    assert [s.id for s in wf.get_step(phase=["Failed", "Running"])] == ["h1", "add1"]
    assert [s.id for s in wf.get_step(type="StepGroup")] == ["g0", "g1"]
    assert [s.id for s in wf.get_step(name="hello", phase="Succeeded")] == ["h0"]
    # start order
    assert [s.id for s in wf.get_step()] == ["wf", "g0", "h0", "h1", "g1", "add1"]


def test_sub_nodes_and_generation_order(wf_dict):
    wf_dict["status"]["nodes"]["wf"]["startedAt"] = "2024-05-01T11:00:00Z"  # out of order
    wf = ArgoWorkflow(wf_dict)
    assert [s.id for s in wf.get_sub_nodes("g0")] == ["h0", "h1", "g1", "add1"]
    assert [s.id for s in wf.get_step(sort_by_generation=True)] == [
        "wf",
        "g0",
        "h0",
        "h1",
        "g1",
        "add1",
    ]
    assert [s.id for s in wf.get_step(parent_id="wf", type="Pod")] == ["h0", "h1", "add1"]
    assert [s.id for s in wf.get_step(parent_id="g1")] == ["add1"]
    with pytest.raises(KeyError, match="no node 'zz'"):
        wf.get_sub_nodes("zz")


def test_sub_nodes_stop_at_template_boundary():
    # a nested Steps node "inner" whose last pod links on to "after" in the outer template
    nodes = {
        "wf": node("wf", "wf", "Steps", children=["g0"]),
        "g0": node("g0", "[0]", "StepGroup", children=["inner"], boundaryID="wf"),
        "inner": node(
            "inner", "inner", "Steps", children=["ig"], boundaryID="wf", outboundNodes=["p"]
        ),
        "ig": node("ig", "[0]", "StepGroup", children=["p"], boundaryID="inner"),
        "p": node("p", "p", children=["g1"], boundaryID="inner"),
        "g1": node("g1", "[1]", "StepGroup", children=["after"], boundaryID="wf"),
        "after": node("after", "after", boundaryID="wf"),
    }
    wf = ArgoWorkflow({"metadata": {"name": "wf"}, "status": {"nodes": nodes}})
    assert [s.id for s in wf.get_sub_nodes("inner")] == ["ig", "p"]
    assert [s.id for s in wf.get_sub_nodes("wf")] == ["g0", "inner", "ig", "p", "g1", "after"]


def test_modify_outputs_and_recover(wf_dict):
    (h0,) = ArgoWorkflow(wf_dict).get_step(id="h0")
    h0.modify_output_parameter("msg", {"a": 1})
    assert h0.outputs.parameters["msg"].value == {"a": 1}
    with pytest.raises(KeyError, match="no output parameter 'nope'.*has: msg, num"):
        h0.modify_output_parameter("nope", 1)

    class S3Like:
        key = "new/key.tgz"
        secret_key = "must-not-travel"

    h0.modify_output_artifact("out", S3Like())
    art = h0.outputs.artifacts["out"]
    assert art.s3 == {"key": "new/key.tgz"} and art.modified.old_key == "wf/h0/out.tgz"
    assert "must-not-travel" not in json.dumps(h0.recover())
    h0.modify_output_artifact("out", {"s3": {"key": "k2"}})
    assert h0.outputs.artifacts["out"].s3.key == "k2"
    with pytest.raises(TypeError, match="expects a location dict"):
        h0.modify_output_artifact("out", 3)
    back = h0.recover()
    assert back["inputs"]["parameters"][0] == {"name": "dflow_key", "value": "hello-0"}
    assert {"name": "num", "value": "[1, 2]", "type": "list"} in back["outputs"]["parameters"]
    assert {"name": "msg", "value": '{"a": 1}', "type": "dict"} in back["outputs"]["parameters"]
    assert back["outputs"]["artifacts"][0]["name"] == "out"
    # a recovered node builds the same step again
    again = ArgoStep(back, "wf")
    assert again.key == "hello-0" and again.outputs.parameters["msg"].value == {"a": 1}


def test_big_parameter_read_lazily(tmp_path):
    (tmp_path / "bp").mkdir()
    (tmp_path / "bp" / "x").write_text("[1, 2, 3]")
    (tmp_path / "bp" / ".dflow").mkdir()
    (tmp_path / "bp" / ".dflow" / "catalog").write_text("ignored")
    step = ArgoStep(
        node(
            "s",
            "s",
            outputs={
                "artifacts": [
                    {"name": "dflow_bigpar_x", "local_path": str(tmp_path / "bp"), "type": "list"}
                ]
            },
        ),
        "wf",
    )
    calls = []
    step.set_artifact_loader(lambda art: calls.append(art.name) or "[4]")
    p = step.outputs.parameters["x"]
    assert calls == []
    assert p.value == [4] and p["value"] == [4] and calls == ["dflow_bigpar_x"]
    assert p.value == [4] and calls == ["dflow_bigpar_x"]  # read once
    # the default loader reads local_path (the local engine's artifacts)
    local = ArgoStep(step.recover(), "wf")
    assert local.outputs.parameters["x"].value == [1, 2, 3]


def test_retry_delegates_to_engine(wf_dict):
    calls = []

    class Engine:
        def retry(self, workflow_id, step_ids=None):
            calls.append((workflow_id, step_ids))

    wf = ArgoWorkflow(wf_dict)
    with pytest.raises(RuntimeError, match="not obtained from an engine"):
        wf.get_step(id="h1")[0].retry()
    wf.set_engine(Engine())
    wf.get_step(id="h1")[0].retry()
    assert calls == [("wf", ["h1"])]


def test_durations_accept_epoch_numbers():
    wf = ArgoWorkflow({"id": "w", "status": {"startedAt": 100.0, "finishedAt": 160.5}})
    assert wf.get_duration() == dt.timedelta(seconds=60.5)
    assert ArgoStep({"id": "s"}).get_duration() == dt.timedelta(0)


def test_workflow_nodes_read_as_attribute_dicts_every_way(wf_dict):
    # status.nodes is wrapped node by node when read (a 10,000-slice query wrapped them all):
    # every way user code reads it must still give attribute dicts
    def fresh():
        return ArgoWorkflow(copy.deepcopy(wf_dict))

    assert fresh().status.nodes["h0"].outputs.parameters[0].value == "hi"
    assert fresh().status.nodes.h1.phase == "Failed"
    assert fresh().status.nodes.get("add1").phase == "Running"
    assert fresh().status.nodes.get("nope", 7) == 7
    assert [n.displayName for n in fresh().status.nodes.values()][:2] == ["wf", "[0]"]
    assert {k: n.phase for k, n in fresh().status.nodes.items()}["h1"] == "Failed"
    assert dict(fresh().status.nodes)["h0"].inputs.parameters[1].name == "n"
    assert {**fresh().status.nodes}["g0"].boundaryID == "wf"
    assert fresh().status.nodes.copy()["g1"].children == ["add1"]
    assert fresh().status.nodes.pop("add1").phase == "Running"
    assert fresh().status.nodes.setdefault("h0").type == "Pod"
    assert pickle.loads(pickle.dumps(fresh().status.nodes))["h1"].phase == "Failed"
    assert copy.deepcopy(fresh()).status.nodes["h0"].phase == "Succeeded"
    wf = fresh()
    assert json.loads(json.dumps(wf)) == wf_dict
    assert wf.recover() == wf_dict
    assert wf.status.nodes == wf_dict["status"]["nodes"]
    assert len(wf.status.nodes) == 6 and "h0" in wf.status.nodes
    # a change made through the nodes is what the step queries see
    wf.status.nodes["h1"].phase = "Succeeded"
    assert [s.id for s in wf.get_step(phase="Failed")] == []
    assert wf.get_step(name="hello")[1].phase == "Succeeded"


def test_a_query_makes_steps_of_the_matching_nodes_only(wf_dict, monkeypatch):
    """A query for one step of a big fan-out makes one ArgoStep (not one per node, ~100 µs
    each), and leaves the other nodes as stored: the same answers as making them all."""
    import dflow.argo_objects as ao

    nodes = dict(wf_dict["status"]["nodes"])
    for i in range(2000):
        started = dt.datetime(2024, 5, 2) + dt.timedelta(seconds=2000 - i)
        nodes[f"s{i}"] = node(
            f"s{i}",
            f"square({i})",
            phase="Failed" if i == 7 else "Succeeded",
            startedAt=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    big = {**wf_dict, "status": {**wf_dict["status"], "nodes": nodes}}
    made = []

    class CountedStep(ArgoStep):
        def __init__(self, step, workflow_id=None):
            made.append(step["id"])
            super().__init__(step, workflow_id)

    monkeypatch.setattr(ao, "ArgoStep", CountedStep)
    wf = ArgoWorkflow(copy.deepcopy(big))
    assert [s.id for s in wf.get_step(name="add")] == ["add1"]
    assert [s.id for s in wf.get_step(name="square", phase="Failed")] == ["s7"]
    assert [s.id for s in wf.get_step(id=["h0", "s1999"])] == ["h0", "s1999"]
    assert made == ["add1", "s7", "h0", "s1999"]
    stored = dict.values(wf.status.nodes)  # not wrapped by the queries
    assert sum(type(n) is dict for n in stored) == len(nodes)
    # start order holds among the matches: the later a slice's index, the earlier it started
    squares = wf.get_step(name="square")
    assert [s.id for s in squares] == [f"s{i}" for i in reversed(range(2000))]
    assert [s.id for s in wf.get_step(key="hello-1")] == ["h1"]


def test_deferred_nodes_are_made_once_when_read_and_read_as_eager_ones(wf_dict):
    """An engine may give a query's nodes as DeferredNode: made on first read, once, and
    every way of reading the workflow gives what the eager dicts give."""
    from dflow.argo_dicts import DeferredNode

    made: list[str] = []

    def deferred():
        nodes = {}
        for i, d in wf_dict["status"]["nodes"].items():
            nodes[i] = DeferredNode(lambda i=i, d=d: made.append(i) or copy.deepcopy(d))
        return ArgoWorkflow({**wf_dict, "status": {**wf_dict["status"], "nodes": nodes}})

    wf = deferred()
    assert wf.status.phase == "Running" and made == []
    assert wf.status.nodes["h1"].phase == "Failed" and made == ["h1"]
    assert wf.status.nodes.h1.inputs.parameters[0].value == "hello-1" and made == ["h1"]
    eager = ArgoWorkflow(copy.deepcopy(wf_dict))
    assert deferred().status.nodes == eager.status.nodes
    assert eager.status.nodes == deferred().status.nodes
    assert deferred().status.nodes == deferred().status.nodes
    assert not (deferred().status.nodes != wf_dict["status"]["nodes"])
    assert repr(deferred().status.nodes) == repr(eager.status.nodes)
    assert json.loads(json.dumps(deferred())) == wf_dict
    assert deferred().recover() == wf_dict
    assert pickle.loads(pickle.dumps(deferred().status.nodes))["h0"].phase == "Succeeded"
    assert copy.deepcopy(deferred()).status.nodes["g1"].children == ["add1"]
    assert [s.id for s in deferred().get_step(phase=["Failed", "Running"])] == ["h1", "add1"]
    below = [s.id for s in eager.get_sub_nodes("g0")]
    assert [s.id for s in deferred().get_sub_nodes("g0")] == below and "h1" in below
    made.clear()
    wf = deferred()
    [n.phase for n in wf.status.nodes.values()]
    list(wf.status.nodes.values())
    assert sorted(made) == sorted(wf_dict["status"]["nodes"])  # each made once


def test_walking_the_nodes_reads_them_a_fixed_number_of_times(wf_dict, monkeypatch):
    """``get_sub_nodes`` and the generation order look each child's boundary up in the nodes
    read once, not once per child (a copy of every node per child: 10 s for 10,000 slices)."""
    nodes = dict(wf_dict["status"]["nodes"])
    nodes["g0"] = {**nodes["g0"], "children": ["h0", "h1", *(f"s{i}" for i in range(500))]}
    for i in range(500):
        nodes[f"s{i}"] = node(f"s{i}", f"square({i})", boundaryID="wf")
    wf = ArgoWorkflow({**wf_dict, "status": {**wf_dict["status"], "nodes": nodes}})
    reads = []
    real = ArgoWorkflow._nodes
    monkeypatch.setattr(ArgoWorkflow, "_nodes", lambda self: reads.append(1) or real(self))
    below = [s.id for s in wf.get_sub_nodes("g0")]
    assert below[:2] == ["h0", "h1"] and len(below) == 504 and len(reads) == 1
    ordered = [s.id for s in wf.get_step(sort_by_generation=True)]
    assert ordered[:3] == ["wf", "g0", "h0"] and len(ordered) == len(nodes)
    assert len(reads) < 10


def test_a_query_of_thousands_of_steps_runs_no_cyclic_collection():
    """Each collection during a big query walked the query made so far (a 100,000-slice
    query took 9-10 s, 5-6 s without them): the collector waits until the steps are made,
    and is on again after."""
    nodes = {
        f"n{i}": node(
            f"n{i}",
            f"sq({i})",
            inputs={"parameters": [{"name": "x", "value": str(i), "description": INT}]},
        )
        for i in range(3000)
    }
    wf = ArgoWorkflow({"metadata": {"name": "wf"}, "status": {"nodes": nodes}})
    steps, collections = collections_during(lambda: wf.get_step(name="sq"))
    assert len(steps) == 3000 and steps[2999].inputs.parameters["x"].value == 2999
    # at most the one collection the collector runs first when it is back on
    assert len(collections) <= 1, collections
    assert gc.isenabled()


def test_collector_pauses_nest_and_leave_a_callers_gc_disable_alone():
    from dflow.gc_pause import gc_paused

    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # the caller turned it off: it stays off
    finally:
        gc.enable()


def test_reading_thousands_of_nodes_at_once_runs_no_cyclic_collection():
    """``wf.status.nodes.values()`` (and ``items()``, ``recover()``, ``==``) make and wrap every
    node at once, as ``get_step`` does: the same pause (``_LazyNodes``)."""
    nodes = {f"n{i}": node(f"n{i}", f"sq({i})") for i in range(3000)}
    wf = ArgoWorkflow({"metadata": {"name": "wf"}, "status": {"nodes": nodes}})
    values, collections = collections_during(lambda: list(wf.status.nodes.values()))
    assert len(values) == 3000 and values[2999].displayName == "sq(2999)"
    assert len(collections) <= 1, collections
