"""Failures: clear messages naming the step and the cause; retries; continue_on; hooks."""

from __future__ import annotations

import os

import pytest
from dflow import DAG, InputParameter, ShellOPTemplate, Step, Task, Workflow, argo_range
from dflow.python import PythonOPTemplate
from local_engine_ops import Add, Boom


def _boom(name, mode, counter="", **kw):
    return Step(name, PythonOPTemplate(Boom, **kw), parameters={"mode": mode, "counter": counter})


def test_each_failure_names_step_and_cause_and_siblings_finish(workdir):
    wf = Workflow("fails")
    wf.add(
        [
            _boom("dies", "exit"),
            _boom("raises", "raise"),
            _boom("slow", "sleep", timeout=1),
            _boom("badtype", "badtype"),
            _boom("fine", "ok"),
        ]
    )
    wf.submit()
    assert wf.query_status() in ("Failed", "Error")
    msg = {s.displayName: s.message for s in wf.query_step(type="Pod")}
    phase = {s.displayName: s.phase for s in wf.query_step(type="Pod")}
    assert phase["fine"] == "Succeeded"
    assert "worker died (exit code 3) while running step 'dies'" in msg["dies"]
    assert phase["dies"] == "Error"
    assert "step 'raises' failed" in msg["raises"] and "boom on purpose" in msg["raises"]
    assert "step 'slow' timed out after 1 s" in msg["slow"]
    assert "step 'badtype' failed" in msg["badtype"] and "out" in msg["badtype"]
    [raises] = wf.query_step(name="raises")
    step_dir = workdir / wf.id / raises.id
    assert "boom on purpose" in (step_dir / "log.txt").read_text()
    assert (step_dir / "inputs" / "parameters" / "mode").read_text() == "raise"


def test_retries_transient_fatal_and_timeout(workdir):
    c1, c2, c3, c4 = (str(workdir / f"c{i}") for i in range(4))
    wf = Workflow("retries")
    wf.add(
        [
            _boom("flaky", "flaky", c1, retry_on_transient_error=3),
            _boom("fatal", "fatal", c2, retry_on_transient_error=3),
            _boom(
                "slowfirst",
                "slow-then-ok",
                c3,
                retry_on_transient_error=2,
                timeout=1,
                timeout_as_transient_error=True,
            ),
            _boom("slownot", "slow-then-ok", c4, retry_on_transient_error=2, timeout=1),
        ]
    )
    for s in wf.entrypoint.steps[0]:
        s.continue_on_failed = True
    wf.submit()
    res = {s.displayName: s for s in wf.query_step(type="Pod")}
    assert res["flaky"].phase == "Succeeded" and open(c1).read() == "3"
    assert res["flaky"].attempts == 3 and res["flaky"].outputs.parameters["out"].value == 3
    assert res["fatal"].phase == "Failed" and open(c2).read() == "1"
    assert res["slowfirst"].phase == "Succeeded" and open(c3).read() == "2"
    assert res["slownot"].phase == "Failed" and open(c4).read() == "1"
    # opt-in ([engines.local] retry_nodes = true): a retried step is a Retry node whose
    # children are its attempts, as Argo shows it
    from dflow_engine_local.config import LocalEngineConfig
    from dflow_engine_local.engine import LocalEngine

    argo_like = LocalEngine(LocalEngineConfig(retry_nodes=True)).query(wf.id)
    res = {s.displayName: s for s in argo_like.get_step(type=["Pod", "Retry"])}
    assert res["flaky"].type == "Retry" and res["fatal"].type == "Pod"
    attempts = [res[f"flaky({i})"] for i in range(3)]
    assert res["flaky"].children == [a.id for a in attempts]
    assert [a.phase for a in attempts] == ["Failed", "Failed", "Succeeded"]
    assert attempts[0].message == "step 'flaky' failed: TransientError: flaky"
    assert (
        attempts[2].outputs.parameters["out"].value == res["flaky"].outputs.parameters["out"].value
    )
    assert [res[f"slowfirst({i})"].phase for i in range(2)] == ["Failed", "Succeeded"]
    assert "timed out" in res["slowfirst(0)"].message


def test_continue_on_failed_and_success_ratio_in_steps_and_dag(workdir):
    # items 0..3: item 3 raises; ratio 0.7 of 4 -> 3 successes needed
    par = {"mode": "{{=item == 3 ? 'raise' : 'ok'}}", "counter": ""}
    wf = Workflow("ratio")
    wf.add(
        Step(
            "fan",
            PythonOPTemplate(Boom),
            parameters=par,
            with_param=argo_range(4),
            continue_on_success_ratio=0.7,
        )
    )
    wf.add(Step("after", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    dag = DAG("d")
    t1 = Task(
        "fan",
        PythonOPTemplate(Boom),
        parameters=par,
        with_param=argo_range(4),
        continue_on_num_success=4,
    )
    t2 = Task("after", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}, dependencies=[t1])
    t3 = Task(
        "cont",
        PythonOPTemplate(Boom),
        parameters={"mode": "raise", "counter": ""},
        continue_on_failed=True,
    )
    t4 = Task("after3", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}, dependencies=[t3])
    dag.add([t1, t2, t3, t4])
    wf2 = Workflow("ratio-dag", dag=dag)
    wf2.submit()
    assert wf2.query_status() == "Failed"  # 3 of 4 < 4
    assert wf2.query_step(name="after")[0].phase == "Omitted"
    assert wf2.query_step(name="after3")[0].phase == "Succeeded"


def test_parallelism_limits_concurrency(workdir):
    log = workdir / "spans.txt"
    t = ShellOPTemplate(
        name="span",
        script=(f"echo start $(date +%s.%N) >> {log}; sleep 0.3; echo end $(date +%s.%N) >> {log}"),
    )
    t.inputs.parameters = {"i": InputParameter()}
    wf = Workflow("par", parallelism=1)
    wf.add(Step("s", t, parameters={"i": "{{item}}"}, with_param=argo_range(3)))
    wf.submit()
    events = sorted(
        (float(ts), kind) for kind, ts in (ln.split() for ln in log.read_text().splitlines())
    )
    depth = peak = 0
    for _, kind in events:
        depth += 1 if kind == "start" else -1
        peak = max(peak, depth)
    assert peak == 1


def test_hooks_and_on_exit(workdir):
    from dflow import HookStep

    mark = workdir / "marks.txt"

    def marker(text):
        return ShellOPTemplate(name=f"mark-{text}", script=f"echo {text} >> {mark}")

    ok = Step(
        "ok",
        PythonOPTemplate(Add),
        parameters={"a": 1, "b": 2},
        success_hook=HookStep(marker("success")),
    )
    bad = Step(
        "bad",
        PythonOPTemplate(Boom),
        parameters={"mode": "raise", "counter": ""},
        failure_hook=HookStep(marker("failure")),
        continue_on_failed=True,
    )
    exit_t = ShellOPTemplate(name="bye", script=f"echo exit-{{{{workflow.status}}}} >> {mark}")
    wf = Workflow("hooks", on_exit=exit_t)
    wf.add([ok, bad])
    wf.submit()
    lines = sorted(mark.read_text().split())
    assert lines == ["exit-Succeeded", "failure", "success"]


def test_bad_input_rejected_before_anything_runs(workdir):
    from dflow import upload_artifact
    from dflow.validation import ValidationError

    with pytest.raises(KeyError, match="no input parameter 'nope'"):
        Step("x", PythonOPTemplate(Add), parameters={"nope": 1})
    with pytest.raises(FileNotFoundError):
        upload_artifact("missing-file.txt")
    from local_engine_ops import Hello

    hello = Step(
        "hello",
        PythonOPTemplate(Hello),
        parameters={"msg": "m", "num": 1},
        artifacts={"foo": upload_artifact(__file__)},
    )
    wf = Workflow("typed")
    wf.add(hello)
    # a str output into an int input only warns (the text may be JSON); a bad literal is certain
    wf.add(
        Step(
            "x",
            PythonOPTemplate(Add),
            parameters={"a": hello.outputs.parameters["msg"], "b": "one"},
        )
    )
    with (
        pytest.raises(ValidationError, match="input 'b' expects int, got str"),
        pytest.warns(UserWarning, match="output 'msg' \\(str\\)"),
    ):
        wf.submit()
    assert not os.listdir(workdir) or all(not p.startswith("typed") for p in os.listdir(workdir))


def test_template_and_step_parallelism_failfast_continue_on_error(workdir):
    from dflow import Steps

    log = workdir / "spans.txt"
    t = ShellOPTemplate(
        name="span",
        script=(f"echo start $(date +%s.%N) >> {log}; sleep 0.2; echo end $(date +%s.%N) >> {log}"),
    )
    t.inputs.parameters = {"i": InputParameter()}
    inner = Steps("inner", parallelism=1)
    inner.add([Step("a", t, parameters={"i": "a"}), Step("b", t, parameters={"i": "b"})])
    wf = Workflow("tpar")
    wf.add(Step("inner", inner))
    wf.add(Step("loop", t, parameters={"i": "{{item}}"}, with_param=argo_range(3), parallelism=1))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    events = sorted(
        (float(ts), kind) for kind, ts in (ln.split() for ln in log.read_text().splitlines())
    )
    depth = peak = 0
    for _, kind in events:
        depth += 1 if kind == "start" else -1
        peak = max(peak, depth)
    assert peak == 1
    wf2 = Workflow("errs")
    wf2.add(
        Step(
            "dies",
            PythonOPTemplate(Boom),
            parameters={"mode": "exit", "counter": ""},
            continue_on_error=True,
        )
    )
    wf2.add(Step("next", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}))
    wf2.submit()
    assert wf2.query_status() == "Succeeded"
    assert wf2.query_step(name="dies")[0].phase == "Error"
