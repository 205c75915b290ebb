"""Lifecycle hooks with Argo's expression semantics; failfast and batched item submission."""

from __future__ import annotations

from pathlib import Path

from dflow import DAG, HookStep, ShellOPTemplate, Step, Task, Workflow
from dflow.python import PythonOPTemplate
from local_engine_ops import Add


def _marker(mark, text):
    return ShellOPTemplate(name=f"mark-{text}", script=f"echo {text} >> {mark}")


def test_running_hook_runs_while_the_step_runs(workdir):
    mark = workdir / "marks.txt"
    # the step waits (up to 20 s) for the running hook's mark: it can only see it if the hook
    # ran while the step was running
    waits = ShellOPTemplate(
        name="waits",
        script=(
            f"for i in $(seq 200); do [ -s {mark} ] && break; sleep 0.1; done; "
            f"cp {mark} {workdir}/seen.txt"
        ),
    )
    step = Step(
        "slow",
        waits,
        running_hook=HookStep(_marker(mark, "running")),
        success_hook=HookStep(_marker(mark, "success")),
    )
    wf = Workflow("runhook")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert (workdir / "seen.txt").read_text().split() == ["running"]
    assert mark.read_text().split() == ["running", "success"]
    names = sorted(s.displayName for s in wf.query_step(type="Pod"))
    assert names == ["slow", "slow.hooks.running", "slow.hooks.success"]


def test_hook_expressions_fire_once_when_true(workdir):
    mark = workdir / "marks.txt"
    add = PythonOPTemplate(Add)
    # an expression replaces the slot's default: this "success" hook fires at Running
    a = Step(
        "a",
        add,
        parameters={"a": 1, "b": 2},
        success_hook=HookStep(
            _marker(mark, "a-running"), expression="steps['a'].status == 'Running'"
        ),
    )
    b = Step(
        "b",
        add,
        parameters={"a": 1, "b": 2},
        success_hook=HookStep(
            _marker(mark, "b-is-3"), expression="steps['b'].outputs.parameters['c'] == '3'"
        ),
        failure_hook=HookStep(
            _marker(mark, "b-is-4"), expression="steps.b.outputs.parameters.c == '4'"
        ),
    )
    c = Step(
        "c",
        add,
        parameters={"a": 1, "b": 1},
        running_hook=HookStep(
            _marker(mark, "never"), expression="steps['nope'].status == 'Running'"
        ),
    )
    wf = Workflow("exprhooks")
    wf.add([a, b, c])
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert sorted(mark.read_text().split()) == ["a-running", "b-is-3"]
    [bad] = wf.query_step(name="c.hooks.running")
    assert bad.phase == "Error"
    assert "cannot evaluate expression" in bad.message and "nope" in bad.message
    [c_node] = wf.query_step(name="c", type="Pod")
    assert c_node.phase == "Succeeded"


def test_dag_default_hook_expression_uses_tasks(workdir):
    mark = workdir / "marks.txt"
    dag = DAG("d")
    t = Task(
        "t",
        PythonOPTemplate(Add),
        parameters={"a": 1, "b": 1},
        running_hook=HookStep(_marker(mark, "t-running")),
        success_hook=HookStep(
            _marker(mark, "t-done"), expression="tasks['t'].outputs.parameters['c'] == '2'"
        ),
    )
    dag.add(t)
    wf = Workflow("daghooks")
    wf.add(Step("inner", dag))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert sorted(mark.read_text().split()) == ["t-done", "t-running"]


def test_failfast_fails_the_fan_out_at_its_first_failure(workdir):
    from dflow.config import config
    from local_engine_ops import Boom

    config["debug_failfast"] = True
    # item 0 fails at once; item 1 would sleep 60 s; the rest wait for a worker
    modes = ["raise"] + ["sleep"] * 9
    step = Step(
        "fan",
        PythonOPTemplate(Boom),
        parameters={"mode": "{{item}}", "counter": ""},
        with_param=modes,
    )
    wf = Workflow("failfast")
    wf.add(step)
    wf.add(Step("after", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}))
    wf.submit()
    assert wf.query_status() == "Failed"
    [group] = wf.query_step(name="fan", type="StepGroup")
    assert group.phase == "Failed" and "boom on purpose" in group.message
    items = wf.query_step(name="fan", type="Pod")
    assert [s.phase for s in items if s.phase == "Succeeded"] == []
    # the OP ran in at most the two workers' items (and one that took a freed worker before
    # the failure was seen); the items queued behind the failure never started
    logs = [Path(s.local_dir, "log.txt") for s in items]
    ran = [p for p in logs if p.exists() and "running mode" in p.read_text()]
    assert 1 <= len(ran) <= 3
    stopped = [s for s in items if s.displayName != "fan(0:raise)"]
    assert len(stopped) == 9
    assert all(s.phase == "Failed" and "debug_failfast" in s.message for s in stopped)
    assert not wf.query_step(name="after")


def test_batch_size_and_interval_throttle_item_starts(workdir):
    import datetime as dt

    from dflow.config import config

    config["debug_batch_size"] = 2
    config["debug_batch_interval"] = 0.4
    step = Step(
        "fan",
        PythonOPTemplate(Add),
        parameters={"a": "{{item}}", "b": 1},
        with_param=list(range(6)),
    )
    wf = Workflow("batched")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    [group] = wf.query_step(name="fan", type="StepGroup")
    assert group.outputs.parameters["c"].value == [1, 2, 3, 4, 5, 6]

    def started(i):
        [s] = [
            s
            for s in wf.query_step(name="fan", type="Pod")
            if s.displayName.startswith(f"fan({i}:")
        ]
        return dt.datetime.fromisoformat(s.startedAt.replace("Z", "+00:00"))

    # batch k starts no earlier than k intervals after the first (a lower bound: sleeps
    # only ever make a start later)
    assert (started(2) - started(0)).total_seconds() >= 0.4 - 0.05
    assert (started(4) - started(0)).total_seconds() >= 0.8 - 0.05
