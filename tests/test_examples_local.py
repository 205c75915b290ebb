"""Every example runs on the local engine and produces what its docstring promises."""

from __future__ import annotations

from pathlib import Path


def outputs(step) -> dict:
    return {k: v.value for k, v in step.outputs.parameters.items() if not k.startswith("dflow_")}


def test_quickstart(in_tmp, example):
    ex = example("quickstart")
    ex.main()
    assert (in_tmp / "downloaded" / "bar.txt").read_text() == "one two three\n" * 3


def test_steps_and_dag(in_tmp, example):
    ex = example("steps_and_dag")
    wf = ex.build_steps()
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert wf.query_step(name="total")[0].outputs.parameters["c"].value == 66
    left = wf.query_step(name="left")[0]
    assert left.type == "Steps" and left.outputs.parameters["result"].value == 6
    wf = ex.build_dag()
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert wf.query_step(name="d")[0].outputs.parameters["c"].value == 8
    assert wf.query_step(name="e")[0].phase == "Succeeded"


def test_recursion_stops_on_when(in_tmp, example):
    wf = example("recurse").build(limit=4)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert sorted(s.key for s in wf.query_step(name="add")) == [f"iter-{i}" for i in range(4)]
    assert [s.outputs.parameters["iter"].value for s in wf.query_step(key="iter-3")] == [4]


def test_conditional_outputs(in_tmp, example):
    ex = example("conditional_outputs")
    for seed, expected, skipped in ((7, "high:7", "low"), (12, "low:2", "high")):
        wf = ex.build(seed)
        wf.submit()
        main = wf.query_step(name="main")[0]
        assert main.outputs.parameters["msg"].value == expected
        assert wf.query_step(name=skipped)[0].phase == "Skipped"


def test_loops(in_tmp, example):
    wf = example("loops").build(n=4)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    shouted = sorted(
        s.outputs.parameters["out"].value for s in wf.query_step(name="shout", type="Pod")
    )
    assert shouted == ["ITEM-0", "ITEM-1", "ITEM-2", "ITEM-3"]
    squares = {
        s.key: s.outputs.parameters["y"].value
        for s in wf.query_step(type="Pod")
        if s.key and s.key.startswith("square-")
    }
    assert squares == {"square-0": 0, "square-1": 1, "square-2": 4, "square-3": 9}
    seq = sorted(
        s.outputs.parameters["out"].value
        for s in wf.query_step(type="Pod")
        if s.displayName.startswith("seq")
    )
    assert seq == ["NO-00", "NO-01", "NO-02", "NO-03"]


def test_slices(in_tmp, example):
    wf = example("slices").build(["alpha", "beta", "gamma"])
    wf.submit()
    total = wf.query_step(name="total")[0]
    assert outputs(total) == {"sum": 14, "text": "alphabetagamma"}


def test_error_handling(in_tmp, example):
    wf = example("error_handling").build(str(in_tmp))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    retry = wf.query_step(name="retry")[0]
    assert retry.outputs.parameters["attempts"].value == 3
    assert Path(in_tmp / "flaky-attempts").read_text() == "3"
    assert wf.query_step(name="timeout")[0].phase == "Failed"
    items = [s for s in wf.query_step(type="Pod") if s.displayName.startswith("ratio(")]
    assert sorted(s.phase for s in items) == ["Failed"] * 2 + ["Succeeded"] * 6
