"""PhaseTracker (polled statuses -> step events) and ProgressModel (events -> progress lines)."""

from __future__ import annotations

from dflow.events import PhaseTracker
from dflow.progress import ProgressModel, describe


def _node(i: str, phase: str, type_: str = "Pod", **extra) -> dict:
    return {"id": i, "displayName": extra.pop("name", i), "phase": phase, "type": type_, **extra}


def test_tracker_reports_each_change_once_in_order() -> None:
    tracker = PhaseTracker("wf")
    group = {"children": ["a", "b"], "boundaryID": "wf"}
    first = [
        _node("wf", "Running", "Steps", children=["g"]),
        _node("g", "Running", "StepGroup", **group),
        _node("b", "Running", name="sq(1:1)", boundaryID="wf", startedAt="T1"),
        _node("a", "Pending", name="sq(0:0)", boundaryID="wf"),
    ]
    events = tracker.changes(first)
    assert [(e.step_id, e.phase, e.parent_id) for e in events] == [
        ("wf", "Running", None),
        ("g", "Running", "wf"),
        ("a", "Pending", "g"),
        ("b", "Running", "g"),
    ]
    assert tracker.changes(first) == []  # polled again, nothing changed: no event
    done = [
        _node("wf", "Failed", "Steps", children=["g"], finishedAt="T3"),
        _node("g", "Failed", "StepGroup", finishedAt="T3", **group),
        _node("b", "Failed", name="sq(1:1)", boundaryID="wf", finishedAt="T2"),
        _node("a", "Succeeded", name="sq(0:0)", boundaryID="wf", finishedAt="T3"),
    ]
    # children close before their parents, the earlier finish first
    assert [(e.step_id, e.phase) for e in tracker.changes(done)] == [
        ("b", "Failed"),
        ("a", "Succeeded"),
        ("g", "Failed"),
        ("wf", "Failed"),
    ]


def test_progress_folds_a_fan_out_into_one_line() -> None:
    tracker = PhaseTracker("wf")
    model = ProgressModel("wf")
    items = [f"i{k}" for k in range(4)]
    snapshot = [
        _node("wf", "Running", "Steps", children=["g"]),
        _node("g", "Running", "StepGroup", children=items, boundaryID="wf"),
    ]
    phases = ["Succeeded", "Failed", "Running", "Pending"]
    snapshot += [
        _node(i, p, name=f"square({k}:{k})")
        for k, (i, p) in enumerate(zip(items, phases, strict=True))
    ]
    for event in tracker.changes(snapshot):
        model.apply(event)
    [line] = model.lines()
    assert (line.label, line.total, line.done, line.failed, line.running) == ("square", 4, 1, 1, 1)
    assert describe(line, line.first + 2).startswith("square (4): 1/4 done, 1 failed, 1 running, ")
    assert model.summary().startswith("wf Running ")


def test_a_group_states_its_fan_out_size() -> None:
    model = ProgressModel("wf")
    tracker = PhaseTracker("wf")
    snapshot = [
        _node("wf", "Running", "Steps", children=["g"]),
        _node("g", "Running", "StepGroup", children=["i0"], boundaryID="wf", progress="0/10"),
        _node("i0", "Succeeded", name="square(0:0)"),
    ]
    for event in tracker.changes(snapshot):
        model.apply(event)
    [line] = model.lines()
    assert (line.total, line.done) == (10, 1)  # the items not opened yet count
