"""What a user sees of a run, the same on both engines: step events, the failure report.

``local`` runs on the local engine (events as it runs); ``argo`` through ArgoEngine, the
stand-in Argo Server and the conformance harness's emulated controller (events from the
statuses ``wait()`` polls). The harness is test code emulating Argo, not an engine.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from dflow import InputParameter, Step, Workflow, argo_range, config, hookimpl
from dflow.plugins.manager import get_plugin_manager
from dflow.reporting import WorkflowFailed

sys.path.insert(0, str(Path(__file__).parent))
from test_conformance import Run, sh
from test_conformance import run as run


class _Tee:
    """A stream that sets ``event`` once ``marker`` is written through it."""

    def __init__(self, inner, marker: str, event: threading.Event) -> None:
        self.inner, self.marker, self.event = inner, marker, event

    def write(self, text: str) -> int:
        written = self.inner.write(text)
        if self.marker in text:
            self.event.set()
        return written

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class Recorder:
    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def dflow_step_event(self, event) -> None:
        self.events.append(event)


def _workflow() -> Workflow:
    hello = sh("hello", "echo hello")
    item = sh("item", "echo item {{inputs.parameters.i}}; test {{inputs.parameters.i}} -ne 1")
    item.inputs.parameters = {"i": InputParameter()}
    wf = Workflow(name="events")
    wf.add(Step("hello", hello))
    wf.add(Step("item", item, parameters={"i": "{{item}}"}, with_param=argo_range(3)))
    return wf


@pytest.mark.parametrize(("name", "engine"), [("events", "local"), ("events", "argo")])
def test_step_events_and_failure_report(name, engine, run: Run, capsys) -> None:
    recorder = Recorder()
    pm = get_plugin_manager()
    label = pm.register(recorder, "test-recorder")
    try:
        wf = _workflow()
        wf.raise_on_failure = True
        with pytest.raises(WorkflowFailed) as failed:
            wf.submit()
            wf.wait(interval=0.05)  # the local engine has finished in submit(); Argo runs on
    finally:
        pm.unregister(label)
    events = [e for e in recorder.events if e.workflow_id == wf.id]

    # one event per phase change, never the same phase twice in a row for a node
    by_node: dict[str, list[str]] = {}
    for e in events:
        assert by_node.get(e.step_id, [None])[-1] != e.phase, (e, by_node.get(e.step_id))
        by_node.setdefault(e.step_id, []).append(e.phase)
    final = {e.name: by_node[e.step_id][-1] for e in events if e.type == "Pod"}
    assert final == {
        "hello": "Succeeded",
        "item(0:0)": "Succeeded",
        "item(1:1)": "Failed",
        "item(2:2)": "Succeeded",
    }
    # in order: a node's parent is reported before it, and finishes after it
    position = {}
    for i, e in enumerate(events):
        position.setdefault((e.step_id, "first"), i)
        position[(e.step_id, "last")] = i
    shown = [(x.name, x.type, x.phase, x.step_id[-6:], (x.parent_id or "")[-6:]) for x in events]
    root = [e for e in events if e.parent_id is None]
    assert {e.step_id for e in root} == {wf.id}
    for e in events:
        if e.parent_id is not None:
            assert position[(e.parent_id, "first")] < position[(e.step_id, "first")]
            assert position[(e.parent_id, "last")] > position[(e.step_id, "last")], "\n".join(
                map(str, shown)
            )

    # the exception carries the failing step; stderr says it loudly, with its log
    [step] = failed.value.steps
    assert (step.name, step.phase) == ("item(1:1)", "Failed")
    err = capsys.readouterr().err
    assert f"dflow: workflow {wf.id} submitted on the" in err or f"workflow {wf.id} running" in err
    assert f"dflow: workflow {wf.id} Failed" in err
    assert f"  step item(1:1) ({step.id}) Failed: " in err
    assert "    | item 1" in err  # the last lines of its log
    # ...shown once: not again in the step's and the workflow's messages, which carry them
    assert err.count("item 1") == 1, err
    assert f"    more: dflow logs {wf.id} {step.id}" in err

    # dflow get: the tree by containment, the fan-out folded
    from dflow.cli import main

    assert main(["get", wf.id]) == 0
    rows = capsys.readouterr().out.splitlines()
    steps = rows[rows.index(next(r for r in rows if r.startswith("STEP"))) + 1 :]
    assert [r.split()[0] for r in steps[:2]] == [wf.id, "hello"]
    assert steps[1].startswith("  hello ")
    assert steps[2].startswith("  item (3) ") and steps[2].split()[2:] == [
        "2",
        "Succeeded,",
        "1",
        "Failed",
    ]
    assert steps[3].startswith("    item(1:1) ") and len(steps) == 4


def test_quiet_keeps_only_the_failure(in_tmp, capsys, monkeypatch) -> None:
    monkeypatch.setitem(config, "quiet", True)
    wf = _workflow()
    wf.submit()  # pydflow's contract: submit() returns, the status says Failed
    assert wf.query_status() == "Failed"
    err = capsys.readouterr().err
    assert "running on the local engine" not in err and "[dflow]" not in err
    assert err.startswith(f"dflow: workflow {wf.id} Failed")


@pytest.mark.parametrize(("name", "engine"), [("watch", "local"), ("watch", "argo")])
def test_dflow_watch_shows_progress(name, engine, run: Run, capsys, monkeypatch) -> None:
    from dflow.cli import main

    monkeypatch.setitem(config, "progress_interval", 1)
    # the items run until the watch has drawn them running (however loaded the machine)
    hold = run.workdir / "hold"
    slow = sh(
        "slow",
        f"while [ ! -e {hold} ]; do sleep 0.05; done; test {{{{inputs.parameters.i}}}} -ne 1",
    )
    slow.inputs.parameters = {"i": InputParameter()}
    run.share_workdir(slow)
    wf = Workflow(name="watched")
    wf.add(Step("slow", slow, parameters={"i": "{{item}}"}, with_param=argo_range(3)))
    wf.submit(wait=False)  # the local engine runs it in the background
    capsys.readouterr()
    drawn = threading.Event()
    monkeypatch.setattr(sys, "stderr", _Tee(sys.stderr, "[dflow] slow (3): ", drawn))
    opener = threading.Thread(target=lambda: (drawn.wait(120), hold.touch()), daemon=True)
    opener.start()
    try:
        assert main(["watch", wf.id, "-i", "0.1"]) == 1  # it fails: item 1
    finally:
        hold.touch()
        opener.join()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert any(line.startswith(f"[dflow] {wf.id} Running ") for line in lines), err
    assert any(line.startswith("[dflow] slow (3): ") for line in lines), err
    assert f"dflow: workflow {wf.id} Failed" in err
    assert "  step slow(1:1) (" in err
