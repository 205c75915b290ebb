"""Query filters (lists, id, parent_id, generations), copy methods, step events."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dflow import InputArtifact, ShellOPTemplate, Step, Steps, Workflow, upload_artifact
from dflow.python import PythonOPTemplate
from local_engine_ops import Add


def _nested_workflow():
    inner = Steps("inner")
    inner.add(Step("leaf", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}, key="the-leaf"))
    wf = Workflow("q")
    wf.add(Step("top", PythonOPTemplate(Add), parameters={"a": 1, "b": 2}))
    wf.add(Step("nest", inner))
    return wf


def test_filters_lists_ids_parents_generations(workdir):
    wf = _nested_workflow()
    wf.submit()
    assert [s.displayName for s in wf.query_step(name=["top", "leaf"])] == ["top", "leaf"]
    assert {s.type for s in wf.query_step(type=["Steps"])} == {"Steps"}
    [nest] = wf.query_step(name="nest")
    assert [s.key for s in wf.query_step(parent_id=nest.id)] == ["the-leaf"]
    [leaf] = wf.query_step(id="the-leaf")
    assert leaf.phase == "Succeeded" and leaf.get_duration().total_seconds() >= 0
    gen = [s.displayName for s in wf.query_step(sort_by_generation=True)]
    assert gen.index("nest") < gen.index("leaf")
    assert wf.query_keys_of_steps() == ["the-leaf"]
    assert wf.query().get_duration().total_seconds() > 0


@pytest.mark.parametrize("method", ["symlink", "link", "copy"])
def test_copy_methods(workdir, method):
    from dflow.config import config

    config["debug_copy_method"] = method
    os.makedirs("src")
    Path("src/f.txt").write_text("x")
    t = ShellOPTemplate(name="cat", script="cat /tmp/inputs/artifacts/i/src/f.txt")
    t.inputs.artifacts = {"i": InputArtifact(path="/tmp/inputs/artifacts/i")}
    from dflow.backends import get_storage_client

    art = upload_artifact("src", archive=None)
    wf = Workflow("copy")
    wf.add(Step("cat", t, artifacts={"i": art}))
    wf.submit()
    [s] = wf.query_step(name="cat")
    assert s.phase == "Succeeded"
    # as in pydflow: the step's inputs/ links to the artifact; the method places it in workdir
    assert (workdir / wf.id / s.id / "inputs" / "artifacts" / "i").is_symlink()
    placed = workdir / wf.id / s.id / "workdir" / "tmp" / "inputs" / "artifacts" / "i"
    assert placed.is_symlink() == (method == "symlink")
    # "link" is a hard link of the stored file itself (the same inode), "copy" a new file
    stored = Path(get_storage_client().local_path(art.key), "src", "f.txt").stat()
    got = (placed / "src" / "f.txt").lstat()
    assert (got.st_ino == stored.st_ino) == (method in ("symlink", "link")), method
    assert (got.st_nlink >= 2) == (method == "link"), method
    assert (workdir / wf.id / s.id / "log.txt").read_text() == "x"


def test_step_events_reach_observers(workdir):
    from dflow.plugins import hookimpl
    from dflow.plugins.manager import get_plugin_manager

    seen = []

    class Observer:
        @hookimpl
        def dflow_step_event(self, event):
            seen.append((event.name, event.phase))

    pm = get_plugin_manager()
    obs = Observer()
    pm.register(obs, name="test-observer")
    try:
        wf = Workflow("events")
        wf.add(Step("one", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}))
        wf.submit()
    finally:
        pm.unregister("test-observer")
    assert ("one", "Running") in seen and ("one", "Succeeded") in seen


def test_a_query_makes_a_node_when_it_is_read(workdir, monkeypatch):
    """``submit`` returns the run's workflow without making its nodes' dicts or parsing their
    journaled inputs and outputs (a fan-out of 100,000 slices: seconds); each is made once,
    when read, and reads as an eager one."""
    import json

    import dflow_engine_local.query as query

    made = []
    node_dict = query.node_dict

    def counted(node, children, wf_dir):
        made.append(node.id)
        return node_dict(node, children, wf_dir)

    monkeypatch.setattr(query, "node_dict", counted)
    parsed = []  # rows whose inputs and outputs were read from their JSON
    from_row = query.Node.from_row

    def parse(row):
        parsed.append(row[0])
        return from_row(row)

    monkeypatch.setattr(query.Node, "from_row", parse)
    wf = Workflow("lazy")
    s = Step("add", PythonOPTemplate(Add), parameters={"a": 1, "b": 2})
    wf.add(s)
    result = wf.submit()
    assert result.status.phase == "Succeeded" and made == [] and parsed == []
    [node_id] = [i for i in result.status.nodes if i != result.id]
    assert result.status.nodes[node_id].outputs.parameters[0].value == "3"
    assert made == [node_id] and parsed == [node_id]
    assert result.status.nodes[node_id].phase == "Succeeded" and made == [node_id]
    eager = json.loads(json.dumps(wf.query()))
    assert json.loads(json.dumps(result)) == eager
    assert result.status.nodes == wf.query().status.nodes
    assert [x.id for x in wf.query().get_step(name="add")] == [node_id]


def test_the_record_of_a_wide_fan_out_is_built_with_the_collector_paused(workdir):
    """``submit`` returns the run's record, and each cyclic collection while it was built
    walked all it had built so far: 100,000 slices took 5.2 s after the run's end, 1.5 s
    without them. At most one runs: the collector's first when it is back on."""
    import gc

    from dflow.python import Slices
    from dflow.testing.collections import collections_during
    from local_engine_ops import Square

    fan = Step(
        "sq",
        PythonOPTemplate(Square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
        parameters={"x": list(range(1500))},
    )
    wf = Workflow("wide")
    wf.add(fan)
    wf.submit()
    record, seen = collections_during(wf.query)
    assert len(record.status.nodes) == 1502  # the workflow, sq and its 1,500 slices
    assert len(seen) <= 1, seen
    assert gc.isenabled()
