"""The workflows of the seed's user guide (``seed/dflow-README.md`` §3), one builder each.

Written for this repository from the guide's descriptions (its snippets are fragments):
``tests/test_guide_workflows.py`` validates every one and runs it on the local engine.
Each builder returns ``(workflow, expected phase, check)``; ``check(wf)`` asserts outputs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dflow import (
    DAG,
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
    ShellOPTemplate,
    Step,
    Steps,
    Task,
    Workflow,
    argo_len,
    argo_range,
    argo_sequence,
    if_expression,
    upload_artifact,
)
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate, Slices, TransientError


class SimpleExample(OP):
    """The guide's class OP (§1.2.2): copies ``foo`` to ``bar.txt``, echoes ``msg``."""

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign({"msg": str, "foo": Artifact(Path)})

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign({"msg": str, "bar": Artifact(Path)})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        Path("bar.txt").write_text(Path(op_in["foo"]).read_text())
        return OPIO({"msg": op_in["msg"], "bar": Path("bar.txt")})


@OP.function
def simple_function(msg: str, foo: Artifact(Path)) -> {"msg": str, "bar": Artifact(Path)}:
    Path("bar.txt").write_text(Path(foo).read_text() * 2)
    return {"msg": msg + msg, "bar": Path("bar.txt")}


@OP.function
def add(a: int, b: int) -> {"c": int}:
    return {"c": a + b}


@OP.function
def total(xs: list) -> {"s": int}:
    return {"s": sum(xs)}


@OP.function
def fails_on(i: int, bad: int) -> {"i": int}:
    if i == bad:
        raise TransientError(f"item {i} fails on purpose")
    return {"i": i}


@OP.function
def nap(seconds: float) -> {"slept": float}:
    time.sleep(seconds)
    return {"slept": seconds}


@OP.function
def write_slice(msg: str, data: Artifact(Path)) -> {"log": Artifact(Path)}:
    out = Path(f"log-{msg}.txt")
    out.write_text(f"{msg}:{Path(data).read_text()}")
    return {"log": out}


@OP.function
def count_logs(logs: Artifact(list[Path])) -> {"n": int, "text": str}:
    return {"n": len(logs), "text": ",".join(sorted(Path(p).read_text() for p in logs))}


class Progress(OP):
    """§3.2.3: reports progress while it runs."""

    progress_total = 100

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign({"done": int})

    def execute(self, op_in: OPIO) -> OPIO:
        for i in range(10):
            self.progress_current = 10 * (i + 1)
        return OPIO({"done": self.progress_current})


def _out(wf: Workflow, name: str, param: str) -> Any:
    return wf.query_step(name=name)[0].outputs.parameters[param].value


def _foo() -> Any:
    Path("foo.txt").write_text("Hello")
    return upload_artifact("foo.txt")


def basics() -> tuple:
    """§1.2: a class OP and a function OP, a parameter and an artifact each."""
    wf = Workflow(name="hello-world")
    step0 = Step(
        "step0",
        PythonOPTemplate(SimpleExample, image="python:3.8"),
        parameters={"msg": "HelloWorld!"},
        artifacts={"foo": _foo()},
    )
    step1 = Step(
        "step1",
        PythonOPTemplate(simple_function),
        parameters={"msg": step0.outputs.parameters["msg"]},
        artifacts={"foo": step0.outputs.artifacts["bar"]},
    )
    wf.add(step0)
    wf.add(step1)

    def check(wf: Workflow) -> None:
        assert _out(wf, "step1", "msg") == "HelloWorld!HelloWorld!"

    return wf, "Succeeded", check


def steps_template() -> tuple:
    """§3.1.3: a Steps template with inputs and outputs, used as a step."""
    steps = Steps(
        name="inner",
        inputs=Inputs(parameters={"msg": InputParameter()}, artifacts={"foo": InputArtifact()}),
        outputs=Outputs(parameters={"msg": OutputParameter()}, artifacts={"bar": OutputArtifact()}),
    )
    step = Step(
        "copy",
        PythonOPTemplate(SimpleExample),
        parameters={"msg": steps.inputs.parameters["msg"]},
        artifacts={"foo": steps.inputs.artifacts["foo"]},
    )
    steps.add(step)
    steps.outputs.parameters["msg"].value_from_parameter = step.outputs.parameters["msg"]
    steps.outputs.artifacts["bar"]._from = step.outputs.artifacts["bar"]
    wf = Workflow("steps")
    outer = Step("outer", steps, parameters={"msg": "hi"}, artifacts={"foo": _foo()})
    wf.add(outer)
    wf.add(
        Step(
            "after",
            PythonOPTemplate(simple_function),
            parameters={"msg": outer.outputs.parameters["msg"]},
            artifacts={"foo": outer.outputs.artifacts["bar"]},
        )
    )
    return wf, "Succeeded", lambda wf: _assert_eq(_out(wf, "after", "msg"), "hihi")


def dag() -> tuple:
    """§3.1.4: a DAG with inferred and explicit dependencies."""
    d = DAG("dag")
    t1 = Task("t1", PythonOPTemplate(add), parameters={"a": 1, "b": 2})
    t2 = Task("t2", PythonOPTemplate(add), parameters={"a": 3, "b": 4})
    t3 = Task(
        "t3",
        PythonOPTemplate(add),
        parameters={"a": t1.outputs.parameters["c"], "b": t2.outputs.parameters["c"]},
        dependencies=[t1, t2],
    )
    d.add([t1, t2, t3])
    return Workflow("dag", dag=d), "Succeeded", lambda wf: _assert_eq(_out(wf, "t3", "c"), 10)


def conditional() -> tuple:
    """§3.1.5: ``when`` and conditional outputs (``if_expression``)."""
    steps = Steps("cond", outputs=Outputs(parameters={"c": OutputParameter()}))
    a = Step("a", PythonOPTemplate(add), parameters={"a": 1, "b": 1})
    steps.add(a)
    big = Step(
        "big",
        PythonOPTemplate(add),
        parameters={"a": a.outputs.parameters["c"], "b": 100},
        when=f"{a.outputs.parameters['c']} > 1",
    )
    small = Step(
        "small",
        PythonOPTemplate(add),
        parameters={"a": a.outputs.parameters["c"], "b": 0},
        when=f"{a.outputs.parameters['c']} <= 1",
    )
    steps.add([big, small])
    steps.outputs.parameters["c"].value_from_expression = if_expression(
        _if=a.outputs.parameters["c"] > 1,
        _then=big.outputs.parameters["c"],
        _else=small.outputs.parameters["c"],
    )
    wf = Workflow("conditional")
    wf.add(Step("run", steps))
    return wf, "Succeeded", lambda wf: _assert_eq(int(_out(wf, "run", "c")), 102)


def loops() -> tuple:
    """§3.1.6: ``with_param`` over an input list and ``with_sequence`` over its length."""
    steps = Steps("loops", inputs=Inputs(parameters={"msg_list": InputParameter()}))
    by_param = Step(
        "by-param",
        PythonOPTemplate(add),
        parameters={"a": "{{item}}", "b": 1},
        with_param=steps.inputs.parameters["msg_list"],
    )
    by_seq = Step(
        "by-seq",
        PythonOPTemplate(add),
        parameters={"a": "{{item}}", "b": 10},
        with_sequence=argo_sequence(argo_len(steps.inputs.parameters["msg_list"])),
    )
    steps.add([by_param, by_seq])
    steps.add(
        Step("sum", PythonOPTemplate(total), parameters={"xs": by_param.outputs.parameters["c"]})
    )
    wf = Workflow("loops")
    wf.add(Step("run", steps, parameters={"msg_list": [1, 2, 3]}))
    return wf, "Succeeded", lambda wf: _assert_eq(_out(wf, "sum", "s"), 9)


def timeout_and_continue() -> tuple:
    """§3.1.7-3.1.8: a step timeout; ``continue_on_failed`` lets the workflow go on."""
    wf = Workflow("timeouts")
    wf.add(
        Step(
            "slow",
            PythonOPTemplate(nap),
            parameters={"seconds": 5},
            timeout=1,
            continue_on_failed=True,
        )
    )
    wf.add(Step("next", PythonOPTemplate(add), parameters={"a": 1, "b": 1}))

    def check(wf: Workflow) -> None:
        [slow] = wf.query_step(name="slow", type="Pod")
        assert slow.phase == "Failed" and "timed out" in slow.message
        assert _out(wf, "next", "c") == 2

    return wf, "Succeeded", check


def success_ratio() -> tuple:
    """§3.1.9: continue when enough parallel steps succeed."""
    wf = Workflow("ratio")
    wf.add(
        Step(
            "fan",
            PythonOPTemplate(fails_on),
            parameters={"i": "{{item}}", "bad": 1},
            with_param=argo_range(4),
            continue_on_success_ratio=0.7,
        )
    )
    wf.add(Step("next", PythonOPTemplate(add), parameters={"a": 1, "b": 1}))
    return wf, "Succeeded", lambda wf: _assert_eq(_out(wf, "next", "c"), 2)


def optional_artifact_and_default() -> tuple:
    """§3.1.10-3.1.11: an optional input artifact left out; an output default."""
    t = ShellOPTemplate(name="opt", script="test -e /tmp/in.txt || echo none > /tmp/out.txt")
    t.inputs.artifacts = {"in": InputArtifact(path="/tmp/in.txt", optional=True)}
    t.outputs.parameters = {
        "said": OutputParameter(value_from_path="/tmp/out.txt"),
        "other": OutputParameter(value_from_path="/tmp/never.txt", default="dflt"),
    }
    wf = Workflow("optional")
    wf.add(Step("opt", t))

    def check(wf: Workflow) -> None:
        assert _out(wf, "opt", "said") == "none" and _out(wf, "opt", "other") == "dflt"

    return wf, "Succeeded", check


def keys() -> tuple:
    """§3.1.12: keys, with ``{{item}}``, found by ``query_step(key=...)``."""
    wf = Workflow("keys")
    wf.add(
        Step(
            "fan",
            PythonOPTemplate(add),
            parameters={"a": "{{item}}", "b": 0},
            with_param=argo_range(3),
            key="add-{{item}}",
        )
    )

    def check(wf: Workflow) -> None:
        [two] = wf.query_step(key="add-2")
        assert two.outputs.parameters["c"].value == 2

    return wf, "Succeeded", check


def slices() -> tuple:
    """§3.2.1: Slices over a parameter list and a list artifact, stacking a list output."""
    for i in range(3):
        Path(f"d{i}.txt").write_text(f"data{i}")
    data = upload_artifact([f"d{i}.txt" for i in range(3)])
    wf = Workflow("slices")
    par = Step(
        "parallel-tasks",
        PythonOPTemplate(
            write_slice,
            slices=Slices(
                "{{item}}",
                input_parameter=["msg"],
                input_artifact=["data"],
                output_artifact=["log"],
            ),
        ),
        parameters={"msg": ["a", "b", "c"]},
        artifacts={"data": data},
    )
    wf.add(par)
    wf.add(
        Step(
            "count", PythonOPTemplate(count_logs), artifacts={"logs": par.outputs.artifacts["log"]}
        )
    )

    def check(wf: Workflow) -> None:
        assert _out(wf, "count", "n") == 3
        assert _out(wf, "count", "text") == "a:data0,b:data1,c:data2"

    return wf, "Succeeded", check


def progress() -> tuple:
    """§3.2.3: progress reported by an OP."""
    wf = Workflow("progress")
    wf.add(Step("p", PythonOPTemplate(Progress)))
    return wf, "Succeeded", lambda wf: _assert_eq(_out(wf, "p", "done"), 100)


def _assert_eq(got: Any, want: Any) -> None:
    assert got == want, f"{got!r} != {want!r}"


BUILDERS = (
    basics,
    steps_template,
    dag,
    conditional,
    loops,
    timeout_and_continue,
    success_ratio,
    optional_artifact_and_default,
    keys,
    slices,
    progress,
)
